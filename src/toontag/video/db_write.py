"""Writing an index: one video's analysis (`VideoRecord`) in one transaction, so a killed
indexing run leaves either the whole video or none of it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from toontag.video.db_file import IndexFile
from toontag.video.segments import Segment


@dataclass
class VideoRecord:
    """Everything one video contributes to the index."""

    path: str
    sha256: str
    bytes: int
    mtime_ns: int
    duration: float
    fps: float | None
    width: int
    height: int
    frames: int
    sample_fps: float
    settings: dict
    seconds: float
    times: np.ndarray = field(repr=False)
    probabilities: np.ndarray = field(repr=False)
    shots: list[tuple[float, float]] = field(repr=False)
    segments: list[Segment] = field(repr=False)
    picture: dict | None = None  # `Picture.to_dict()`: the borders cropped, if any


class IndexWrites(IndexFile):
    """Writing videos; part of `Index`, which sets `classes` from the meta."""

    classes: tuple[str, ...]

    def touch(self, video_id: int, mtime_ns: int) -> None:
        """Record a new mtime for a video whose content did not change."""
        with self.transaction():
            self.db.execute("UPDATE videos SET mtime_ns = ? WHERE id = ?", (mtime_ns, video_id))

    def write(self, record: VideoRecord) -> int:
        """Replace `record.path`'s rows with `record`, all in one transaction."""
        with self.transaction():
            self.db.execute("DELETE FROM videos WHERE path = ?", (record.path,))
            cursor = self.db.execute(
                "INSERT INTO videos (path, sha256, bytes, mtime_ns, duration, fps, width, height,"
                " frames, sample_fps, settings, seconds, indexed_at, picture)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.path,
                    record.sha256,
                    record.bytes,
                    record.mtime_ns,
                    record.duration,
                    record.fps,
                    record.width,
                    record.height,
                    record.frames,
                    record.sample_fps,
                    json.dumps(record.settings, sort_keys=True),
                    record.seconds,
                    now(),
                    None if record.picture is None else json.dumps(record.picture),
                ),
            )
            video_id = cursor.lastrowid
            self.db.executemany(
                "INSERT INTO shots VALUES (?, ?, ?)", [(video_id, a, b) for a, b in record.shots]
            )
            self.db.executemany(
                "INSERT INTO segments VALUES (?, ?, ?, ?, ?)",
                [
                    (video_id, self.classes[s.character], s.start, s.end, s.confidence)
                    for s in record.segments
                ],
            )
            probabilities = np.asarray(record.probabilities, dtype="<f4")
            self.db.executemany(
                "INSERT INTO frames VALUES (?, ?, ?)",
                [
                    (video_id, float(t), p.tobytes())
                    for t, p in zip(record.times, probabilities, strict=True)
                ],
            )
        return video_id


def now() -> str:
    """The local time as the index stores it (a video's indexed_at, the index's created)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
