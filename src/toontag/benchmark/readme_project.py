"""README's figures about a labelling project beyond label efficiency: the walkthrough, the
labelling loop, adapting the features and enrolling a new character. Each renderer reads
result files from `results` and returns the passage README holds (readme.py places it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.benchmark.figures import read_result, span
from toontag.benchmark.readme_labelling import chosen, train_time
from toontag.config import preset


def new_character(results: Path) -> str:
    r = read_result(results, "new-character")
    goals = r["goals"]
    k, asked = goals["k"], goals["confirmations"]
    rows = [(t["character"], t[str(k)]) for t in r["table"]]
    each = ", ".join(f"{name} {at['confirmed']:.3f}" for name, at in rows)
    return (
        f"from {k} examples plus {asked} answered frames the new character's F1 is "
        f"{span([at['confirmed'] for _, at in rows])} ({each}; from the {k} examples alone "
        f"{span([at['alone'] for _, at in rows])}), where calling every frame positive scores "
        f"{span([t['always_yes_f1'] for t in r['table']])}; the goal is {goals['new_f1']:.2f}"
    )


def new_character_examples(results: Path) -> str:
    """How the most examples the benchmark gave compare with the goal's, both with the answers."""
    r = read_result(results, "new-character")
    k = r["goals"]["k"]
    most = max(int(key) for key in r["table"][0] if key.isdigit())
    below = sum(t[str(most)]["confirmed"] < t[str(k)]["confirmed"] for t in r["table"])
    return (
        f"with {r['goals']['confirmations']} answers, {most} examples score below {k} for "
        f"{below} of the {len(r['table'])} characters"
    )


def new_character_old(results: Path) -> str:
    changed = sum(
        t["old_change"]["decisions_changed"] for t in read_result(results, "new-character")["table"]
    )
    return (
        "the decisions did not change on any test frame"
        if changed == 0
        else f"the decisions changed on {changed} test frames"
    )


def kept_old(runs) -> int:
    """How many fine-tuned enrolments kept the old characters within 0.005: the lower bound of
    the change's interval by sequence, after the answers."""
    return sum(run["confirmed"]["old"]["ci95_by_sequence"][0] >= -0.005 for run in runs)


def loop_runs(r: dict) -> dict[str, list[dict]]:
    """The labelling loop's runs by row (one run per seed), in the file's order."""
    runs: dict[str, list[dict]] = {}
    for row in r["rows"]:
        runs.setdefault(row["row"], []).append(row)
    return runs


def loop_cell(runs: list[dict], checkpoint: int) -> tuple[list[float], float] | None:
    """A row's runs at one checkpoint: each seed's suggestions' F1 and the mean boxes changed
    per frame (None: a seed lacks the checkpoint or its score)."""
    cells = [c for run in runs for c in run["checkpoints"] if c["checkpoint"] == checkpoint]
    f1s = [c["f1"] for c in cells if c["f1"] is not None]
    if not runs or len(f1s) < len(runs):
        return None
    return f1s, float(np.mean([c["boxes_per_frame"] for c in cells]))


def loop_lowest(run: dict, start: int) -> float | None:
    """One run's lowest suggestions' F1 at a checkpoint from `start` answers on (None: none
    reached or scored)."""
    later = [c["f1"] for c in run["checkpoints"] if c["checkpoint"] >= start]
    return min(later) if later and None not in later else None


def loop_rows_at_goal(r: dict, goal: float = 0.90, start: int = 200) -> list[str]:
    """The labelling loop's rows whose suggestions score `goal` at every checkpoint from
    `start` answers on, in every seed's run."""
    return [
        name
        for name, runs in loop_runs(r).items()
        if all((low := loop_lowest(run, start)) is not None and low >= goal for run in runs)
    ]


def enrol_choice(results: Path) -> str:
    """Each enrolment candidate's validation F1 after the answers, over the characters, and
    the one chosen."""
    r = read_result(results, "enrol-choice")
    by = {}
    for row in r["rows"]:
        by.setdefault(row["candidate"], []).append(row["val_f1_answered"])
    shown = "; ".join(f"{name} {span(f1s)}" for name, f1s in by.items())
    return (
        f"from {r['k']} examples and {r['confirmations']} answers, validation F1 over the "
        f"characters: {shown}; chosen: {r['chosen']} (the mean over the "
        f"{r.get('seeds_compared', r['seeds'])} seed(s) every candidate ran)"
    )


