"""Distillation targets: a teacher's out-of-fold probabilities blended into the labels.

A teacher's probabilities on the frames it was trained on are nearly the labels themselves;
out-of-fold ones (each frame predicted by a model that never saw it: runs trained with
`fold=K`, merged by `benchmarks/gpu_job.py`) carry what the teacher actually knows, which is
what a student can learn from.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.dataset import LabelledData
from toontag.data.predictions import predictions_for
from toontag.errors import DataError


def distillation_targets(
    data: LabelledData, rows: np.ndarray, soft_labels: Path, weight: float
) -> np.ndarray:
    """The dataset's targets with `rows` replaced by (1 - weight) * label + weight * teacher;
    every row must have a teacher probability in `soft_labels` (a predictions CSV; paths
    absolute or relative to the data's root, as committed OOF files hold them)."""
    teacher_rows, probs = predictions_for(data, Path(soft_labels))
    teacher = dict(zip(teacher_rows.tolist(), probs, strict=True))
    targets = data.masked_targets.copy()
    missing = 0
    for row in rows:
        p = teacher.get(int(row))
        if p is None:
            missing += 1
            continue
        known = targets[row] >= 0  # an unknown entry stays masked out
        targets[row, known] = (1 - weight) * targets[row, known] + weight * p[known]
    if missing:
        raise DataError(f"{soft_labels}: no teacher probabilities for {missing} training frames")
    return targets
