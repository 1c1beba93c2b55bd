"""Is one model better than another on the same frames? A paired bootstrap of the difference
of their micro-F1: each resample draws the same frames (or whole sequences) for both models, so
the frames both find easy or hard cancel out, and the interval is that of the difference
itself, narrower and more honest than two overlapping intervals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.dataset import SPLIT_NAMES, load_dataset
from toontag.data.groups import frame_groups
from toontag.data.predictions import predictions_for
from toontag.errors import DataError
from toontag.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, bootstrap
from toontag.evaluation.evaluate import evaluate_run
from toontag.evaluation.metrics import micro_scores
from toontag.runs import evaluation_files, read_model_info


def compare_runs(
    run_a: Path,
    run_b: Path,
    *,
    data: Path,
    split: str = "test",
    cache_root: Path | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict:
    """Micro-F1 of `run_a` and `run_b` on `split` of `data`, each at its own thresholds, and
    their difference (a − b) with paired 95% intervals resampling frames and whole sequences.
    Each run's predictions of this data (``predictions-<split>.csv`` on the data it was
    trained on, `runs.evaluation_files`) are used where `evaluate` wrote them, else the run is
    evaluated first (which writes them)."""
    if split not in SPLIT_NAMES:
        raise DataError(f"no split named {split!r}: one of {', '.join(SPLIT_NAMES)}")
    infos = [read_model_info(run) for run in (run_a, run_b)]
    dataset = load_dataset(data, classes=infos[0]["classes"], classes_from=f"the model in {run_a}")
    decided = []
    for run, info in zip((run_a, run_b), infos, strict=True):
        if set(info["classes"]) != set(dataset.classes):
            raise DataError(
                f"{run}: classes {info['classes']} differ from {run_a}'s {list(dataset.classes)}"
            )
        path = evaluation_files(run, data, split).predictions
        if not path.is_file():
            evaluate_run(run, data=data, split=split, cache_root=cache_root, resamples=resamples)
        rows, probs = predictions_for(dataset, path)
        thresholds = dict(zip(info["classes"], info["thresholds"], strict=True))
        order = np.argsort(rows)
        decided.append((rows[order], probs[order] >= [thresholds[c] for c in dataset.classes]))
    (rows, a), (rows_b, b) = decided
    if not np.array_equal(rows, rows_b):
        raise DataError(
            f"{run_a} and {run_b} predicted different frames of {split}; run `toontag evaluate` "
            f"on both with the same --data ({data}) first"
        )
    y, known = dataset.targets[rows], dataset.known[rows]
    groups = frame_groups(dataset, rows, cache_root=cache_root)
    figures = _figures(y, known, a, b)
    by_frame, by_sequence = (
        bootstrap(_figures, y, known, a, b, resamples=resamples, seed=seed, groups=g)
        for g in (None, groups)
    )

    def interval(bounds, k: int) -> list[float]:
        return [float(bounds[0][k]), float(bounds[1][k])]

    return {
        "split": split,
        "data": str(data),
        "images": int(len(rows)),
        "sequences": int(len(np.unique(groups))),
        "runs": [
            {
                "run": str(run),
                "f1_micro": float(figures[k]),
                "ci95": interval(by_frame, k),
                "ci95_by_sequence": interval(by_sequence, k),
            }
            for k, run in enumerate((run_a, run_b))
        ],
        "difference": float(figures[2]),
        "difference_ci95": interval(by_frame, 2),
        "difference_ci95_by_sequence": interval(by_sequence, 2),
        "bootstrap": {"resamples": resamples, "seed": seed, "method": "paired percentile"},
    }


def _figures(y, known, a, b) -> list[float]:
    """Micro-F1 of decisions `a`, of `b`, and a − b, over the known entries."""
    f1_a, f1_b = micro_scores(y, a, known)[2], micro_scores(y, b, known)[2]
    return [f1_a, f1_b, f1_a - f1_b]