def new_character_finetune(results: Path) -> str:
    """The fine-tune enrolment's first seed per character, beside the read-out's table."""
    r = read_result(results, "new-character")
    tuned = r.get("finetune") or {}
    if not tuned:
        return "not measured on the benchmark yet"
    runs = {c: t["runs"][0] for c, t in tuned.items()}
    readout = {t["character"]: t["20"]["confirmed"] for t in r["table"]}
    below = sum(run["confirmed"]["new_f1"] < readout[c] for c, run in runs.items())
    each = ", ".join(f"{c} {run['confirmed']['new_f1']:.3f}" for c, run in runs.items())
    kept = kept_old(runs.values())
    seconds = [run[stage]["seconds"] for run in runs.values() for stage in ("alone", "confirmed")]
    return (
        f"from the same 20 examples plus the 50 frames it offered, answered, F1 "
        f"{span([run['confirmed']['new_f1'] for run in runs.values()])} ({each}; one seed), "
        f"below the read-out's for {below} of {len(runs)} characters; the old characters' "
        "change kept within 0.005 (the lower bound of its interval by sequence) for "
        f"{kept} of {len(runs)}; "
        f"{min(seconds):.0f}-{max(seconds):.0f} s an enrolment on 2 "
        + cores(runs.values())
        + ", "
        + bases(r["settings"])
    )


def cores(runs) -> str:
    """The 2 cores the fine-tuned enrolments ran on: their 1-min load where recorded (runs
    from before it was recorded ran beside other work)."""
    loads = [x for run in runs for x in run.get("load", [])]
    return f"cores (1-min load {min(loads):.1f}-{max(loads):.1f})" if loads else "busy cores"


def bases(settings: dict) -> str:
    """The enrolment benchmark's base runs, as its settings say they were trained."""
    if settings.get("base_runs"):
        return f"on bases trained elsewhere ({settings['base_runs']})"
    if settings.get("base_recipe") == "cpu":
        minutes = settings.get("base_minutes") or preset("cpu").max_minutes
        return f"on bases trained with the full CPU recipe (`cpu` preset, {minutes:g} minutes)"
    return "on the benchmark's bases (one epoch over half the train frames, not the full recipe)"


def labelling_loop(results: Path) -> str:
    """The suggestions' blind-audit micro-F1 and boxes changed per frame along a simulated
    session, per row, at 200 and 400 answers."""
    r = read_result(results, "labelling-loop")
    pool = r["pool"]

    def at(runs: list[dict], answers: int) -> str:
        cell = loop_cell(runs, answers)
        if cell is None:
            return "-"
        f1s, boxes = cell
        spread = f"{span(f1s, 3)}; " if len(f1s) > 1 else ""
        return f"{np.mean(f1s):.3f} ({spread}{boxes:.2f} boxes)"

    runs = loop_runs(r)
    cells = "; ".join(f"{name} {at(each, 200)}, {at(each, 400)}" for name, each in runs.items())
    met = loop_rows_at_goal(r)
    seeds = len({row["seed"] for row in r["rows"]})
    mean = f"mean of {seeds} seeds, their range, " if seeds > 1 else ""
    return (
        f"on a pool of {pool['frames']:,} Kral Sakir frames with a fixed blind sample of "
        f"{pool['audit_frames']} frames from as many shots ({seeds} seed{'s' * (seeds > 1)}), "
        f"the suggestions' micro-F1 ({mean}and the boxes a person changed per frame on the "
        f"next batch) at 200 and 400 answers: {cells}. The goal, 0.90 from 200 answers on"
        f"{' in every seed' if seeds > 1 else ''}, is met by " + (", ".join(met) or "no row")
    )


