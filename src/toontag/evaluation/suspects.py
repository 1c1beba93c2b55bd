"""The label-noise audit: frames whose given labels disagree most with out-of-fold predictions
(confident learning, through cleanlab), for a person to review.

The predictions must come from models that never saw the frame they predict (cross-fitted
folds), and the models scored without the suspects must be independent of them: otherwise
dropping the suspects raises a model's F1 by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toontag.data.audit import Audit
from toontag.data.dataset import LabelledData
from toontag.data.groups import frame_groups
from toontag.data.images import open_rgb
from toontag.data.predictions import predictions_for, probability_column
from toontag.errors import DataError
from toontag.evaluation.evaluate import PAPER_THRESHOLD
from toontag.evaluation.metrics import f1_intervals, multilabel_metrics
from toontag.io import csv_text, read_csv, write_figure

SHEET = 24  # suspects on the contact sheet, the most confident first


@dataclass(frozen=True)
class Suspects:
    rows: np.ndarray  # dataset rows with out-of-fold probabilities
    probs: np.ndarray  # (N, C) in the data's class order
    quality: np.ndarray  # cleanlab's label quality score, 0 (surely wrong) .. 1
    flagged: np.ndarray  # cleanlab's confident-learning verdict: a label issue


def find_suspects(data: LabelledData, oof: Path) -> Suspects:
    """Confident learning per split (train and test have their own noise rates)."""
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    rows, probs = predictions_for(data, oof)
    quality, flagged = np.ones(len(rows)), np.zeros(len(rows), bool)
    splits = np.array([data.samples[r].split or "" for r in rows])
    for split in np.unique(splits):
        part = np.flatnonzero(splits == split)
        labels = [list(np.flatnonzero(data.targets[r])) for r in rows[part]]
        try:
            quality[part] = get_label_quality_scores(labels, probs[part])
            flagged[part] = find_label_issues(labels, probs[part])
        except ValueError as e:  # e.g. a class that no frame of the split shows
            raise DataError(
                f"{oof}: the {split or 'unsplit'} frames cannot be audited ({e})"
            ) from e
    return Suspects(rows, probs, quality, flagged)


def suspects_csv(data: LabelledData, s: Suspects) -> str:
    """The flagged frames, most suspect first: given and suggested labels, and an empty
    ``corrected`` column for the reviewer (see `corrected_manifest`)."""
    rows = []
    for i in np.flatnonzero(s.flagged)[np.argsort(s.quality[s.flagged])]:
        sample = data.samples[s.rows[i]]
        suggested = [c for c, p in zip(data.classes, s.probs[i], strict=True) if p >= 0.5]
        rows.append(
            [
                sample.path,
                sample.split,
                ";".join(sample.labels),
                ";".join(suggested),
                f"{s.quality[i]:.4f}",
                "",
                *(f"{p:.4f}" for p in s.probs[i]),
            ]
        )
    header = [
        "path",
        "split",
        "labels",
        "suggested",
        "quality",
        "corrected",
        *map(probability_column, data.classes),
    ]
    return csv_text(header, rows)


def corrected_manifest(data: LabelledData, reviewed: Path) -> str:
    """A CSV manifest (path, labels, split) of the whole dataset with the reviewer's
    ``corrected`` labels applied where filled in ("-" for no character)."""
    fixes = {
        str(Path(r["path"]).resolve()): (r["corrected"] or "").strip()
        for r in read_csv(reviewed, columns=("path", "corrected"))
        if (r["corrected"] or "").strip()
    }
    rows = []
    for sample in data.samples:
        fix = fixes.pop(str(Path(sample.path).resolve()), None)
        labels = ";".join(sample.labels) if fix is None else ("" if fix == "-" else fix)
        for label in filter(None, labels.split(";")):
            if label not in data.classes:
                raise DataError(
                    f"{reviewed}: {sample.path}: unknown label {label!r} "
                    f"(known: {', '.join(data.classes)})"
                )
        rows.append([sample.path, labels, sample.split or ""])
    if fixes:
        raise DataError(f"{reviewed}: {next(iter(fixes))} is not an image of {data.root}")
    return csv_text(["path", "labels", "split"], rows)


def twins_flagged(audit: Audit, data: LabelledData, s: Suspects) -> dict:
    """Of the split audit's near-twin pairs whose labels differ, how many the finder flags
    (either frame of the pair)."""
    flagged = set(s.rows[s.flagged].tolist())
    pairs = [
        (int(t), int(r))
        for t, r in zip(audit.test_rows[audit.twins], audit.nearest[audit.twins], strict=True)
        if set(data.samples[t].labels) != set(data.samples[r].labels)
    ]
    hits = [t in flagged or r in flagged for t, r in pairs]
    return {
        "conflicting_pairs": len(pairs),
        "flagged": int(sum(hits)),
        "test_frame_flagged": sum(t in flagged for t, _ in pairs),
        "train_frame_flagged": sum(r in flagged for _, r in pairs),
    }


def score_without(
    data: LabelledData, s: Suspects, predictions: Path, *, cache_root: Path | None = None
) -> dict:
    """A model's test micro-F1 on the official labels and without the test suspects, with
    intervals by frame and by sequence."""
    rows, probs = predictions_for(data, predictions)
    groups = frame_groups(data, rows, cache_root=cache_root)
    drop = set(s.rows[s.flagged].tolist())
    keep = np.array([r not in drop for r in rows])
    out = {"predictions": str(predictions)}
    for name, mask in (("official", np.ones_like(keep)), ("without_suspects", keep)):
        m = multilabel_metrics(
            data.targets[rows[mask]],
            probs[mask],
            data.classes,
            PAPER_THRESHOLD,
            groups=groups[mask],
        )
        out[name] = f1_intervals(m)
    return out


def contact_sheet(data: LabelledData, s: Suspects, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = np.flatnonzero(s.flagged)[np.argsort(s.quality[s.flagged])][:SHEET]
    cols = 6
    fig, axes = plt.subplots(
        max(1, -(-len(picks) // cols)), cols, figsize=(15, 2.0 * max(1, -(-len(picks) // cols)))
    )
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), picks, strict=False):
        sample = data.samples[s.rows[i]]
        suggested = [c for c, p in zip(data.classes, s.probs[i], strict=True) if p >= 0.5]
        ax.imshow(open_rgb(sample.path)[0])
        ax.set_title(
            f"{sample.split} {sample.frame_id} (q {s.quality[i]:.2f})\n"
            f"given: {'+'.join(sample.labels) or '-'}\n"
            f"model: {'+'.join(suggested) or '-'}",
            fontsize=7,
        )
    fig.suptitle("Most suspect labels: given vs out-of-fold prediction")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_figure(path, fig, dpi=72)
    plt.close(fig)


def suspects_result(
    data: LabelledData,
    oof: Path,
    predictions: list[Path],
    out: Path,
    *,
    audit: Audit | None,
    cache_root: Path | None = None,
) -> tuple[dict, str]:
    """The label-noise audit's result file, its payload and Markdown (``suspects.json`` and
    ``.md``, written by the caller with their provenance); the list to review and the contact
    sheet are written here, as ``<out>/suspects.csv`` and ``.png``."""
    from toontag.io import write_text

    s = find_suspects(data, oof)
    out = Path(out)
    write_text(out / "suspects.csv", suspects_csv(data, s))
    contact_sheet(data, s, out / "suspects.png")
    splits = np.array([data.samples[r].split or "" for r in s.rows])
    counts = {
        sp: {"frames": int((splits == sp).sum()), "flagged": int(s.flagged[splits == sp].sum())}
        for sp in np.unique(splits)
    }
    twins = twins_flagged(audit, data, s) if audit is not None else None
    scores = [score_without(data, s, p, cache_root=cache_root) for p in predictions]
    lines = [
        f"# Label-noise audit: {data.root}",
        "",
        f"Confident learning (cleanlab, per split) on out-of-fold probabilities from `{oof}`: "
        "each frame predicted by models that never saw it. Flagged frames are listed, most "
        "suspect first, in `suspects.csv` (with an empty `corrected` column for a reviewer) "
        "and the first 24 on `suspects.png`.",
        "",
        "| split | frames | flagged |",
        "|---|---|---|",
        *(
            f"| {sp} | {c['frames']} | {c['flagged']} ({c['flagged'] / c['frames']:.1%}) |"
            for sp, c in counts.items()
        ),
    ]
    if twins:
        lines += [
            "",
            f"Split audit check: of the {twins['conflicting_pairs']} near-twin train/test pairs "
            f"whose labels differ, {twins['flagged']} have a flagged frame "
            f"({twins['test_frame_flagged']} the test frame, {twins['train_frame_flagged']} the "
            "training frame).",
        ]
    if scores:
        lines += [
            "",
            "Test micro-F1 at 0.5: the official labels (always the headline) and without the "
            "flagged test frames. Only a model independent of the out-of-fold models gives a fair "
            "second figure; one distilled from them learnt their view of the labels, so its "
            "gain without the suspects is partly by construction.",
            "",
            "| predictions | official | without suspects |",
            "|---|---|---|",
            *(
                f"| {sc['predictions']} | {sc['official']['f1_micro']:.4f} "
                f"({sc['official']['images']}) | {sc['without_suspects']['f1_micro']:.4f} "
                f"({sc['without_suspects']['images']}) |"
                for sc in scores
            ),
        ]
    payload = {
        "data": str(data.root),
        "oof": str(oof),
        "splits": counts,
        "near_twins": twins,
        "scores": scores,
    }
    return payload, "\n".join(lines)
