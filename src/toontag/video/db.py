"""The index: one SQLite file (WAL mode) holding who is on screen when, for many videos.

    meta      schema version, toontag version, the model's id, name, classes, thresholds
    videos    path, content hash, size, mtime, duration, frame rate, sampling, wall time, and
              where the picture is (black borders found and cropped: `borders.Picture`)
    shots     shot boundaries (PySceneDetect)
    segments  per-character time ranges with their mean confidence
    frames    every sampled frame's probabilities (float32, class order)

One index, one model: its classes give the search language its names. A video is written in
one transaction, so a killed indexing run leaves either the whole video or none of it.

Several processes may share one index, and readers open one on a read-only location too
(`db_file`). Another application's database is refused before anything is written to it.
`Index` is the front door: this module makes and checks the tables and the meta, `db_read`
holds the queries and `db_write` writes a video.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from toontag import __version__
from toontag.errors import IndexDbError
from toontag.video.db_file import table_list, tables
from toontag.video.db_read import IndexReads
from toontag.video.db_write import IndexWrites, now

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


class Index(IndexReads, IndexWrites):
    """An open index. `Index.create(path, model)` to write, `Index(path)` to read only.

    `timeout` is how long a write waits for another process holding the index (default:
    TOONTAG_DB_TIMEOUT, else 60 s); then it fails with an `IndexDbError` saying so."""

    def __init__(self, path: Path | str, *, readonly: bool = True, timeout: float | None = None):
        super().__init__(path, readonly=readonly, timeout=timeout)
        if readonly:
            self._check_meta()
        else:
            self._prepare()

    def before_writing(self) -> None:
        """Another application's database is refused untouched (see `first_look`)."""
        self.first_look(self._refuse_foreign)

    def _prepare(self, meta: dict[str, str] | None = None) -> None:
        """Read the meta, or, for a new (empty) file, make the tables with `meta`. One write
        transaction, so that of processes creating one index at once the first makes it and
        the others find it; it first checks the file is new or a toontag index, so another
        application's database is refused with nothing written to it (nor switched to WAL)."""
        with self.transaction():
            present = self._refuse_foreign(self.db)
            found = (
                dict(self.db.execute("SELECT key, value FROM meta")) if "meta" in present else {}
            )
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
            self.use_wal()

    def _refuse_foreign(self, db: sqlite3.Connection) -> set[str]:
        """The tables in `db`, once it is known to be new or a toontag index: its meta has a
        schema version, or it holds only toontag's tables, all empty (an older toontag wrote
        them before the meta rows). Another application's database is refused."""
        present = tables(db)
        schema = "SELECT 1 FROM meta WHERE key = 'schema'"
        if not present or ("meta" in present and db.execute(schema).fetchone()):
            return present
        if present <= TABLES and not any(
            db.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() for name in present
        ):
            return present
        raise IndexDbError(
            f"{self.path}: not a toontag index: an SQLite database holding tables "
            f"{table_list(present)} (another application's?); index into a new --db file"
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
                    "created": now(),
                }
            )
        if index.model_id != model.model_id:
            raise IndexDbError(
                f"{index.path}: made with model {index.model_id} ({list(index.classes)}), "
                f"not this run's {model.model_id}: index into another --db"
            )
        return index
