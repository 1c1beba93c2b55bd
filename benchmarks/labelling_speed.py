"""Speed of the labelling loop (refit, next batch) and the labels each queue policy needs.

    python benchmarks/labelling_speed.py

Speed: on the Kral Sakir train pool (13,381 frames; Lite0 features computed once into --cache)
and on a synthetic 100,000-frame pool (random float16 features of the same width, memory-mapped
from disk), with 100/400/1,000 labelled frames: seconds per refit (`fit_head` with its
out-of-fold fits, then the probabilities of the whole pool: the suggestions) and per
`next_batch` of each policy; the median of --repeats. Goals: each <= 2 s on 13k, <= 5 s on 100k.

Policies: the labelling loop simulated on the train pool with its true labels, batches of 20
from a coverage batch to --budget labels, for each policy and --seeds seeds; the head is scored
on the test split (never labelled) after each batch. Groups are runs of consecutive frame ids
(about a shot). Writes results/labelling-speed.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.provenance import load_average
from toontag.benchmark.results import write_result
from toontag.benchmark.simulated import label_in_batches, runs_of_ids
from toontag.data.dataset import load_dataset
from toontag.labelling.features import pool_features
from toontag.labelling.head import audit_score, fit_head
from toontag.labelling.queue import POLICIES, next_batch

LABELS = (100, 400, 1000)  # labelled frames the speed is measured at
GOALS = {"kral_sakir_train": 2.0, "synthetic_100k": 5.0}  # seconds, refit and next batch each
BATCH = 20  # frames per batch, as the labelling page asks for them
SHOWN = (40, 100, 200, 300, 400, 600)  # labels at which the policy table shows test F1
RARE, RARE_KEEP = "canan", 0.08  # a character made rare: 8% of its frames kept (32% -> 3.6%)


def median_seconds(fn, repeats: int):
    """The median wall time of `repeats` calls, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def synthetic_pool(folder: Path, rows: int, dim: int, classes: int, seed: int = 0):
    """Random non-negative float16 features on disk (like pooled ReLU6 features) and targets
    from a random linear rule, so that the fits have something to find."""
    rng = np.random.default_rng(seed)
    path = folder / "synthetic.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(rows, dim))
    rule = rng.normal(size=(dim, classes))
    targets = np.empty((rows, classes), np.float32)
    for start in range(0, rows, 10_000):
        chunk = np.abs(rng.normal(size=(min(10_000, rows - start), dim))).astype(np.float16)
        out[start : start + len(chunk)] = chunk
        z = (chunk.astype(np.float32) - 0.8) @ rule
        targets[start : start + len(chunk)] = z > np.median(z, axis=0)
    out.flush()
    del out
    return np.load(path, mmap_mode="r"), targets


def speed(name: str, features, targets, groups, repeats: int) -> list[dict]:
    rows_out = []
    rng = np.random.default_rng(0)
    for count in LABELS:
        load = load_average()[0]  # other work on this machine skews the figures
        rows = np.sort(rng.choice(len(features), count, replace=False))
        fit_s, head = median_seconds(
            lambda rows=rows: fit_head(features, rows, targets[rows], groups=groups[rows]), repeats
        )
        score_s, p = median_seconds(lambda head=head: head.probabilities(features), repeats)
        row = {
            "pool": name,
            "frames": len(features),
            "labels": count,
            "load_average": load,
            "fit_s": round(fit_s, 3),
            "score_s": round(score_s, 3),
            "refit_s": round(fit_s + score_s, 3),
        }
        for policy in POLICIES:
            seconds, batch = median_seconds(
                lambda policy=policy, head=head, p=p, rows=rows: next_batch(
                    features, p, head.thresholds, rows, size=BATCH, policy=policy, groups=groups
                ),
                repeats,
            )
            assert len(batch) == BATCH
            row[f"next_{policy}_s"] = round(seconds, 3)
        worst = max(row["refit_s"], *(row[f"next_{p}_s"] for p in POLICIES))
        row["goal_s"], row["met"] = GOALS[name], worst <= GOALS[name]
        rows_out.append(row)
        print(row)
    return rows_out


