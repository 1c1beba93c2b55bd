"""A pool's candidate frames: each written as a JPEG with its pool row, its thumbnail made in
batches for the near-duplicate test (`labelling.dedupe`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from toontag.data.images import resize_rgb
from toontag.data.split import SOURCE_SIZE, THUMB_SIZE, thumbnails
from toontag.errors import ProjectError
from toontag.labelling.project import PoolFrame

MAX_SIDE = 1280  # pixels on a saved frame's long side; larger frames are scaled down
JPEG_QUALITY = 92  # high enough that labelling and features see what the video shows
THUMB_BATCH = 64  # frames (at 112x192) waiting for their thumbnails


@dataclass
class Candidate:
    frame: PoolFrame
    file: Path
    thumb: np.ndarray | None = None  # (14, 24) uint8, made in batches


class Thumbnails:
    """Candidates' thumbnails made `THUMB_BATCH` at a time: one torch call a frame costs
    tens of times more, and the frames at thumbnail size are small enough to wait."""

    def __init__(self):
        self.waiting: list[tuple[Candidate, np.ndarray]] = []

    def add(self, candidate: Candidate, image: Image.Image) -> None:
        self.waiting.append((candidate, np.array(resize_rgb(image, SOURCE_SIZE))))
        if len(self.waiting) >= THUMB_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            made = uint8_thumbnails([pixels for _, pixels in self.waiting])
            for (candidate, _), thumb in zip(self.waiting, made, strict=True):
                candidate.thumb = thumb
            self.waiting.clear()


def thumbnail(image: Image.Image) -> np.ndarray:
    """A picture's 14x24 uint8 thumbnail, as the split and its audit compute it."""
    return uint8_thumbnails([np.array(resize_rgb(image, SOURCE_SIZE))])[0]


def uint8_thumbnails(pixels: list[np.ndarray]) -> np.ndarray:
    """(N, 14, 24) uint8 thumbnails of frames already at the split's `SOURCE_SIZE` (writable
    arrays: torch warns about read-only ones)."""
    if not pixels:
        return np.zeros((0, *THUMB_SIZE), np.uint8)
    return np.round(thumbnails(np.stack(pixels))).astype(np.uint8)


def save_frame(image: Image.Image, file: Path, frame: PoolFrame, batch: Thumbnails) -> Candidate:
    """Write `image` (its long side capped at `MAX_SIDE`) as a JPEG; its candidate, whose
    thumbnail `batch` makes."""
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        image.save(file, "JPEG", quality=JPEG_QUALITY)
    except OSError as e:
        raise ProjectError(file, f"cannot write it ({e.strerror or e})") from None
    candidate = Candidate(replace(frame, width=image.width, height=image.height), file)
    batch.add(candidate, image)
    return candidate
