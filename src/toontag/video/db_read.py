"""Reading an index: its videos, and each video's segments, shots, screen time and frames.

Segments come back as `Segment`s whose character is the class's position in the index's
classes, the order its frames' probabilities have too.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from toontag.video.db_file import IndexFile
from toontag.video.segments import Segment

VIDEO_COLUMNS = "id, path, duration, fps, width, height, sample_fps, picture"  # what readers get


class IndexReads(IndexFile):
    """The queries an index answers; part of `Index`, which sets `classes` from the meta."""

    classes: tuple[str, ...]

    def lookup(self, path: str) -> dict | None:
        """What the indexer compares to tell whether `path` changed since it was indexed."""
        with self.errors():
            cursor = self.db.execute(
                "SELECT id, sha256, bytes, mtime_ns, settings FROM videos WHERE path = ?", (path,)
            )
            row = cursor.fetchone()
        return _row(cursor, row) if row else None

    def videos(self) -> list[dict]:
        cursor = self.db.execute(f"SELECT {VIDEO_COLUMNS} FROM videos ORDER BY path")
        return [_video(cursor, r) for r in cursor.fetchall()]

    def video(self, key: int | str) -> dict | None:
        """A video by id, by its path, or by a unique end of its path (a file name)."""
        column = "id" if isinstance(key, int) else "path"
        cursor = self.db.execute(
            f"SELECT {VIDEO_COLUMNS} FROM videos WHERE {column} = ?",
            (key if isinstance(key, int) else str(Path(key).resolve()),),
        )
        row = cursor.fetchone()
        if row is None and isinstance(key, str):
            like = [v for v in self.videos() if v["path"].endswith("/" + key.lstrip("/"))]
            return like[0] if len(like) == 1 else None
        return _video(cursor, row) if row else None

    def segments(self, video_id: int) -> list[Segment]:
        rows = self.db.execute(
            'SELECT character, start, "end", confidence FROM segments WHERE video_id = ?'
            " ORDER BY start",
            (video_id,),
        )
        index = {name: i for i, name in enumerate(self.classes)}
        return [Segment(index[c], a, b, conf) for c, a, b, conf in rows]

    def every_video_segments(self, characters=None) -> Iterator[tuple[int, list[Segment]]]:
        """(video id, its segments) for every video with segments (of `characters` only, when
        given), in one pass over the table (searching an archive asks this once, not once per
        video)."""
        names = list(self.classes if characters is None else characters)
        rows = self.db.execute(
            'SELECT video_id, character, start, "end", confidence FROM segments'
            f" WHERE character IN ({', '.join('?' * len(names))}) ORDER BY video_id, start",
            names,
        )
        index = {name: i for i, name in enumerate(self.classes)}
        for video_id, group in itertools.groupby(rows, key=lambda r: r[0]):
            yield video_id, [Segment(index[c], a, b, conf) for _, c, a, b, conf in group]

    def shots(self, video_id: int) -> list[tuple[float, float]]:
        rows = self.db.execute(
            'SELECT start, "end" FROM shots WHERE video_id = ? ORDER BY start', (video_id,)
        )
        return [tuple(r) for r in rows]

    def screen_time(self, video_id: int) -> dict[str, float]:
        """Seconds each character is on screen (segments of one character never overlap)."""
        rows = self.db.execute(
            'SELECT character, SUM("end" - start) FROM segments WHERE video_id = ?'
            " GROUP BY character",
            (video_id,),
        )
        found = dict(rows)
        return {c: round(found.get(c, 0.0), 3) for c in self.classes}

    def frame_probabilities(self, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.db.execute(
            "SELECT time, probabilities FROM frames WHERE video_id = ? ORDER BY time", (video_id,)
        ).fetchall()
        times = np.array([t for t, _ in rows], dtype=np.float64)
        probs = np.array([np.frombuffer(b, dtype="<f4") for _, b in rows], dtype=np.float32)
        return times, probs.reshape(len(rows), len(self.classes))


def _row(cursor: sqlite3.Cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


def _video(cursor: sqlite3.Cursor, row) -> dict:
    video = _row(cursor, row)
    return {**video, "picture": json.loads(video["picture"]) if video["picture"] else None}
