import numpy as np
import pytest

from toontag.evaluation.bootstrap import bootstrap


def test_frame_level_is_the_bootstrap_with_groups_of_one():
    x = np.random.default_rng(0).normal(size=300)
    rows = bootstrap(np.mean, x, resamples=200, seed=3)
    ones = bootstrap(np.mean, x, resamples=200, seed=3, groups=np.arange(300))
    assert rows == ones  # the same draws, not only the same distribution
    low, high = rows
    assert low < x.mean() < high and bootstrap(np.mean, x, resamples=200, seed=3) == rows


def test_groups_are_resampled_whole():
    """Two groups of very different sizes: each resample holds every row of a group drawn, or
    none, so its size varies (2, 11 or 20 rows) where a frame-level resample's never does."""
    groups = np.r_[np.zeros(10, int), np.ones(1, int)]
    seen = []

    def rows_drawn(rows):
        seen.append(rows)
        return len(rows)

    low, high = bootstrap(rows_drawn, np.arange(11), resamples=100, seed=0, groups=groups)
    assert {len(r) for r in seen} == {2, 11, 20} and (low, high) == (2, 20)
    for rows in seen:
        counts = np.bincount(rows, minlength=11)
        assert len(set(counts[:10])) == 1 and counts.sum() == len(rows)  # group 0 whole
    assert bootstrap(len, np.arange(11), resamples=100) == (11, 11)


def test_each_figure_has_its_interval_over_the_resamples_that_define_it():
    x = np.r_[np.zeros(5), np.ones(95)]

    def figures(v):
        return [v.mean(), None if v.min() == 1 else 0.5, None]  # never, sometimes, always undefined

    low, high = bootstrap(figures, x, resamples=300, seed=1)
    assert low[0] < 0.95 < high[0] and (low[1], high[1]) == (0.5, 0.5)
    assert np.isnan(low[2]) and np.isnan(high[2])
    narrow = bootstrap(np.mean, x, resamples=300, seed=1, level=0.5)
    assert low[0] <= narrow[0] <= narrow[1] <= high[0]


def test_arrays_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match="one entry per row"):
        bootstrap(np.mean, np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="one entry per row"):
        bootstrap(np.mean, np.zeros(3), groups=[0, 1])
