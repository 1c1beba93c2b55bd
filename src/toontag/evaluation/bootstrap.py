"""Percentile-bootstrap intervals of any statistic, resampling rows or whole groups of rows.

Every interval toontag reports comes from `bootstrap`: the metrics of `evaluate`, the report's
per-character table, the leakage and suspect checks. Frames of one shot are near-duplicates, so
an interval over frames is narrower than the data warrant; `groups` (a shot or sequence id per
row) resamples whole groups instead. `scipy.stats.bootstrap` resamples single observations
only, hence this small function.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np

from toontag.progress import progress_bar

BOOTSTRAP_RESAMPLES = 1000  # the paper's count


def bootstrap(
    statistic: Callable[..., object],
    *arrays,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    groups=None,
    level: float = 0.95,
    description: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The `level` percentile interval (low, high) of `statistic(*arrays)`, each array
    resampled by the same rows with replacement, `resamples` times.

    `statistic` returns a figure or an array of them, None or nan where it is undefined on a
    resample (an AUC without a positive); each entry's interval is taken over the resamples
    that define it, nan where none does. `groups` (one id per row) draws as many groups as
    there are, with replacement, and takes all rows of each: a cluster bootstrap. Without it
    each row is its own group, the ordinary bootstrap, with the same random draws. With
    `description` a progress bar is shown."""
    n = len(arrays[0])
    if any(len(a) != n for a in arrays) or (groups is not None and len(groups) != n):
        raise ValueError("the arrays (and groups) must have one entry per row, as many each")
    draws = _resampled_rows(n, groups, resamples, np.random.default_rng(seed))
    values = []
    with progress_bar(disable=description is None) as bar:
        for rows in bar.track(draws, total=resamples, description=description or ""):
            values.append(np.asarray(statistic(*(a[rows] for a in arrays)), dtype=float))
    tail = (100 - 100 * level) / 2
    with warnings.catch_warnings():  # an entry no resample defines: nan, said in the docstring
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(np.array(values), [tail, 100 - tail], axis=0)
    return low, high


def _resampled_rows(n: int, groups, resamples: int, rng) -> Iterator[np.ndarray]:
    """The rows of each resample: whole groups drawn with replacement, vectorised per draw."""
    ids = np.arange(n) if groups is None else np.unique(groups, return_inverse=True)[1].ravel()
    order = np.argsort(ids, kind="stable")  # rows grouped, each group's rows in a run
    sizes = np.bincount(ids, minlength=ids.max(initial=-1) + 1)
    starts = np.cumsum(sizes) - sizes
    for _ in range(resamples):
        picked = rng.integers(0, len(sizes), len(sizes))
        size = sizes[picked]
        within = np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size)
        yield order[np.repeat(starts[picked], size) + within]
