"""Republish the 95% intervals of the committed results by whole sequences, retraining nothing.

Frames of one shot are near-duplicates, so an interval that resamples single frames is too
narrow. For every result file in results/ that holds an interval:

- where the per-frame predictions behind a figure are committed (`results/oof-lite0.csv`, the
  only such file: Lite0's out-of-fold probabilities of train and its five folds' mean on test),
  the figures are computed from them with both intervals, by frame and by sequence;
- where a figure's interval by sequence follows exactly from what the file records (a paired
  change of the old classes with no decision changed is 0 in every resample), it is added;
- everywhere else the row says "interval by frame only" (its predictions were not committed).

Keys are only added, never renamed; each figure keeps its own provenance and what is added
carries this script's, under `sequence_intervals` in each file. Each Markdown file gets a
section saying the same (replaced, not repeated, when the script runs again).

    python benchmarks/sequence_intervals.py [--data ../shared/data/kral_sakir] [--results results]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.provenance import provenance
from toontag.benchmark.report import FRAME_ONLY
from toontag.benchmark.results import footer
from toontag.data.dataset import load_dataset
from toontag.data.groups import frame_groups
from toontag.data.predictions import predictions_for, read_predictions
from toontag.evaluation.evaluate import PAPER_THRESHOLD
from toontag.evaluation.metrics import multilabel_metrics
from toontag.io import write_json, write_text

PREDICTIONS = "oof-lite0"  # results/<this>.csv: the committed per-frame predictions
SECTION = "## Intervals by sequence"  # the Markdown section this script owns
ADDED = "sequence_intervals"  # the JSON key this script owns
# A frame-level interval key -> the key of its sequence-level twin.
TWINS = {
    "ci95": "ci95_by_sequence",
    "test_ci95": "test_ci95_by_sequence",
    "ci95_seed0": "ci95_seed0_by_sequence",
    "f1_micro_ci95": "f1_micro_ci95_by_sequence",
}
NOTE = "interval"  # the key a row without a sequence-level interval says so in
# Claims against the paper's figure: result file -> (the figure's JSON key, the paper's value).
CLAIMS = {"beat-paper-gpu": ("test", 0.9890)}


def score_predictions(data, path: Path) -> dict:
    """Micro-F1 and the rest at the paper's 0.5 on each split of a committed predictions file,
    with intervals by frame and by sequence."""
    rows, probs = predictions_for(data, path)
    splits = np.array([data.samples[r].split for r in rows])
    scores = {}
    for split in ("test", "train"):
        mask = splits == split
        scores[split] = multilabel_metrics(
            data.targets[rows[mask]],
            probs[mask],
            data.classes,
            PAPER_THRESHOLD,
            groups=frame_groups(data, rows[mask]),
        )
    return scores


def owners(node, path: str = ""):
    """(path, dict) of every dict holding a frame-level interval, this script's keys aside."""
    if isinstance(node, dict):
        if any(k in node for k in TWINS):
            yield path, node
        for key, value in node.items():
            if key != ADDED:
                yield from owners(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from owners(value, f"{path}[{i}]")


def unchanged_decisions(row: dict) -> bool:
    """A paired change computed on decisions of which none changed: 0 in every resample."""
    return (
        row.get("decisions_changed") == 0 and row.get("change") == 0 and row.get("ci95") == [0, 0]
    )


def republish(payload: dict) -> dict:
    """Mark every interval of `payload` in place; returns what was done, by JSON path."""
    done = {"by_sequence_already": [], "derived": [], "by_frame_only": []}
    for path, row in owners(payload):
        key = next(k for k in TWINS if k in row)
        if unchanged_decisions(row):
            row[TWINS[key]] = [0.0, 0.0]
            done["derived"].append(path)
        elif TWINS[key] in row:  # computed where the figure was
            done["by_sequence_already"].append(path)
        else:
            row[NOTE] = FRAME_ONLY
            done["by_frame_only"].append(path)
    return done


def widening(scores: dict) -> dict:
    """How much wider the test micro-F1 interval is by sequence than by frame."""
    test = scores["test"]
    frame = np.diff(test["ci95"]["f1_micro"])[0]
    sequence = np.diff(test["ci95_by_sequence"]["f1_micro"])[0]
    return {
        "images": test["images"],
        "sequences": test["ci95_by_sequence"]["sequences"],
        "frame_width": round(float(frame), 4),
        "sequence_width": round(float(sequence), 4),
        "ratio": round(float(sequence / frame), 2),
    }


def claim_line(payload: dict, wide: dict, figure: str, paper: float) -> str:
    """Where the paper's figure lies against a frame-only interval, and what that allows."""
    m = payload[figure]
    low, high = m["ci95"]["f1_micro"]
    if low <= paper <= high:
        verdict = (
            "inside even this frame interval, and intervals by sequence are wider still "
            f"({wide['ratio']:.2f}x on the committed predictions): matched, not beaten"
        )
    elif paper < low:
        verdict = "below the frame interval, but whether below one by sequence is not known"
    else:
        verdict = "above the frame interval"
    return (
        f"Micro-F1 {m['f1_micro']:.4f} [{low:.4f}, {high:.4f}] by frame only; the paper's "
        f"{paper:.4f} lies {verdict}."
    )


def section(done: dict, wide: dict, stamp: dict, claim: str | None) -> str:
    lines = ["", SECTION, ""]
    if done["by_frame_only"]:
        lines.append(
            f"{len(done['by_frame_only'])} interval(s) in this file resample single frames: "
            f"{FRAME_ONLY}. The per-frame predictions behind them are not committed, so no "
            "interval by sequence can be computed for them without predicting again. On the "
            f"committed Lite0 predictions (`results/{PREDICTIONS}.csv`, {wide['images']} test "
            f"frames in {wide['sequences']} sequences) resampling whole sequences widened the "
            f"micro-F1 interval from {wide['frame_width']:.4f} to {wide['sequence_width']:.4f} "
            f"({wide['ratio']:.2f}x): read these as about that much too narrow."
        )
    if done["derived"]:
        lines.append(
            f"{len(done['derived'])} paired change(s) changed no decision on any test frame: "
            "every resample, of frames or of whole sequences, gives 0, so each gets "
            "`ci95_by_sequence` [0, 0]."
        )
    if claim:
        lines += ["", claim]
    lines += [
        "",
        f"Added by `{stamp['command']}` at commit `{stamp['git_commit']}` "
        f"({stamp['finished']}); the figures above keep their own provenance.",
    ]
    return "\n".join(lines) + "\n"


def with_section(markdown: str, text: str) -> str:
    """`markdown` with this script's section replaced (or appended)."""
    return markdown.split("\n" + SECTION + "\n", 1)[0].rstrip("\n") + "\n" + text


def predictions_markdown(scores: dict, wide: dict, stamp: dict, what: str) -> str:
    lines = [
        "# Lite0's committed per-frame predictions, scored by frame and by sequence",
        "",
        f"`results/{PREDICTIONS}.csv`: {what}. Micro-F1 at the paper's 0.5, 95% percentile "
        "bootstrap intervals resampling single frames, then whole sequences (consecutive frame "
        "ids whose thumbnails stay within the split's cut threshold).",
        "",
        "| frames | images | sequences | micro-F1 | by frame | width | by sequence | width |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for split, m in scores.items():
        (fl, fh), (sl, sh) = m["ci95"]["f1_micro"], m["ci95_by_sequence"]["f1_micro"]
        lines.append(
            f"| {split} | {m['images']} | {m['ci95_by_sequence']['sequences']} | "
            f"{m['f1_micro']:.4f} | [{fl:.4f}, {fh:.4f}] | {fh - fl:.4f} | "
            f"[{sl:.4f}, {sh:.4f}] | {sh - sl:.4f} |"
        )
    lines += [
        "",
        f"On test the interval by sequence is {wide['ratio']:.2f}x as wide as the one by frame.",
    ]
    return "\n".join(lines) + "\n" + footer(stamp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_dataset(args.data)
    committed = args.results / f"{PREDICTIONS}.csv"
    read_predictions(committed)  # refused at once when it is not a predictions file
    scores = score_predictions(data, committed)
    wide = widening(scores)
    stamp = provenance(wall_seconds=time.perf_counter() - started)
    source = {"predictions": str(committed), "test_widening": wide}

    oof_json = args.results / f"{PREDICTIONS}.json"
    payload = json.loads(oof_json.read_text())
    payload["scores_at_0.5"] = scores
    payload[ADDED] = {**stamp, **source, "computed": ["scores_at_0.5"]}
    write_json(oof_json, payload)
    oof_md = predictions_markdown(scores, wide, stamp, payload["what"])
    write_text(oof_json.with_suffix(".md"), oof_md)
    print(f"{oof_json}: scored, test widening {wide}")

    for path in sorted(args.results.glob("*.json")):
        if path == oof_json:
            continue
        payload = json.loads(path.read_text())
        done = republish(payload)
        if not any(done.values()):
            continue
        payload[ADDED] = {**stamp, **source, **done}
        write_json(path, payload)
        claim = CLAIMS.get(path.stem)
        markdown = path.with_suffix(".md")
        if markdown.is_file():
            line = claim_line(payload, wide, *claim) if claim else None
            text = with_section(markdown.read_text(), section(done, wide, stamp, line))
            write_text(markdown, text)
        print(f"{path}: " + ", ".join(f"{k} {len(v)}" for k, v in done.items()))


if __name__ == "__main__":
    main()
