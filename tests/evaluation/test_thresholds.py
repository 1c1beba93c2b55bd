import numpy as np

from toontag.evaluation.thresholds import tune_thresholds


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
