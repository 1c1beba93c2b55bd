"""Which frames belong together: the unit that splits hold out and intervals resample.

Frames of one shot are near-duplicates, so a score over them is worth fewer independent
observations than it has frames. A frame's group is, first found:

- the manifest's ``group`` column (a shot or sequence the caller knows);
- in a labelling project, the pool's shot of the video the frame came from (its video alone
  where the shot is unknown);
- else its sequence by `data.split`'s rule, over the dataset in capture order (each split
  apart where splits number their frames alike): consecutive frame ids whose 14x24 thumbnails
  stay within `CUT_THRESHOLD` of each other. A still image with no shot is thus its own group
  unless the rule joins it to its neighbour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.cache import build_cache
from toontag.data.dataset import PROJECT_FILE, LabelledData
from toontag.data.split import CHUNK, SOURCE_SIZE, sequence_ids, thumbnails
from toontag.io import read_csv

PROJECT_POOL = "pool.csv"  # a labelling project's pool: path,source,time,shot,reason,...
READ = 8 * CHUNK  # frames copied out of the cache at once: memory stays bounded


def dataset_sequences(
    data: LabelledData, rows: np.ndarray, *, cache_root: Path | None = None
) -> np.ndarray:
    """The sequence of each of `rows` (in any order) by the thumbnail rule alone, numbered
    0, 1, ... in capture order: the sequences the training split holds out."""
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
    shots = project_shots(data)
    named = [s.group or (shots.get(_key(s.path)) if shots else None) for s in data.samples]
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


def project_shots(data: LabelledData) -> dict[str, str]:
    """A labelling project's frames (resolved paths) -> their shot, from its pool: the video
    and the shot's index, or the video alone where the shot is unknown. Still images have none.
    Empty for data that is not a project."""
    root = Path(data.root)
    if not (root / PROJECT_FILE).is_file() or not (root / PROJECT_POOL).is_file():
        return {}
    shots = {}
    for row in read_csv(root / PROJECT_POOL, columns=("path", "source", "shot")):
        if (row.get("shot") or "").strip():
            shots[_key(root / row["path"])] = f"{row['source']} shot {row['shot'].strip()}"
        elif (row.get("reason") or "") != "image":
            shots[_key(root / row["path"])] = row["source"]
    return shots


def _key(path: Path) -> str:
    return str(Path(path).resolve())
