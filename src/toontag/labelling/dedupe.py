"""A project's pool in memory, and the near-duplicate test a new frame must pass to join it.

A candidate as close as `max_distance` to a frame already in the pool, or to one kept before
it, is dropped; the measure is the split audit's (mean absolute difference of 14x24 grayscale
thumbnails, 0-255), and a shot's middle is preferred to a regular sample.
"""

from __future__ import annotations

import numpy as np

from toontag.data.audit import nearest_thumbnails, thumbnail_distances
from toontag.data.images import open_rgb, resize_rgb
from toontag.data.split import SOURCE_SIZE, THUMB_SIZE
from toontag.errors import BadImageError
from toontag.labelling.candidates import THUMB_BATCH, Candidate, uint8_thumbnails
from toontag.labelling.project import Project

BATCH = 256  # candidates compared with each other at a time when dropping near-duplicates


class Pool:
    """The project's pool and thumbnails, kept in step with the files at each commit."""

    def __init__(self, store: Project):
        self.store = store
        self.frames = store.read_pool()
        self.thumbs, self.broken = self._thumbs()
        self.folders = {f.folder for f in self.frames}
        self.sources = {f.source for f in self.frames}

    def _thumbs(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """thumbs.npy, made good from the frame files when it does not match pool.csv: the
        rows it lacks (a run killed between the two writes) or all (pool.csv edited)."""
        thumbs = self.store.read_thumbs()
        if thumbs is not None and len(thumbs) == len(self.frames):
            return thumbs, []
        if thumbs is None or len(thumbs) > len(self.frames):
            thumbs = np.zeros((0, *THUMB_SIZE), np.uint8)
        made, broken = [thumbs], []
        lacking = self.frames[len(thumbs) :]
        for start in range(0, len(lacking), THUMB_BATCH):
            pixels = []
            for frame in lacking[start : start + THUMB_BATCH]:
                try:
                    image = open_rgb(self.store.root / frame.path)[0]
                    pixels.append(np.array(resize_rgb(image, SOURCE_SIZE)))
                except BadImageError as e:
                    broken.append((frame.path, e.reason))
                    pixels.append(np.zeros((*SOURCE_SIZE, 3), np.uint8))  # rows stay in step
            made.append(uint8_thumbnails(pixels))
        thumbs = np.concatenate(made)
        self.store.write_thumbs(thumbs)
        return thumbs, broken

    def holds(self, entry: dict) -> bool:
        """A recorded source counts as in the pool while its frames are (or none were kept)."""
        return entry.get("kept") == 0 or entry.get("frames") in self.folders

    def keep(self, thumbs: np.ndarray, max_distance: float) -> np.ndarray:
        """Which of `thumbs` (in order of preference) to keep: each one farther than
        `max_distance` from every pool frame and every one kept before it."""
        near_pool = nearest_thumbnails(thumbs, self.thumbs)[0] <= max_distance
        keep = np.zeros(len(thumbs), bool)
        for start in range(0, len(thumbs), BATCH):
            batch = thumbs[start : start + BATCH]
            earlier = thumbs[:start][keep[:start]]
            near = near_pool[start : start + BATCH].copy()
            near |= nearest_thumbnails(batch, earlier)[0] <= max_distance
            inner = thumbnail_distances(batch, batch).numpy() <= max_distance
            for j in range(len(batch)):
                kept = keep[start : start + j]
                keep[start + j] = not near[j] and not inner[j, :j][kept].any()
        return keep

    def referenced(self, folder: str) -> set[str]:
        return {f.path for f in self.frames if f.folder == folder}

    def commit(self, candidates: list[Candidate], entry: dict) -> None:
        """Add `candidates` (in capture order) to the pool files: pool.csv first, the truth."""
        frames = self.frames + [c.frame for c in candidates]
        thumbs = np.concatenate(
            [
                self.thumbs,
                np.array([c.thumb for c in candidates], np.uint8).reshape(-1, *THUMB_SIZE),
            ]
        )
        self.store.write_pool(frames)
        self.store.write_thumbs(thumbs)
        self.store.record(entry)
        self.frames, self.thumbs = frames, thumbs
        self.folders.update(c.frame.folder for c in candidates)
        self.sources.update(c.frame.source for c in candidates)


def dedupe(
    pool: Pool, candidates: list[Candidate], max_distance: float
) -> tuple[list[Candidate], list[Candidate]]:
    """(kept in capture order, dropped): shot middles are preferred, then time order. The
    dropped frames' files are deleted."""
    order = sorted(candidates, key=lambda c: (c.frame.reason != "shot", c.frame.time or 0))
    if not order:
        return [], []
    keep = pool.keep(np.stack([c.thumb for c in order]), max_distance)
    kept = [c for c, k in zip(order, keep, strict=True) if k]
    dropped = [c for c, k in zip(order, keep, strict=True) if not k]
    for c in dropped:
        c.file.unlink(missing_ok=True)
    return sorted(kept, key=lambda c: (c.frame.time or 0, c.frame.path)), dropped
