"""The index: one SQLite file (WAL mode) holding who is on screen when, for many videos.

    meta      schema version, toontag version, the model's id, name, classes, thresholds
    videos    path, content hash, size, mtime, duration, frame rate, sampling, wall time, and
              where the picture is (black borders found and cropped: `borders.Picture`)
    shots     shot boundaries (PySceneDetect)
    segments  per-character time ranges with their mean confidence
    frames    every sampled frame's probabilities (float32, class order)

One index, one model: its classes give the search language its names. A video is written in
one transaction, so a killed indexing run leaves either the whole video or none of it.

Several processes may share one index: every write transaction takes the write lock at its
start (BEGIN IMMEDIATE) and waits up to TOONTAG_DB_TIMEOUT seconds for another writer to
finish. Another application's database is refused before anything is written to it. Readers
open an index on a read-only location too, as long as no write-ahead log is pending there.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from toontag import __version__
from toontag.errors import IndexDbError
from toontag.video.segments import Segment

SCHEMA_VERSION = 2  # 2: videos.picture
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
    indexed_at TEXT NOT NULL,
    picture TEXT
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
TABLES = frozenset({"meta", "videos", "shots", "segments", "frames"})
VIDEO_COLUMNS = "id, path, duration, fps, width, height, sample_fps, picture"  # what readers get
BUSY_TIMEOUT = 60.0  # seconds to wait for another process's write; TOONTAG_DB_TIMEOUT overrides
# SQLite's primary result codes (an error's sqlite_errorcode & 0xFF)
READONLY, BUSY, LOCKED, CANTOPEN, FULL, NOTADB = 8, 5, 6, 14, 13, 26


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


class Index:
    """An open index. `Index.create(path, model)` to write, `Index(path)` to read only.

    `timeout` is how long a write waits for another process holding the index (default:
    TOONTAG_DB_TIMEOUT, else 60 s); then it fails with an `IndexDbError` saying so."""

    def __init__(self, path: Path | str, *, readonly: bool = True, timeout: float | None = None):
        self.path = Path(path)
        self.readonly = readonly
        self.timeout = busy_timeout() if timeout is None else timeout
        self.meta: dict[str, str] = {}
        if readonly and not self.path.is_file():
            raise IndexDbError(
                f"{self.path}: no such index (make one: toontag index RUN VIDEO --db {self.path})"
            )
        if readonly:
            self._open_reader()
            self._check_meta()
        else:
            self.db = self._connect("rwc")
            self._prepare()

    def _connect(self, mode: str) -> sqlite3.Connection:
        """A connection in autocommit mode: writes go through `_transaction`."""
        uri = f"file:{quote(str(self.path.resolve()))}?mode={mode}"
        with self._errors():
            db = sqlite3.connect(
                uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA foreign_keys = ON")
        return db

    def _open_reader(self) -> None:
        """Open read-only. Where SQLite cannot make the WAL's shared-memory file (a read-only
        mount or folder), open the file as immutable, which is exact only when no write-ahead
        log with content lies beside it: else refuse rather than answer with stale data."""
        try:
            self.db, self.meta = self._read("ro")
            return
        except IndexDbError as e:
            readable = os.access(self.path, os.R_OK)
            if _code(e.__cause__) not in (READONLY, CANTOPEN) or not readable:
                raise
        wal = Path(f"{self.path}-wal")
        if wal.is_file() and wal.stat().st_size > 0:
            raise IndexDbError(
                f"{self.path}: cannot be read here: its pending write-ahead log ({wal.name}, "
                f"{wal.stat().st_size} bytes) needs a shared-memory file that cannot be made in "
                "this read-only folder; open the index once where it is writable, or copy it "
                f"with {wal.name} to a writable folder"
            )
        self.db, self.meta = self._read("ro&immutable=1")

    def _read(self, mode: str) -> tuple[sqlite3.Connection, dict[str, str]]:
        """A read-only connection and the meta table's rows, or an error saying what the
        file holds instead."""
        db = self._connect(mode)
        try:
            with self._errors():
                tables = _tables(db)
                if "meta" not in tables:
                    what = f"holding tables {_names(tables)}" if tables else "an empty database"
                    raise IndexDbError(f"{self.path}: not a toontag index: {what}")
                return db, dict(db.execute("SELECT key, value FROM meta"))
        except BaseException:
            db.close()
            raise

    def _prepare(self, meta: dict[str, str] | None = None) -> None:
        """Read the meta, or, for a new (empty) file, make the tables with `meta`. One write
        transaction, so that of processes creating one index at once the first makes it and
        the others find it; it first checks the file is new or a toontag index, so another
        application's database is refused with nothing written to it (nor switched to WAL)."""
        with self._transaction():
            tables = _tables(self.db)
            if tables and not self._ours(tables):
                raise IndexDbError(
                    f"{self.path}: not a toontag index: an SQLite database holding tables "
                    f"{_names(tables)} (another application's?); index into a new --db file"
                )
            found = dict(self.db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
            self.meta = found
            if found:
                self._check_meta()  # another schema is refused before anything is written
            elif meta:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
                self.meta = dict(meta)
                self._check_meta()
        if self.meta:
            self._use_wal()

    def _use_wal(self) -> None:
        """Switch the index to WAL (a no-op once it is). The switch needs the file to itself
        and, while another process reads it, SQLite answers busy at once instead of calling
        the busy handler: so it is retried here until the timeout."""
        deadline = time.monotonic() + self.timeout
        with self._errors():
            while True:
                try:
                    self.db.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as e:
                    if _code(e) not in (BUSY, LOCKED) or time.monotonic() > deadline:
                        raise
                time.sleep(0.01)

    def _ours(self, tables: set[str]) -> bool:
        """A toontag index: its meta has a schema version, or it holds only toontag's tables,
        all empty (an older toontag wrote them before the meta rows)."""
        schema = "SELECT 1 FROM meta WHERE key = 'schema'"
        if "meta" in tables and self.db.execute(schema).fetchone():
            return True
        return tables <= TABLES and not any(
            self.db.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() for name in tables
        )

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
    def create(cls, path: Path | str, model, *, timeout: float | None = None) -> Index:
        """Open `path` for writing with `model` (an engine), making it if need be; an index
        made with another model is refused, as is any other non-empty database."""
        index = cls(path, readonly=False, timeout=timeout)
        if not index.meta:
            index._prepare(
                {
                    "schema": str(SCHEMA_VERSION),
                    "toontag": __version__,
                    "model_id": model.model_id,
                    "model": model.model,
                    "classes": json.dumps(list(model.classes)),
                    "thresholds": json.dumps([float(t) for t in model.thresholds]),
                    "created": _now(),
                }
            )
        if index.model_id != model.model_id:
            raise IndexDbError(
                f"{index.path}: made with model {index.model_id} ({list(index.classes)}), "
                f"not this run's {model.model_id}: index into another --db"
            )
        return index

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction holding the write lock from its start (BEGIN IMMEDIATE), so
        that concurrent writers queue on the busy timeout instead of failing on an upgrade."""
        with self._errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's errors as one line naming this file and the real reason."""
        try:
            yield
        except sqlite3.Error as e:
            raise IndexDbError(f"{self.path}: {self._reason(e)}") from e

    def _reason(self, error: sqlite3.Error) -> str:
        code, folder = _code(error), self.path.parent
        if code in (BUSY, LOCKED):
            return (
                f"locked by another process for over {self.timeout:g} s (another toontag index "
                "run?): try again when it is done (TOONTAG_DB_TIMEOUT sets the wait)"
            )
        if code == NOTADB:
            return "not a toontag index: not an SQLite database"
        if code == CANTOPEN:
            if self.path.is_dir():
                return "cannot open: a folder, not an index file"
            if not folder.is_dir():
                return f"cannot open: no such folder {folder}"
            if self.path.exists() and not os.access(self.path, os.R_OK):
                return "cannot open: permission denied (reading the file)"
            if not os.access(folder, os.W_OK):
                return f"cannot open: permission denied (writing in {folder})"
        if code == READONLY:
            return f"cannot write: {error} (a read-only file, folder or mount?)"
        if code == FULL:
            return "cannot write: the disk is full"
        return f"cannot use the index: {error}"

    def lookup(self, path: str) -> dict | None:
        with self._errors():
            cursor = self.db.execute(
                "SELECT id, sha256, bytes, mtime_ns, settings FROM videos WHERE path = ?", (path,)
            )
            row = cursor.fetchone()
        return _row(cursor, row) if row else None

    def touch(self, video_id: int, mtime_ns: int) -> None:
        with self._transaction():
            self.db.execute("UPDATE videos SET mtime_ns = ? WHERE id = ?", (mtime_ns, video_id))

    def write(self, record: VideoRecord) -> int:
        """Replace `record.path`'s rows with `record`, all in one transaction."""
        with self._transaction():
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
                    _now(),
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

    # reading

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

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def busy_timeout() -> float:
    """Seconds a write waits for another process: TOONTAG_DB_TIMEOUT, else BUSY_TIMEOUT."""
    text = os.environ.get("TOONTAG_DB_TIMEOUT", "")
    try:
        return float(text) if text else BUSY_TIMEOUT
    except ValueError:
        raise IndexDbError(f"TOONTAG_DB_TIMEOUT={text!r}: not a number of seconds") from None


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def _code(error: BaseException | None) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _names(tables: set[str]) -> str:
    shown = sorted(tables)
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def _row(cursor: sqlite3.Cursor, row) -> dict:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


def _video(cursor: sqlite3.Cursor, row) -> dict:
    video = _row(cursor, row)
    return {**video, "picture": json.loads(video["picture"]) if video["picture"] else None}