def simulate(policy: str, pool, test, *, budget: int, seed: int, rare: int | None) -> dict:
    """Label `budget` frames BATCH at a time as `policy` picks them; after each batch, micro-F1
    on the test split (and, with `rare`, that class's F1 and the positives labelled so far)."""
    features, targets, groups = pool
    curve = []
    for labelled, head in label_in_batches(
        features, targets, groups, policy=policy, budget=budget, batch=BATCH, seed=seed
    ):  # active from the first fit on
        audit = audit_score(head, test[0], np.arange(len(test[0])), test[1])
        step = {
            "labels": len(labelled),
            "test_f1": round(audit.f1_micro, 4),
            "estimate_f1": head.estimate and round(head.estimate.f1_micro, 4),
        }
        if rare is not None:
            only = np.zeros(test[1].shape, bool)  # that class known, the others masked out
            only[:, rare] = True
            rare_f1 = audit_score(head, test[0], np.arange(len(test[0])), test[1], known=only)
            step["rare_f1"] = round(rare_f1.f1_micro, 4)
            step["rare_found"] = int(targets[labelled, rare].sum())
        curve.append(step)
    return {"policy": policy, "seed": seed, "curve": curve}


def rare_pool(pool, rare: int, keep: float, seed: int = 0):
    """The pool with only a fraction `keep` of the frames showing class `rare`."""
    features, targets, groups = pool
    draw = np.random.default_rng(seed).uniform(size=len(targets))
    rows = np.flatnonzero((targets[:, rare] < 0.5) | (draw < keep))
    return np.asarray(features[rows]), targets[rows], groups[rows]


