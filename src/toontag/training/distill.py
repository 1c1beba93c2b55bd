"""Distillation targets: a teacher's out-of-fold probabilities blended into the labels.

A teacher's probabilities on the frames it was trained on are nearly the labels themselves;
out-of-fold ones (each frame predicted by a model that never saw it, `toontag.training.folds`)
carry what the teacher actually knows, which is what a student can learn from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.dataset import LabelledData, listed_path
from toontag.errors import DataError
from toontag.evaluation.evaluate import read_predictions


def distillation_targets(
    data: LabelledData, rows: np.ndarray, soft_labels: Path, weight: float
) -> np.ndarray:
    """The dataset's targets with `rows` replaced by (1 - weight) * label + weight * teacher;
    every row must have a teacher probability in `soft_labels` (a predictions CSV)."""
    paths, _, classes, probs = read_predictions(Path(soft_labels))
    if set(classes) != set(data.classes):
        raise DataError(
            f"{soft_labels}: classes {classes} differ from the data's {list(data.classes)}"
        )
    columns = [classes.index(c) for c in data.classes]  # the file's order -> the data's
    # Paths relative to the data's root (as committed OOF files hold them) or absolute.
    teacher = {str(listed_path(data.root, p)): probs[i, columns] for i, p in enumerate(paths)}
    targets = data.targets.astype(np.float32).copy()
    missing = 0
    for row in rows:
        p = teacher.get(str(Path(data.samples[row].path).resolve()))
        if p is None:
            missing += 1
            continue
        targets[row] = (1 - weight) * targets[row] + weight * p
    if missing:
        raise DataError(f"{soft_labels}: no teacher probabilities for {missing} training frames")
    return targets
