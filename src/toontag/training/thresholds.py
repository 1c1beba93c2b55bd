"""Per-class decision thresholds tuned on the validation split, never on test.

The paper decides every character at 0.5. A class the model is shy about (few training
images, small on screen) gains from a lower threshold; the F1-optimal one is searched on a
fixed grid per class and stored with the model in ``model.json``.
"""

from __future__ import annotations

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)  # candidate thresholds, 0.05 .. 0.95


def tune_thresholds(y: np.ndarray, p: np.ndarray, *, default: float = 0.5) -> list[float]:
    """The F1-optimal threshold of each class on (`y`, `p`); ties go to the one nearest
    `default`, and a class with no positives keeps `default`. Entries of `y` below 0 are
    unknown and left out of their class's choice."""
    y, p = np.asarray(y), np.asarray(p)
    return [
        f1_optimal_threshold(y[y[:, k] >= 0, k], p[y[:, k] >= 0, k], default=default)
        for k in range(y.shape[1])
    ]


def f1_optimal_threshold(y: np.ndarray, p: np.ndarray, *, default: float = 0.5) -> float:
    """The F1-optimal threshold of one class on the grid, ties to the one nearest `default`;
    `default` without positives. Vectorised over the grid: scikit-learn's f1_score at every
    grid point took 0.3 s a class, most of a labelling refit; this takes milliseconds."""
    truth = np.asarray(y) > 0.5
    if not truth.any():
        return default
    decided = np.asarray(p)[:, None] >= GRID[None, :]
    tp = (decided & truth[:, None]).sum(axis=0)
    wrong = (decided != truth[:, None]).sum(axis=0)  # false positives + false negatives
    f1 = np.divide(2 * tp, 2 * tp + wrong, out=np.zeros(len(GRID)), where=2 * tp + wrong > 0)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(GRID[best[np.argmin(np.abs(GRID[best] - default))]])
