"""Groups of frames: frames of one shot look alike, so every split keeps a group whole (a shot
on both sides would let validation, or a cross-fitting fold, see what training saw) and every
interval resamples groups whole (a score over them is worth fewer independent observations
than it has frames).

A manifest may name each row's group in a ``group`` column (any text; a row left empty is a
group of its own). A labelling project's frames are grouped by pool.csv's shots: a video frame
by its source and shot, or by its source alone where the shot is unknown, and a still image is
a group of its own. A labels.csv row's own ``group`` wins over its pool shot, and a labelled frame
missing from the pool is a group of its own. Data without groups is split, and resampled, by
sequences instead (split.py's rule on frame ids and thumbnails, over the whole timeline: a
still image is its own group unless the rule joins it to its neighbour).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toontag.errors import DataError, FileError
from toontag.io import read_csv

if TYPE_CHECKING:
    from toontag.data.dataset import LabelledData

READ = 4096  # frames whose thumbnails are made at once: memory stays bounded

GROUP_COLUMN = "the manifest's group column"  # where a dataset's groups came from, ...
POOL_SHOTS = "pool.csv's shots (the source where a shot is unknown)"  # ... for split.json


def pool_shots(pool: Path) -> dict[str, str]:
    """Each video frame's group, by its path in pool.csv: its source and shot, or its source
    alone where the shot is unknown. Still images have none (see `frame_groups`)."""
    try:
        rows = read_csv(pool, columns=("path", "source", "shot"))
    except FileError as e:
        raise DataError(str(e)) from None
    shots = {}
    for row in rows:
        if (row.get("reason") or "").strip() == "image":
            continue
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


def dataset_sequences(
    data: LabelledData, rows: np.ndarray, *, cache_root: Path | None = None
) -> np.ndarray:
    """The sequence of each of `rows` (in any order) by the thumbnail rule alone, numbered
    0, 1, ... in capture order: the sequences the training split holds out."""
    from toontag.data.cache import build_cache  # torch: only where sequences are made
    from toontag.data.split import SOURCE_SIZE, sequence_ids, thumbnails

    rows = np.asarray(rows, dtype=int)
    if not len(rows):
        return np.zeros(0, np.int64)
    ids = np.array([s.frame_id for s in data.samples])[rows]
    order = np.lexsort((rows, ids))  # capture order; ties (two splits' same id) by row
    # Thumbnails of the whole dataset's files at one size: the cache the split builds too.
    source = build_cache(
        [s.path for s in data.samples], size=SOURCE_SIZE, root=cache_root, description="thumbnails"
    )
    picked = rows[order]
    thumbs = [thumbnails(source.images[picked[i : i + READ]]) for i in range(0, len(picked), READ)]
    out = np.empty(len(rows), np.int64)
    out[order] = sequence_ids(ids[order], np.concatenate(thumbs))
    return out


def frame_groups(
    data: LabelledData, rows: np.ndarray, *, cache_root: Path | None = None
) -> np.ndarray:
    """The group of each of `rows` (in any order: a frame's group never depends on it),
    numbered 0, 1, ... in capture order; pass it as `bootstrap`'s `groups`. Sequences are
    those of the dataset's whole timeline (`timelines`), so that two evaluated frames of one
    shot stay together when frames of another split lie between them."""
    rows = np.asarray(rows, dtype=int)
    # A row grouped by its own path (no group named, no shot: a still) is free: the sequence
    # rule may join it to its neighbour, as it joins any frame without a group.
    root = Path(data.root)
    named = [
        None if data.groups is None or root / g == s.path else g
        for g, s in zip(data.groups or [None] * len(data.samples), data.samples, strict=True)
    ]
    keys: list[tuple] = [("group", name) for name in named]
    for free in timelines(data, np.flatnonzero([name is None for name in named])):
        for i, seq in zip(free, dataset_sequences(data, free, cache_root=cache_root), strict=True):
            keys[i] = ("sequence", int(free[0]), int(seq))
    ids = np.array([data.samples[r].frame_id for r in rows])
    numbers: dict[tuple, int] = {}
    out = np.empty(len(rows), np.int64)
    for i in np.lexsort((rows, ids)):
        out[i] = numbers.setdefault(keys[rows[i]], len(numbers))
    return out


def timelines(data: LabelledData, rows: np.ndarray) -> list[np.ndarray]:
    """`rows` by the capture order they share: one timeline when their frame ids are unique
    (Kral Sakir numbers train and test frames along one video), else one per split (each split
    numbered from its own start, as separate videos would be)."""
    ids = [data.samples[r].frame_id for r in rows]
    if len(set(ids)) == len(ids):
        return [rows] if len(rows) else []
    splits = np.array([data.samples[r].split or "" for r in rows])
    return [rows[splits == split] for split in np.unique(splits)]