def walkthrough(results: Path) -> str:
    r = read_result(results, "walkthrough")
    labelling, steps = r["labelling"], r["steps"]
    quality = labelling["model"]["quality"]

    def seconds(command: str) -> float:
        return next(s["seconds"] for s in steps if s["command"].startswith(f"toontag {command}"))

    audit = (  # older files count the audit's class entries only
        f"{quality['answers']} frames" if "answers" in quality else f"{quality['entries']} entries"
    )
    tested = r.get("test")
    low, high = tested["ci95_by_sequence"]["f1_micro"] if tested else (0, 0)
    scored = (
        ""
        if tested is None
        else f", scoring the model once on Kral Sakir's {tested['images']:,} test frames (no "
        f"episode shows them) {seconds('evaluate'):.0f} s: micro-F1 **{tested['f1_micro']:.3f}**, "
        f"95% interval by sequence [{low:.3f}, {high:.3f}],"
    )
    return (
        f"`frames` kept {r['pool']} candidate frames of the two episodes, the simulated person "
        f"gave **{labelling['answers']} labels** (about {seconds('label'):.0f} s through the "
        f"API; the page's blind audit sample of {audit} then put the head at "
        f"{quality['f1']:.2f} micro-F1), training took {seconds('train') / 60:.1f} minutes"
        f"{scored} and indexing {seconds('index'):.0f} s"
    )


def walkthrough_ranges(results: Path) -> str:
    return f"{len(read_result(results, 'walkthrough')['ranges']['hits'])} ranges"


def adapt_time(results: Path) -> str:
    a = read_result(results, "adapt-time")["adaptation"]
    return (
        f"{a['seconds'] / 60:.0f} minutes for a pool of {a['frames']:,} frames on this 2-core "
        f"machine ({a['maps_seconds'] / 60:.0f} of them computing the maps)"
    )


def goals(results: Path) -> str:
    """Each goal of the few-labels work (issue 25) with the figure that meets or misses it."""
    picks = dict(chosen(read_result(results, "label-efficiency")))
    nc = read_result(results, "new-character")
    readout = [t["20"]["confirmed"] for t in nc["table"]]
    runs = [t["runs"][0] for t in (nc.get("finetune") or {}).values()]
    tuned, kept = [run["confirmed"]["new_f1"] for run in runs], kept_old(runs)
    met_loop = loop_rows_at_goal(read_result(results, "labelling-loop"))
    walk = read_result(results, "walkthrough")
    trained = next(s["seconds"] for s in walk["steps"] if s["command"].startswith("toontag train"))
    adapt = read_result(results, "adapt-time")["adaptation"]

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**missed**"

    def at(budget: int, goal: float) -> str:
        row = picks[budget]
        low, high = row["test_f1_min"], row["test_f1_max"]
        return (
            f"{verdict(row['test_f1'] >= goal)} by the mean of {row['seeds']} seeds, "
            f"{row['test_f1']:.3f} (seeds {low:.3f}-{high:.3f})"
        )

    return "\n".join(
        [
            f"- 0.95 test micro-F1 from 400 labels: {at(400, 0.95)}.",
            f"- 0.90 from 100 labels: {at(100, 0.90)}.",
            f"- The label page's suggestions at 0.90 from 200 answers on: "
            f"{verdict(bool(met_loop))} with {', '.join(met_loop) or 'no row'} "
            f"(results/labelling-loop.md).",
            f"- A new character at F1 0.90 from 20 examples and 50 answers: "
            f"{verdict(min(readout + tuned) >= 0.90)}: the read-out {span(readout, 3)}, "
            f"the fine-tune {span(tuned, 3) if tuned else 'not run'}; the old characters "
            f"within 0.005: the read-out changes none of their outputs, the fine-tune kept them "
            f"for {kept} of {len(tuned)}.",
            f"- Training from 400 labels in 10 minutes on 2 cores: {verdict(trained <= 600)} by "
            f"the walkthrough's run, {trained / 60:.1f} minutes (a {walk['pool']}-frame pool, "
            f"few answers to extend); the benchmark's runs (400 labels from all of the train "
            f"split, more answers to extend) took {train_time(results)}.",
            f"- The self-supervised step in 20 minutes: {verdict(adapt['seconds'] <= 1200)}, "
            f"{adapt['seconds'] / 60:.0f} minutes for {adapt['frames']:,} frames.",
        ]
    )


RENDERERS = {
    "few-labels-goals": goals,
    "adapt-time": adapt_time,
    "new-character": new_character,
    "new-character-examples": new_character_examples,
    "new-character-old": new_character_old,
    "new-character-finetune": new_character_finetune,
    "enrol-choice": enrol_choice,
    "labelling-loop": labelling_loop,
    "walkthrough": walkthrough,
    "walkthrough-ranges": walkthrough_ranges,
}