def mean_curve(runs: list[dict], policy: str, key: str, shown) -> dict:
    """The mean over seeds of `key` at each of `shown` label counts."""
    curves = [r["curve"] for r in runs if r["policy"] == policy]
    return {
        n: round(
            float(np.mean([next(c[key] for c in curve if c["labels"] == n) for curve in curves])), 4
        )
        for n in shown
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/toontag/labelling")
    parser.add_argument("--synthetic-rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=600, help="labels per policy run")
    parser.add_argument("--rare-budget", type=int, default=400, help="the same, rare class")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_dataset(args.data)
    train, test = data.subset("train"), data.subset("test")
    feature_s = {}
    for split, part in (("train", train), ("test", test)):
        start = time.perf_counter()
        found = pool_features([s.path for s in part.samples], args.cache)
        feature_s[split] = {
            "frames": len(part),
            "computed": found.computed,
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(split, feature_s[split])
        if split == "train":
            pool = (found.features, train.targets)
        else:
            held_out = (found.features, test.targets)
    groups = runs_of_ids(np.array([s.frame_id for s in train.samples]))

    rows = speed("kral_sakir_train", *pool, groups, args.repeats)
    with tempfile.TemporaryDirectory(prefix="toontag-labelling-") as folder:
        features, targets = synthetic_pool(
            Path(folder), args.synthetic_rows, pool[0].shape[1], pool[1].shape[1]
        )
        synthetic_groups = np.arange(len(features)) // 8  # shots of 8 frames
        rows += speed("synthetic_100k", features, targets, synthetic_groups, args.repeats)
        del features

    scenarios = {"all": (*pool, groups)}
    canan = train.classes.index(RARE)
    scenarios["rare"] = rare_pool(scenarios["all"], canan, RARE_KEEP)
    runs = {name: [] for name in scenarios}
    for name, scenario in scenarios.items():
        budget = args.budget if name == "all" else args.rare_budget
        for seed in range(args.seeds):
            for policy in ("random", "coverage", "active"):
                start = time.perf_counter()
                run = simulate(
                    policy,
                    scenario,
                    held_out,
                    budget=budget,
                    seed=seed,
                    rare=canan if name == "rare" else None,
                )
                run["seconds"] = round(time.perf_counter() - start, 1)
                runs[name].append(run)
                print(name, policy, seed, run["curve"][-1], run["seconds"])
    policies = ("random", "coverage", "active")
    shown = {
        "all": [n for n in SHOWN if n <= args.budget],
        "rare": [n for n in SHOWN if n <= args.rare_budget and n >= 100],
    }
    summary = {}
    for name in scenarios:
        keys = [k for k in ("test_f1", "rare_f1", "rare_found") if k in runs[name][0]["curve"][0]]
        summary[name] = {
            policy: {key: mean_curve(runs[name], policy, key, shown[name]) for key in keys}
            for policy in policies
        }
    rare_share = float(scenarios["rare"][1][:, canan].mean())
    lines = [
        "# Labelling loop: speed and queue policies",
        "",
        f"Pools: the Kral Sakir train split ({len(train):,} frames) and a synthetic pool of "
        f"{args.synthetic_rows:,} frames, float16 {pool[0].shape[1]}-d EfficientNet-Lite0 "
        "features (112x192) memory-mapped from disk. Refit = `fit_head` (4 classes, 4 "
        "out-of-fold fits, thresholds) + probabilities of the whole pool; next batch = "
        f"`next_batch(size={BATCH})`. Median of {args.repeats}; load average = the 1-minute "
        "load of this shared machine before each row.",
        "",
        "| pool | labels | load | fit (s) | score pool (s) | **refit (s)** | next: active (s) | "
        "coverage (s) | random (s) | goal (s) | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['pool']} ({r['frames']:,}) | {r['labels']} | {r['load_average']:.1f} | "
            f"{r['fit_s']} | {r['score_s']} | **{r['refit_s']}** | {r['next_active_s']} | "
            f"{r['next_coverage_s']} | {r['next_random_s']} | {r['goal_s']} | "
            f"{'yes' if r['met'] else '**no**'} |"
            for r in rows
        ),
        "",
        "Features: "
        + "; ".join(
            f"{split} {f['frames']:,} frames, {f['computed']:,} computed in this run "
            f"({f['seconds']} s)"
            for split, f in feature_s.items()
        )
        + ".",
        "",
        "## Queue policies",
        "",
        f"The loop simulated on the train pool with its true labels: batches of {BATCH}, a "
        "refit after each, `active` on the head's probabilities from the first fit on (coverage "
        "before it); the head scored on the whole test split "
        f"({len(test):,} frames, never labelled); mean over {args.seeds} seeds. Groups are "
        "runs of consecutive frame ids.",
        "",
        "Test micro-F1, the whole pool:",
        "",
        "| policy | " + " | ".join(f"{n} labels" for n in shown["all"]) + " |",
        "|---|" + "---|" * len(shown["all"]),
        *(
            f"| {policy} | " + " | ".join(f"{v:.3f}" for v in by["test_f1"].values()) + " |"
            for policy, by in summary["all"].items()
        ),
        "",
        f"A rare character: the pool with {RARE_KEEP:.0%} of the frames showing {RARE} "
        f"({len(scenarios['rare'][1]):,} frames, {RARE} in {rare_share:.1%}). Test micro-F1 / "
        f"{RARE}'s test F1 / {RARE} frames among the labelled:",
        "",
        "| policy | " + " | ".join(f"{n} labels" for n in shown["rare"]) + " |",
        "|---|" + "---|" * len(shown["rare"]),
        *(
            f"| {policy} | "
            + " | ".join(
                f"{by['test_f1'][n]:.3f} / {by['rare_f1'][n]:.3f} / {by['rare_found'][n]:.1f}"
                for n in shown["rare"]
            )
            + " |"
            for policy, by in summary["rare"].items()
        ),
    ]
    payload = {
        "batch": BATCH,
        "goals_s": GOALS,
        "features": feature_s,
        "speed": rows,
        "policies": {"rare_class": RARE, "rare_keep": RARE_KEEP, "mean": summary, "runs": runs},
    }
    write_result(
        args.out / "labelling-speed",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
