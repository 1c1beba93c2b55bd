"""Label efficiency's table (benchmarks/label_efficiency.py): its runs summarised per cell (a
variant and policy at a budget, on one device at one commit), and the choice at each budget,
made on the common validation sample only (`simulated.common_validation`)."""

from __future__ import annotations

import numpy as np

from toontag.benchmark.tables import cells

COMMON = "common"  # a record's `validation`: the common sample, the only one chosen on


def record_key(variant: str, policy: str, budget: int, seed: int) -> str:
    """A run's key in the records. Runs validated on their own frames (before the common
    sample) had keys without the suffix: they are never taken for one of these."""
    return f"{variant}/{policy}/{budget}/{seed}/{COMMON}-validation"


def mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


def summarise(records) -> list[dict]:
    """One row per cell, by budget: mean test micro-F1 over its seeds (min-max), the 95% CI
    of seed 0 (by frame, and by whole sequence where the run resampled those), and the mean
    validation micro-F1 on the common sample (`val_f1`), or for runs validated on their own
    frames that figure as `own_val_f1`, never chosen on."""
    summary = []
    grouped = cells(records, lambda r: (r["budget"], r["variant"], r["policy"]))
    for (budget, variant, policy, device, commit), runs in sorted(grouped.items()):
        common = [r for r in runs if r.get("validation") == COMMON]
        summary.append(
            {
                "variant": variant,
                "policy": policy,
                "budget": budget,
                "seeds": len(runs),
                "val_f1": mean(r.get("val_f1") for r in common),
                "own_val_f1": mean(r.get("val_f1") for r in runs if r.get("validation") != COMMON),
                "test_f1": mean(r["test_f1"] for r in runs),
                "test_f1_min": min(r["test_f1"] for r in runs),
                "test_f1_max": max(r["test_f1"] for r in runs),
                "ci95_seed0": next((r["test_ci95"] for r in runs if r["seed"] == 0), None),
                **next(
                    (
                        {"test_ci95_by_sequence": r["test_ci95_by_sequence"]}
                        | {"sequences": r["test_sequences"]}
                        for r in runs
                        if r["seed"] == 0 and "test_ci95_by_sequence" in r
                    ),
                    {},
                ),
                "ran_on": device,
                "commit": commit,
                **timing(runs),
            }
        )
    return summary


def trained_at(summary: list[dict], budget: int, *, seeds: int) -> bool:
    """Whether a trained variant (not the label server's head) has a cell at `budget` with
    every seed, validated on the common sample: else a choice there is among head rows only."""
    return any(
        c["budget"] == budget
        and c["variant"] != "head"
        and c["seeds"] >= seeds
        and c["own_val_f1"] is None
        for c in summary
    )


def timing(runs) -> dict:
    """A cell's seconds a run (min and max, everything from picking to the test figures) and
    the highest 1-minute load beside them: its times are its own only where that is low."""
    seconds = [r["seconds"] for r in runs if r.get("seconds") is not None]
    loads = [r["load"] for r in runs if r.get("load") is not None]
    if not seconds:
        return {}
    return {"seconds": [min(seconds), max(seconds)], "load_max": max(loads) if loads else None}


def choose(summary: list[dict], *, seeds: int) -> dict[int, dict]:
    """The chosen cell at each budget: the highest mean validation micro-F1 on the common
    sample among cells that have every seed and no run validated elsewhere. Marks each row's
    `chosen`; returns budget -> the chosen row."""
    chosen: dict[int, dict] = {}
    for s in summary:
        eligible = s["val_f1"] is not None and s["own_val_f1"] is None and s["seeds"] >= seeds
        best = chosen.get(s["budget"])
        if eligible and (best is None or s["val_f1"] > best["val_f1"]):
            chosen[s["budget"]] = s
    for s in summary:
        s["chosen"] = chosen.get(s["budget"]) is s
    return chosen


def unchosen(cell: dict, seeds: int) -> str:
    """Why a row is not the choice at its budget."""
    if cell["own_val_f1"] is not None:
        return "validated on its own frames, not used for choice"
    if cell["val_f1"] is None:
        return "no validation (a reference)"
    if cell["seeds"] < seeds:
        return f"incomplete ({cell['seeds']} of {seeds} seeds), not used for choice"
    return "lower on validation"
