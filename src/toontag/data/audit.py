"""`data audit`: how many test frames have a near-twin in train, and what the test score is
without them.

A sequence split keeps whole shots apart, but a cartoon reuses shots, backgrounds and poses,
so a test frame can still look almost exactly like some training frame. Frames are compared
by the same measure the split uses for shot cuts: the mean absolute difference of 14x24
grayscale thumbnails (0-255 scale). Two neighbouring frames of one continuous shot differ by
0 to 10; `TWIN_THRESHOLD` = 10 calls a test frame a near-twin when some training frame is at
least as close as that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toontag.data.cache import build_cache
from toontag.data.dataset import LabelledData
from toontag.data.split import SOURCE_SIZE, thumbnails
from toontag.errors import DataError
from toontag.progress import progress_bar

TWIN_THRESHOLD = 10.0
DISTANCE_STEPS = (2, 5, 10, 15, 20, 25)  # the distribution is reported at these distances
CHUNK = 256


@dataclass(frozen=True)
class Audit:
    test_rows: np.ndarray  # dataset rows of the test images
    nearest: np.ndarray  # dataset row of each one's nearest training image
    distance: np.ndarray  # and its thumbnail distance
    threshold: float

    @property
    def twins(self) -> np.ndarray:
        return self.distance <= self.threshold


def audit_split(
    data: LabelledData, *, threshold: float = TWIN_THRESHOLD, cache_root: Path | None = None
) -> Audit:
    """The nearest training frame of every test frame, by thumbnail distance."""
    splits = np.array([s.split for s in data.samples])
    train, test = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test")
    if not len(train) or not len(test):
        raise DataError(f"{data.root}: an audit needs a train and a test split")
    source = build_cache([s.path for s in data.samples], size=SOURCE_SIZE, root=cache_root)
    ok = np.zeros(len(splits), bool)
    ok[source.ok] = True
    train, test = train[ok[train]], test[ok[test]]
    thumbs = thumbnails(source.images)
    reference = thumbs[train]
    distance, nearest = [], []
    with progress_bar() as bar:
        for start in bar.track(range(0, len(test), CHUNK), description="nearest train frames"):
            best, index = nearest_thumbnails(thumbs[test[start : start + CHUNK]], reference)
            distance.append(best)
            nearest.append(train[index])
    return Audit(test, np.concatenate(nearest), np.concatenate(distance), threshold)


def thumbnail_distances(query, reference) -> torch.Tensor:
    """(Q, R) distances between thumbnails (any shape per thumbnail, uint8 or float): the
    mean absolute difference of their pixels, 0-255."""
    query = torch.as_tensor(query).flatten(1).float()
    reference = torch.as_tensor(reference).flatten(1).float()
    return torch.cdist(query, reference, p=1) / query.shape[1]


def nearest_thumbnails(query, reference) -> tuple[np.ndarray, np.ndarray]:
    """For each query thumbnail, the distance to its nearest reference thumbnail and that
    one's row (inf and -1 when there is no reference), `CHUNK` queries at a time."""
    distance = np.full(len(query), np.inf, np.float32)
    index = np.full(len(query), -1, np.int64)
    if len(reference):
        for start in range(0, len(query), CHUNK):
            best = thumbnail_distances(query[start : start + CHUNK], reference).min(dim=1)
            distance[start : start + CHUNK] = best.values.numpy()
            index[start : start + CHUNK] = best.indices.numpy()
    return distance, index
