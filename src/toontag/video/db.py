"""The index: one SQLite file (WAL mode) holding who is on screen when, for many videos.

    meta      schema version, toontag version, the model's id, name, classes, thresholds
    videos    path, content hash, size, mtime, duration, frame rate, sampling, wall time
    shots     shot boundaries (PySceneDetect)
    segments  per-character time ranges with their mean confidence
    frames    every sampled frame's probabilities (float32, class order)

One index, one model: its classes give the search language its names. A video is written in
one transaction, so a killed indexing run leaves either the whole video or none of it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from toontag import __version__
from toontag.errors import IndexDbError
from toontag.video.segments import Segment

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    duration REAL NOT NULL,
    fps REAL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    sample_fps REAL NOT NULL,
    settings TEXT NOT NULL,
    seconds REAL NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shots (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    start REAL NOT NULL, "end" REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    character TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL, confidence REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS frames (
    video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    time REAL NOT NULL, probabilities BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS shots_video ON shots(video_id);
CREATE INDEX IF NOT EXISTS segments_video ON segments(video_id, character);
CREATE INDEX IF NOT EXISTS frames_video ON frames(video_id, time);
"""
VIDEO_COLUMNS = "id, path, duration, fps, width, height, sample_fps"  # what readers get


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


class Index:
    """An open index. `Index.create(path, model)` to write, `Index(path)` to read only."""

    def __init__(self, path: Path | str, *, readonly: bool = True):
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise IndexDbError(
                f"{self.path}: no such index (make one: toontag index RUN VIDEO --db {self.path})"
            )
        uri = f"file:{quote(str(self.path.resolve()))}?mode={'ro' if readonly else 'rwc'}"
        try:
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.executescript(SCHEMA)
            self.meta = dict(self.db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as e:
            raise IndexDbError(f"{self.path}: not a toontag index ({e})") from e
        if readonly or self.meta:
            self._check_meta()

    def _check_meta(self) -> None:
        if "schema" not in self.meta:
            raise IndexDbError(f"{self.path}: not a toontag index (no schema version)")
        if int(self.meta["schema"]) != SCHEMA_VERSION:
            raise IndexDbError(
                f"{self.path}: index schema {self.meta['schema']} (made by toontag "
                f"{self.meta.get('toontag', '?')}); toontag {__version__} reads schema "
                f"{SCHEMA_VERSION}: re-index into a new --db"
            )
        self.classes = tuple(json.loads(self.meta["classes"]))
        self.thresholds = tuple(json.loads(self.meta["thresholds"]))
        self.model_id = self.meta["model_id"]

    @classmethod
    def create(cls, path: Path | str, model) -> Index:
        """Open `path` for writing with `model` (an engine), making it if need be; an index
        made with another model is refused."""
        index = cls(path, readonly=False)
        if not index.meta:
            meta = {
                "schema": str(SCHEMA_VERSION),
                "toontag": __version__,
                "model_id": model.model_id,
                "model": model.model,
                "classes": json.dumps(list(model.classes)),
                "thresholds": json.dumps([float(t) for t in model.thresholds]),
                "created": _now(),
            }
            with index.db:
                index.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            index.meta = meta
            index._check_meta()
        elif index.model_id != model.model_id:
            raise IndexDbError(
                f"{index.path}: made with model {index.model_id} ({list(index.classes)}), "
                f"not this run's {model.model_id}: index into another --db"
            )
        return index

    def lookup(self, path: str) -> dict | None:
        cursor = self.db.execute(
            "SELECT id, sha256, bytes, mtime_ns, settings FROM videos WHERE path = ?", (path,)
        )
        row = cursor.fetchone()
        return _row(cursor, row) if row else None

    def touch(self, video_id: int, mtime_ns: int) -> None:
        with self.db:
            self.db.execute("UPDATE videos SET mtime_ns = ? WHERE id = ?", (mtime_ns, video_id))

    def write(self, record: VideoRecord) -> int:
        """Replace `record.path`'s rows with `record`, all in one transaction."""
        with self.db:
            self.db.execute("DELETE FROM videos WHERE path = ?", (record.path,))
            cursor = self.db.execute(
                "INSERT INTO videos (path, sha256, bytes, mtime_ns, duration, fps, width, height,"
                " frames, sample_fps, settings, seconds, indexed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    _now(),
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

    # reading

    def videos(self) -> list[dict]:
        cursor = self.db.execute(f"SELECT {VIDEO_COLUMNS} FROM videos ORDER BY path")
        return [_row(cursor, r) for r in cursor.fetchall()]

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
        return _row(cursor, row) if row else None

    def segments(self, video_id: int) -> list[Segment]:
        rows = self.db.execute(
            'SELECT character, start, "end", confidence FROM segments WHERE video_id = ?'
            " ORDER BY start",
            (video_id,),
        )
        index = {name: i for i, name in enumerate(self.classes)}
        return [Segment(index[c], a, b, conf) for c, a, b, conf in rows]

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

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _row(cursor: sqlite3.Cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}
