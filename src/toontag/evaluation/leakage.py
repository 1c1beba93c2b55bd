"""The split audit's result files: near-twin counts, the test score with and without the
near-twin frames, and a contact sheet of examples either side of the threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.audit import DISTANCE_STEPS, Audit
from toontag.data.dataset import LabelledData
from toontag.data.groups import frame_groups
from toontag.data.images import open_rgb
from toontag.data.predictions import predictions_for
from toontag.errors import RunError
from toontag.evaluation.evaluate import PAPER_THRESHOLD
from toontag.evaluation.metrics import by_sequence_text, f1_intervals, multilabel_metrics
from toontag.io import write_figure
from toontag.runs import evaluation_files

SAME_SHOT_IDS = 10  # a twin this close in frame id is the same shot, cut by the split
IDENTICAL = 2.0  # a thumbnail distance at which two frames look the same to the eye
SHEET_PAIRS = 12  # examples on the contact sheet: 8 twins, 4 just above the threshold
# The split audit names its intervals after the metric (its result files have always).
AUDIT_KEYS = {"ci95": "f1_micro_ci95", "ci95_by_sequence": "f1_micro_ci95_by_sequence"}


def run_predictions(run: Path, data: LabelledData) -> tuple[np.ndarray, np.ndarray]:
    """A run's test probabilities from its predictions file of `data`'s test split (the
    run's own ``predictions-test.csv`` when there is none named for the data), as rows of
    `data` (columns in the data's class order)."""
    named = evaluation_files(run, data.root, "test").predictions
    path = named if named.is_file() else Path(run) / "predictions-test.csv"
    if not path.is_file():
        raise RunError(
            f"{named}: missing; run `toontag evaluate {run} --data {data.root} --split test` first"
        )
    return predictions_for(data, path)


def scores_without_twins(
    audit: Audit, data: LabelledData, run: Path, *, cache_root: Path | None = None
) -> dict:
    """Test metrics of a run (at the paper's 0.5) on all test frames, on those without a
    near-twin in train, and on the near-twins alone; intervals by frame and by sequence."""
    rows, probs = run_predictions(run, data)
    groups = frame_groups(data, rows, cache_root=cache_root)
    classes = data.classes
    twin_rows = set(audit.test_rows[audit.twins].tolist())
    is_twin = np.array([r in twin_rows for r in rows])
    targets = data.targets[rows]
    out = {"run": str(run)}
    for name, mask in (
        ("all", np.ones_like(is_twin)),
        ("without_twins", ~is_twin),
        ("twins_only", is_twin),
    ):
        m = multilabel_metrics(
            targets[mask], probs[mask], classes, PAPER_THRESHOLD, groups=groups[mask]
        )
        scores = {AUDIT_KEYS.get(k, k): v for k, v in f1_intervals(m).items()}
        out[name] = {**scores, "subset_accuracy": m["subset_accuracy"]}
    return out


def contact_sheet(audit: Audit, data: LabelledData, path: Path) -> list[dict]:
    """A PNG of test frames beside their nearest training frame; returns what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(audit.distance)
    twins, others = order[audit.twins[order]], order[~audit.twins[order]]
    picks = list(twins[np.linspace(0, len(twins) - 1, min(8, len(twins))).astype(int)])
    picks += list(others[: SHEET_PAIRS - len(picks)])
    examples = []
    fig, axes = plt.subplots((len(picks) + 1) // 2, 4, figsize=(12, 1.9 * ((len(picks) + 1) // 2)))
    axes = np.atleast_2d(axes)
    for ax in axes.ravel():
        ax.axis("off")
    for k, i in enumerate(picks):
        test, train = data.samples[audit.test_rows[i]], data.samples[audit.nearest[i]]
        d = float(audit.distance[i])
        twin = "near-twin" if d <= audit.threshold else "not a twin"
        examples.append({"test": str(test.path), "train": str(train.path), "distance": d})
        for j, (sample, role) in enumerate(((test, "test"), (train, "train"))):
            ax = axes[k // 2, 2 * (k % 2) + j]
            ax.imshow(open_rgb(sample.path)[0])
            title = f"{role} {sample.frame_id}: {'+'.join(sample.labels)}"
            ax.set_title(
                title + (f"\nd = {d:.2f} ({twin})" if role == "test" else "\n"), fontsize=7
            )
    fig.suptitle(f"Test frames and their nearest training frame (threshold {audit.threshold:g})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(path, fig, dpi=72)
    plt.close(fig)
    return examples


def audit_result(
    audit: Audit, data: LabelledData, runs: list[Path], out: Path, *, cache_root: Path | None = None
) -> tuple[dict, str]:
    """The split audit's result file, its payload and Markdown (``split-audit.json`` and
    ``.md``, written by the caller with their provenance); the contact sheet is written here,
    as ``<out>/split-audit.png``."""
    n = len(audit.distance)
    steps = {f"<= {s}": int((audit.distance <= s).sum()) for s in DISTANCE_STEPS}
    sheet = Path(out) / "split-audit.png"
    examples = contact_sheet(audit, data, sheet)
    scores = [scores_without_twins(audit, data, run, cache_root=cache_root) for run in runs]
    twins = int(audit.twins.sum())
    twin_rows = zip(audit.test_rows[audit.twins], audit.nearest[audit.twins], strict=True)
    pairs = [(data.samples[t], data.samples[r]) for t, r in twin_rows]
    relabelled = sum(set(a.labels) != set(b.labels) for a, b in pairs)
    close = audit.distance[audit.twins] <= IDENTICAL
    identical_relabelled = sum(
        set(a.labels) != set(b.labels) for (a, b), c in zip(pairs, close, strict=True) if c
    )
    same_shot = sum(abs(a.frame_id - b.frame_id) <= SAME_SHOT_IDS for a, b in pairs)
    lines = [
        f"# Split audit: {data.root}",
        "",
        "Every test frame is compared with every training frame by the mean absolute "
        "difference of 14x24 grayscale thumbnails (0-255), the measure the sequence split uses "
        f"for shot cuts. A test frame is a **near-twin** when a training frame is within "
        f"**{audit.threshold:g}**, as close as two neighbouring frames of one shot.",
        "",
        f"**{twins} of {n} test frames ({twins / n:.1%}) have a near-twin in train.** "
        f"Median distance to the nearest training frame: {np.median(audit.distance):.1f}.",
        "",
        f"- {same_shot} of the {twins} near-twins sit within {SAME_SHOT_IDS} frame ids of their "
        "training twin: one shot cut across the authors' split.",
        f"- {relabelled} of the {twins} near-twin pairs carry **different labels** for what is "
        "nearly the same picture (labelling disagreements, or a character at the frame's "
        "edge): an upper bound on how much of the test error is label noise.",
        f"- Of the {int(close.sum())} test frames within {IDENTICAL:g} of a training frame "
        f"(to the eye the same picture), {identical_relabelled} are labelled differently.",
        "",
        "| nearest training frame within | test frames | share |",
        "|---|---|---|",
        *(f"| {k} | {v} | {v / n:.1%} |" for k, v in steps.items()),
        "",
        f"Examples (test frame, then its nearest training frame): `{sheet.name}`.",
        "",
        "## Test micro-F1 with and without the near-twins (threshold 0.5)",
        "",
        "95% intervals resampling images, then whole sequences; (images).",
        "",
        "| run | all [95% CI] | without near-twins [95% CI] | near-twins only | change |",
        "|---|---|---|---|---|",
    ]
    for s in scores:
        cells = []
        for part in ("all", "without_twins"):
            lo, hi = s[part]["f1_micro_ci95"]
            cells.append(
                f"{s[part]['f1_micro']:.4f} [{lo:.4f}, {hi:.4f}], "
                f"{by_sequence_text(s[part]['f1_micro_ci95_by_sequence'])} ({s[part]['images']})"
            )
        diff = s["without_twins"]["f1_micro"] - s["all"]["f1_micro"]
        twin_f1 = s["twins_only"]["f1_micro"]
        lines.append(
            f"| {s['run']} | {cells[0]} | {cells[1]} | {twin_f1:.4f} "
            f"({s['twins_only']['images']}) | {diff:+.4f} |"
        )
    payload = {
        "data": str(data.root),
        "threshold": audit.threshold,
        "test_images": n,
        "near_twins": twins,
        "near_twins_same_shot": same_shot,
        "near_twins_with_other_labels": relabelled,
        f"within_{IDENTICAL:g}": int(close.sum()),
        f"within_{IDENTICAL:g}_with_other_labels": identical_relabelled,
        "distance_steps": steps,
        "median_distance": float(np.median(audit.distance)),
        "scores": scores,
        "examples": examples,
        "twin_frames": [
            {
                "test": str(data.samples[t].path),
                "train": str(data.samples[r].path),
                "distance": round(float(d), 2),
            }
            for t, r, d, w in zip(
                audit.test_rows, audit.nearest, audit.distance, audit.twins, strict=True
            )
            if w
        ],
    }
    return payload, "\n".join(lines)
