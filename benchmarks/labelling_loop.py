"""The labelling loop as a person lives it: how good the suggestions are along a session, and
how many boxes the person has to change, with and without the background refits.

    python benchmarks/labelling_loop.py --adapted WORK/adapted/model.safetensors
        # hours on 2 CPU cores: the Kral Sakir train pool, rows imagenet, adapted,
        # adapted+refits, refits at 50, 100, 200, 400 training answers
    python benchmarks/labelling_loop.py --pool-limit 300 --milestones 25,50 --tune-steps 5 \\
        --rows imagenet,imagenet+refits --out /tmp/loop   # a smoke run, minutes

A person is simulated by the true labels of the Kral Sakir train split (the pool; with
`--pool-limit N`, whole shots drawn at random until about N frames). Shots are runs of
consecutive frame ids. First a fixed blind audit sample is set aside: one frame from each of
`--audit-shots` shots drawn at random (`common_validation`), shots no batch ever shows. Then
batches of `--batch` frames are served as the label page serves them: the frames the
`active` policy picks from the live features and head, plus `AUDIT_PER_BATCH` frames drawn
uniformly from the rest of the pool and answered blind (the page's audit rate: 2 blind audit
frames in every 24). After each batch the head is refitted on the training answers (the page
refits it every 5 answers).

Rows: the page's head on frozen features (``imagenet``; ``adapted``: the backbone in
`--adapted`, made by `toontag label adapt` or label_efficiency.py's WORK/adapted), and
``+refits``: the same with the server's background refits (labelling/refits.py): at each
milestone of training answers the top of that backbone is tuned on them (`make_refit`, the
server's settings), finished `--lag` batches later (the person labels on meanwhile), and
adopted when the session's own audit answers score it no worse (`decide`, never the fixed
sample); it goes live with the next batch. A refit that would finish after the last
checkpoint is not made.

Measured at `--checkpoints` answers (every answer counted, the session's audit answers too):
the micro-F1 of the suggestions the page would make next (the live head at its thresholds) on
the fixed sample, scored as the page's audit is (`audit_score`: 95% interval resampling whole
shots), and the boxes the person has to change per frame on the next batch served (suggested
ticks against the truth, over its non-audit frames). Writes `--out`/labelling-loop.json, .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.figures import span
from toontag.benchmark.provenance import load_average
from toontag.benchmark.readme_project import (
    loop_cell,
    loop_lowest,
    loop_rows_at_goal,
    loop_runs,
)
from toontag.benchmark.results import rerender_markdown, write_result
from toontag.benchmark.simulated import common_validation, runs_of_ids
from toontag.data.dataset import load_dataset
from toontag.labelling.features import pool_features
from toontag.labelling.head import audit_score, fit_head
from toontag.labelling.learner import AUDIT_MIN
from toontag.labelling.queue import next_batch
from toontag.labelling.refits import (
    MILESTONES,
    RefitSettings,
    decide,
    make_refit,
    milestone_at,
    refit_features,
    refit_folder,
)
from toontag.training.tune import TuneSettings

AUDIT_PER_BATCH = 2  # blind audit frames in a batch of 25: the page's 2 in every 24
CHECKPOINTS = (25, 50, 100, 200, 400)
TARGET = (0.90, 200)  # issue 25, lever 2: suggestions' audit micro-F1 >= 0.90 from 200 answers


def simulate(pool, base: str, *, refits: RefitSettings | None, args, seed: int) -> dict:
    """One session over `pool` from the features named `base`; with `refits`, refitted."""
    features, live = pool["features"][base], base
    targets, groups, reserved = pool["targets"], pool["groups"], pool["reserved"]
    allowed = np.flatnonzero(~reserved)
    rng = np.random.default_rng([seed, 31])
    train, audits, head = [], [], None
    made, ready, out = set(), [], {"checkpoints": [], "refits": []}
    answers, checkpoints = 0, sorted(args.checkpoints)
    while True:
        taken = np.isin(allowed, train + audits)
        p = None if head is None else head.probabilities(features[allowed])
        t = (0.5,) * targets.shape[1] if head is None else head.thresholds
        picked = allowed[
            next_batch(
                features[allowed],
                p,
                t,
                taken,
                size=args.batch - AUDIT_PER_BATCH,
                policy="active",
                groups=groups[allowed],
                seed=seed + answers,
            )
        ]
        free = np.setdiff1d(allowed[~taken], picked)
        blind = rng.choice(free, min(AUDIT_PER_BATCH, len(free)), replace=False)
        if answers >= checkpoints[0]:  # at it, or just past it after a short batch
            reached = [c for c in checkpoints if c <= answers]
            checkpoints = checkpoints[len(reached) :]
            row = measure(
                pool, features, head, picked, live, answers, len(train), len(audits), seed
            )
            out["checkpoints"].append({"checkpoint": reached[-1], **row})
        if not checkpoints or not len(picked) + len(blind):  # done, or the pool used up
            return out
        train, audits = train + picked.tolist(), audits + blind.tolist()
        answers += len(picked) + len(blind)
        rows = np.array(train)
        head = fit_head(features, rows, targets[rows], groups=groups[rows], seed=seed)
        if refits is None:
            continue
        due = milestone_at(len(train), refits.milestones)
        finished = answers + args.lag * args.batch  # too late for any checkpoint: not made
        if due is not None and due not in made and finished <= max(args.checkpoints):
            made.add(due)
            refit = make_refit(
                paths=pool["paths"],
                out=refit_folder(args.work / f"{base}-seed{seed}", due),
                cache=args.cache,
                rows=rows,
                targets=targets[rows],
                known=np.ones_like(targets[rows], dtype=bool),
                classes=tuple(pool["classes"]),
                milestone=due,
                base=pool["weights"][base],
                settings=refits,
            )
            ready.append((finished, refit))
        done = [refit for at, refit in ready if at <= answers]
        if done and len(audits) >= AUDIT_MIN:  # the latest finished one; older ones superseded
            refit, ready = done[-1], [(at, r) for at, r in ready if at > answers]
            candidate = refit_features(
                refit, pool["paths"], cache=args.cache, root=None, settings=refits
            )
            fitted = {"rows": rows, "targets": targets[rows], "groups": groups[rows], "seed": seed}
            held = np.array(audits)
            audit = {"rows": held, "targets": targets[held], "groups": groups[held], "seed": seed}
            decision = decide(candidate, features, fitted, audit)
            out["refits"].append(
                {
                    "milestone": refit.answers,
                    "trained_on": refit.info["trained_on"],
                    "decided_at": answers,
                    "audit_answers": len(audits),
                    "adopted": decision.adopted,
                    "f1": round(decision.refit.f1_micro, 4),
                    "live_f1": round(decision.live.f1_micro, 4),
                    "live": live,
                    "seconds": refit.info["seconds"],
                    "tune_seconds": refit.info["tune"]["seconds"],
                    "tune_steps": refit.info["tune"]["steps"],
                    "features_seconds": refit.info["features_seconds"],
                }
            )
            print(out["refits"][-1], flush=True)
            if decision.adopted:  # live from the next batch on
                features, head, live = np.asarray(candidate), decision.head, refit.name
    return out


def measure(pool, features, head, batch, live: str, answers, trained, audited, seed) -> dict:
    """The suggestions' audit micro-F1 on the fixed sample and the boxes to change per frame
    on `batch`, the next one served, from the live `features` and `head`."""
    targets, sample = pool["targets"], pool["sample"]
    truth = targets[batch] > 0.5
    if head is None:  # no suggestion yet: every true box is ticked by hand
        changed = truth.sum(axis=1)
        f1 = ci = None
    else:
        ticked = head.probabilities(features[batch]) >= np.asarray(head.thresholds)
        changed = (ticked != truth).sum(axis=1)
        score = audit_score(
            head, features, sample, targets[sample], groups=pool["groups"][sample], seed=seed
        )
        f1, ci = round(score.f1_micro, 4), [round(v, 4) for v in score.ci95]
    row = {
        "answers": answers,
        "training_answers": trained,
        "audit_answers": audited,
        "features": live,
        "f1": f1,
        "ci95_by_sequence": ci,
        "boxes_per_frame": round(float(changed.mean()), 3),
        "next_batch_frames": len(batch),
    }
    print(row, flush=True)
    return row


def load_pool(args) -> dict:
    """The pool's frames, labels, shots, the fixed audit sample and each row's features."""
    train = load_dataset(args.data).subset("train")
    order = np.arange(len(train.samples))
    shots = runs_of_ids(np.array([s.frame_id for s in train.samples]))
    if args.pool_limit:  # whole shots drawn at random until there are that many frames
        drawn = np.random.default_rng(0).permutation(np.unique(shots))
        sizes = np.bincount(shots)[drawn]
        kept = drawn[: int(np.searchsorted(np.cumsum(sizes), args.pool_limit)) + 1]
        order = np.flatnonzero(np.isin(shots, kept))
    samples = [train.samples[i] for i in order]
    groups = runs_of_ids(np.array([s.frame_id for s in samples]))
    audit = common_validation(groups, largest_budget=5 * args.audit_shots, seed=0)
    paths = [s.path for s in samples]
    weights = {"imagenet": None, "adapted": args.adapted}
    bases = {row.split("+")[0] for row in args.rows}
    return {
        "paths": paths,
        "classes": train.classes,
        "targets": np.asarray(train.targets)[order],
        "groups": groups,
        "sample": audit.frames,
        "reserved": audit.reserved,
        "weights": weights,
        "features": {
            b: np.asarray(pool_features(paths, args.cache, weights=weights[b]).features)
            for b in bases
        },
    }


def render(payload: dict) -> str:
    rows = payload["rows"]
    checkpoints = payload["settings"]["checkpoints"]
    head = "| row | " + " | ".join(f"{c} answers" for c in checkpoints) + " |"
    lines = [
        "# The labelling loop: suggestions along a session",
        "",
        f"Pool: {payload['pool']['frames']} frames ({payload['pool']['shots']} shots); fixed "
        f"blind audit sample: {payload['pool']['audit_frames']} frames, one from each of as "
        "many shots no batch shows. Each cell: the suggestions' audit micro-F1 [95% interval, "
        "whole shots resampled] / boxes changed per frame on the next batch.",
        "",
        head,
        "|" + "---|" * (len(checkpoints) + 1),
    ]
    runs = loop_runs(payload)
    if any(len(each) > 1 for each in runs.values()):  # the mean over seeds first
        for name, each in runs.items():
            shown = []
            for c in checkpoints:
                cell = loop_cell(each, c)
                shown.append(
                    "-"
                    if cell is None
                    else f"{np.mean(cell[0]):.3f} ({span(cell[0], 3)}) / {cell[1]:.2f}"
                )
            lines.append(f"| {name} (mean of {len(each)} seeds) | " + " | ".join(shown) + " |")
    for row in rows:
        cells = {c["checkpoint"]: c for c in row["checkpoints"]}
        shown = []
        for c in checkpoints:
            cell = cells.get(c)
            if cell is None or cell["f1"] is None:
                shown.append("-" if cell is None else f"- / {cell['boxes_per_frame']:.2f}")
                continue
            low, high = cell["ci95_by_sequence"]
            shown.append(
                f"{cell['f1']:.3f} [{low:.3f}, {high:.3f}] / {cell['boxes_per_frame']:.2f}"
            )
        lines.append(f"| {row['row']} (seed {row['seed']}) | " + " | ".join(shown) + " |")
    refits = [(row, r) for row in rows for r in row["refits"]]
    if refits:
        lines += [
            "",
            "Refits, decided on the session's own audit answers (never the fixed sample):",
            "",
            "| row | milestone | trained on | decided at | audit answers | refit F1 | live F1 "
            "| adopted | tune s | features s | total s |",
            "|" + "---|" * 11,
        ]
    for row, r in refits:
        lines.append(
            f"| {row['row']} (seed {row['seed']}) | {r['milestone']} | {r['trained_on']} | "
            f"{r['decided_at']} | "
            f"{r['audit_answers']} | {r['f1']:.3f} | {r['live_f1']:.3f} | "
            f"{'yes' if r['adopted'] else 'no'} | {r['tune_seconds']} | "
            f"{r['features_seconds']} | {r['seconds']} |"
        )
    goal, start = TARGET
    lines += ["", f"Target: micro-F1 >= {goal} from {start} answers on, in every seed's run."]
    met = loop_rows_at_goal(payload, goal, start)

    def lowest(run: dict) -> str:
        low = loop_lowest(run, start)
        return f"seed {run['seed']} " + ("not reached" if low is None else f"{low:.4f}")

    for name, each in runs.items():
        verdict = "met" if name in met else "not met"
        lines.append(f"- {name}: {verdict} (lowest: {', '.join(map(lowest, each))})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/toontag/labelling")
    parser.add_argument("--work", type=Path, default=Path("work/labelling-loop"))
    parser.add_argument("--adapted", type=Path, help="a show-adapted backbone file")
    parser.add_argument("--rows", default="imagenet,adapted,adapted+refits")
    parser.add_argument("--pool-limit", type=int, help="about N pool frames: whole shots")
    parser.add_argument("--milestones", default=",".join(map(str, MILESTONES)))
    parser.add_argument("--checkpoints", default=",".join(map(str, CHECKPOINTS)))
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--lag", type=int, default=1, help="batches a refit takes to finish")
    parser.add_argument("--audit-shots", type=int, default=300)
    parser.add_argument("--tune-steps", type=int, help="at most this many tuning steps a refit")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument(
        "--render-from",
        type=Path,
        metavar="JSON",
        help="only write --out's Markdown anew from a finished run's JSON (kept as it is)",
    )
    args = parser.parse_args()
    if args.render_from is not None:
        computed = json.loads(args.render_from.read_text())
        rerender_markdown(args.out / "labelling-loop", computed, render(computed))
        return
    args.rows = args.rows.split(",")
    args.checkpoints = tuple(int(c) for c in args.checkpoints.split(","))
    if any(row.startswith("adapted") for row in args.rows) and args.adapted is None:
        parser.error("the adapted rows need --adapted PATH (a backbone file)")
    started, load_before = time.perf_counter(), load_average()
    pool = load_pool(args)
    refits = RefitSettings(
        milestones=tuple(int(m) for m in args.milestones.split(",")),
        tune=TuneSettings(max_steps=args.tune_steps),
    )
    rows = []
    for seed in range(args.seeds):
        for row in args.rows:
            base, refitted = row.split("+")[0], row.endswith("+refits")
            run = simulate(pool, base, refits=refits if refitted else None, args=args, seed=seed)
            rows.append({"row": row, "seed": seed, **run})
    payload = {
        "pool": {
            "frames": len(pool["paths"]),
            "shots": int(len(np.unique(pool["groups"]))),
            "audit_frames": int(len(pool["sample"])),
        },
        "settings": {
            "batch": args.batch,
            "audit_per_batch": AUDIT_PER_BATCH,
            "audit_min": AUDIT_MIN,
            "lag_batches": args.lag,
            "checkpoints": list(args.checkpoints),
            "milestones": list(refits.milestones),
            "tune": refits.tune.as_dict(),
            "adapted": None if args.adapted is None else str(args.adapted),
            "policy": "active",
        },
        "rows": rows,
    }
    out = args.out / "labelling-loop"
    write_result(
        out,
        payload,
        render(payload),
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
    )
    print(f"wrote {out}.json and .md")


if __name__ == "__main__":
    main()
