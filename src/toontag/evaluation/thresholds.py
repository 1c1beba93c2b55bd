"""Per-class decision thresholds tuned on the validation split, never on test.

The paper decides every character at 0.5. A class the model is shy about (few training
images, small on screen) gains from a lower threshold; the F1-optimal one is searched on a
fixed grid per class and stored with the model in ``model.json``.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)  # candidate thresholds, 0.05 .. 0.95


def tune_thresholds(y: np.ndarray, p: np.ndarray, *, default: float = 0.5) -> list[float]:
    """The F1-optimal threshold of each class on (`y`, `p`); ties go to the one nearest
    `default`, and a class with no positives keeps `default`."""
    y = np.asarray(y).astype(int)
    out = []
    for k in range(y.shape[1]):
        if y[:, k].sum() == 0:
            out.append(default)
            continue
        f1 = np.array([skm.f1_score(y[:, k], p[:, k] >= t, zero_division=0) for t in GRID])
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        out.append(float(GRID[best[np.argmin(np.abs(GRID[best] - default))]]))
    return out
