"""Groups of frames that every split keeps whole: frames of one shot look alike, so a shot on
both sides of a split lets validation (or a cross-fitting fold) see what training saw.

A manifest may name each row's group in a ``group`` column (any text; a row left empty is a
group of its own). A labelling project's frames are grouped by pool.csv's shots: a video frame
by its source and shot, or by its source alone where the shot is unknown, and a still image is
its own source. A labels.csv row's own ``group`` wins over its pool shot, and a labelled frame
missing from the pool is a group of its own. A dataset without groups is split by sequences
instead (split.py's rule on frame ids and thumbnails).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.errors import DataError, FileError
from toontag.io import read_csv

GROUP_COLUMN = "the manifest's group column"  # where a dataset's groups came from, ...
POOL_SHOTS = "pool.csv's shots (the source where a shot is unknown)"  # ... for split.json


def pool_shots(pool: Path) -> dict[str, str]:
    """Each pool frame's group, by its path in pool.csv: its source and shot, or its source
    alone where the shot is unknown."""
    try:
        rows = read_csv(pool, columns=("path", "source", "shot"))
    except FileError as e:
        raise DataError(str(e)) from None
    shots = {}
    for row in rows:
        source, shot = (row["source"] or "").strip(), (row["shot"] or "").strip()
        shots[(row["path"] or "").strip()] = f"{source}\tshot {shot}" if shot else source
    return shots


def row_groups(
    named: list[str], listed: list[str], pool: Path | None
) -> tuple[tuple[str, ...] | None, str | None]:
    """Each manifest row's group and where the groups came from, or (None, None) when nothing
    groups the rows: `named` the rows' ``group`` fields ("" where empty), `listed` their paths
    as the manifest writes them, `pool` a project's pool.csv (None for a plain manifest)."""
    shots = pool_shots(pool) if pool is not None and pool.is_file() else {}
    if not any(named) and not shots:
        return None, None
    # A row with no group of its own is one by its path: the same image twice is one group.
    groups = tuple(g or shots.get(path) or path for g, path in zip(named, listed, strict=True))
    where = [what for what, used in ((GROUP_COLUMN, any(named)), (POOL_SHOTS, shots)) if used]
    return groups, ", else ".join(where)


def group_index(groups) -> np.ndarray:
    """Each row's group as an integer (ids of any kind: the hold-outs and folds count them)."""
    return np.unique(np.array([str(g) for g in groups]), return_inverse=True)[1].astype(np.int64)
