import numpy as np
from sklearn.metrics import f1_score

from toontag.training.thresholds import GRID, f1_optimal_threshold, tune_thresholds


def test_each_class_gets_its_f1_optimal_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (400, 3))
    # Class 0 is well calibrated, class 1 shy (positives score 0.2..0.4), class 2 has none.
    p = np.where(y == 1, rng.uniform(0.6, 1.0, y.shape), rng.uniform(0.0, 0.4, y.shape))
    p[:, 1] = np.where(y[:, 1] == 1, rng.uniform(0.25, 0.4, 400), rng.uniform(0.0, 0.2, 400))
    y[:, 2] = 0
    t = tune_thresholds(y, p)
    assert 0.4 < t[0] <= 0.6  # every threshold in the gap separates; the one nearest 0.5 wins
    assert 0.2 < t[1] <= 0.25  # 0.5 would miss every positive of class 1
    assert t[2] == 0.5  # nothing to tune on: the paper's threshold stays


def test_the_vectorised_search_agrees_with_scikit_learns_f1_at_every_grid_point():
    rng = np.random.default_rng(0)
    for n in (7, 60, 300):
        y = (rng.uniform(size=n) < 0.4).astype(int)
        p = np.round(np.clip(0.4 * y + 0.7 * rng.uniform(size=n), 0, 1), 2)
        f1 = np.array([f1_score(y, p >= t, zero_division=0) for t in GRID])
        best = np.flatnonzero(f1 >= f1.max() - 1e-12)
        expected = float(GRID[best[np.argmin(np.abs(GRID[best] - 0.5))]])
        assert f1_optimal_threshold(y, p) == expected
    assert f1_optimal_threshold(np.zeros(5), np.ones(5)) == 0.5
