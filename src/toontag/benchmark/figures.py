"""Figures as text, shared by the result pages and README: a figure with its 95% interval (by
sequence where the result file has one, else by frame, and labelled so), a comparison with a
reference that claims no more than the interval allows, and who computed it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from toontag.benchmark.provenance import load_note

AT_HALF = "at_0.5"  # evaluate's metrics at the paper's 0.5 threshold (AT_PAPER_THRESHOLD there)


def read_result(results: Path, name: str) -> dict:
    """The result file `results`/`name`.json."""
    return json.loads((Path(results) / f"{name}.json").read_text())


def paper_rule(test: dict) -> dict:
    """The test metrics at the paper's 0.5 threshold (the run's own when it kept 0.5)."""
    return test.get(AT_HALF, test)


@dataclass(frozen=True)
class Interval:
    """A 95% bootstrap interval and what it resampled: single frames, or whole sequences (the
    `unit`, `count` of them), which keep the correlated frames of one sequence together."""

    low: float
    high: float
    unit: str = "frame"
    count: int | None = None

    @property
    def by_sequence(self) -> bool:
        return self.unit != "frame"

    def __str__(self) -> str:
        resampled = f"by {self.unit}" + (f" ({self.count:,} {self.unit}s)" if self.count else "")
        return f"[{self.low:.4f}, {self.high:.4f}] {resampled}"


def interval(
    entry: dict,
    metric: str = "f1_micro",
    *,
    frames: str = "ci95",
    sequences: str = "ci95_by_sequence",
) -> Interval:
    """`entry`'s interval for `metric`: the one by sequence (key `sequences`) where the file
    has it, else the one by frame (key `frames`). Either is a pair or a dict of pairs by
    metric; the unit and the number of sequences sit inside a dict, or beside a pair."""
    grouped = entry.get(sequences)
    if grouped is None:
        found = entry[frames]
        return Interval(*(found[metric] if isinstance(found, dict) else found))
    about = grouped if isinstance(grouped, dict) else entry
    low, high = grouped[metric] if isinstance(grouped, dict) else grouped
    unit = str(about.get("unit", "sequence")).removesuffix("s")
    return Interval(low, high, unit, about.get("sequences", about.get("groups")))


def versus(ci: Interval, reference: float, name: str) -> str:
    """How a figure with interval `ci` stands against `reference` (`name`'s figure), claiming
    no more than the interval allows: a win only when an interval by sequence lies wholly
    beyond the reference, since frames of one sequence are not independent and an interval by
    frame is too narrow."""
    ref = f"{name}, {reference:.4f}"
    if ci.high < reference:
        return f"falls short of {ref}: the 95% interval {ci} lies below it"
    if ci.low <= reference:
        return f"matches {ref}: the 95% interval {ci} includes it"
    if ci.by_sequence:
        return f"beats {ref}: the 95% interval {ci} lies above it"
    return (
        f"is not shown to beat {ref}: its interval {ci} excludes it, but frames of one "
        "sequence are not independent and no interval by sequence was computed"
    )


def span(values, digits: int = 2) -> str:
    """The range of `values`, 'low-high' (one figure when they agree at `digits`)."""
    low, high = (f"{v:.{digits}f}" for v in (min(values), max(values)))
    return low if low == high else f"{low}-{high}"


def device(result: dict) -> str:
    """The machine that computed a result file: its GPU, else its CPU cores."""
    m = result.get("machine", {})
    return m.get("gpu") or f"{m.get('cpu_cores', '?')} CPU cores"


def source(result: dict) -> str:
    """Who computed a result file's figures: its command, commit and device, with a warning
    where the machine was busy; a re-rendered file points to the runs it names instead."""
    commit = result.get("git_commit", "unknown")
    commit = commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")
    command = f"`{result.get('command', 'not recorded')}`"
    if result.get("rendered_only"):
        return f"figures of the runs the file names, re-rendered by {command} at commit {commit}"
    machine = result.get("machine", {})
    note = result.get("load_note") or load_note(
        result.get("load_average_before"),
        result.get("load_average_after"),
        machine.get("cpu_cores"),
    )
    busy = f" ({note[0].lower()}{note[1:]})" if note else ""
    return f"{command}, commit {commit}, {device(result)}{busy}"


def recipe_table(result: dict, later: dict[str, float]) -> list[str]:
    """The CPU recipe's rows (results/cpu-recipe.json): validation figures, cost, and a test
    figure for the kept row only; `later` holds the test figures of rows evaluated after the
    choice for another purpose (not used for it)."""
    kept = result.get("kept", {})
    lines = [
        "| row | changes | val micro-F1 | epochs | minutes | img/s | test micro-F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"].values():
        if kept.get("row") == r["row"]:
            test = f"**{kept['test_f1_micro']:.4f}** {interval(kept)}"
        elif r["row"] in later:
            test = f"{later[r['row']]:.4f} (evaluated after the choice; not used for it)"
        else:
            test = "not tested (not kept)"
        lines.append(
            f"| {r['row']} | {r['changes']} | {r['val_f1_micro']:.4f} | {r['epochs']} | "
            f"{r['minutes']} | {r['train_images_per_s']} | {test} |"
        )
    return lines
