"""The SQLite file under an index: opening it, write transactions, WAL, errors in one line.

Several processes may share one index: every write transaction takes the write lock at its
start (BEGIN IMMEDIATE) and waits up to TOONTAG_DB_TIMEOUT seconds for another writer to
finish. Readers open an index on a read-only location too, as long as no write-ahead log is
pending there. Whatever SQLite refuses ends in one line naming the file and the real reason.

A file is looked at first through an immutable connection, which creates nothing beside it:
opening another application's database in WAL mode as SQLite usually does would leave empty
`-wal` and `-shm` files next to it, though it is then refused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from toontag.errors import IndexDbError

BUSY_TIMEOUT = 60.0  # seconds to wait for another process's write; TOONTAG_DB_TIMEOUT overrides
# SQLite's primary result codes (an error's sqlite_errorcode & 0xFF)
READONLY, BUSY, LOCKED, CANTOPEN, FULL, NOTADB = 8, 5, 6, 14, 13, 26


class IndexFile:
    """An open index file: read-only (`readonly`, the default), else opened to write, made if
    need be. Its connection `db` is in autocommit mode: writes go through `transaction()`.
    `meta` holds the meta table's rows once read (`Index` reads and checks them)."""

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
        else:
            self.before_writing()  # before the connection: a statement makes -wal/-shm files
            self.db = self._connect("rwc")
            with self.errors():  # a commit is on the disk (the WAL synced) when it returns,
                # whatever the SQLite build's default (some sync WAL only at a checkpoint)
                self.db.execute("PRAGMA synchronous = FULL")

    def before_writing(self) -> None:
        """Checks of the file a writer runs before it connects (none here)."""

    def _connect(self, mode: str) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path.resolve()))}?mode={mode}"
        with self.errors():
            db = sqlite3.connect(
                uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA foreign_keys = ON")
        return db

    def first_look(self, check) -> None:
        """`check(db)` on an immutable connection to the file, which makes no `-wal`, `-shm`
        or journal beside it, so that another application's database is refused (by `check`
        raising) untouched. Skipped for a new or empty file, and where a write-ahead log with
        content is pending: the file alone may then be out of date (an index made a moment
        ago can be whole only in its log), and the full open decides."""
        if not self.path.is_file() or not self.path.stat().st_size or self._pending_wal():
            return
        db = self._connect("ro&immutable=1")
        try:
            with self.errors():
                check(db)
        finally:
            db.close()

    def _pending_wal(self) -> int:
        """The size of the write-ahead log beside the file (0 where there is none)."""
        wal = Path(f"{self.path}-wal")
        return wal.stat().st_size if wal.is_file() else 0

    def _open_reader(self) -> None:
        """Open read-only, once a first look found an index (see `first_look`). Where SQLite
        cannot make the WAL's shared-memory file (a read-only mount or folder), open the file
        as immutable, which is exact only when no write-ahead log with content lies beside
        it: else refuse rather than answer with stale data."""
        self.first_look(self._meta)
        try:
            self.db, self.meta = self._read("ro")
            return
        except IndexDbError as e:
            readable = os.access(self.path, os.R_OK)
            if _code(e.__cause__) not in (READONLY, CANTOPEN) or not readable:
                raise
        if self._pending_wal():
            wal = Path(f"{self.path}-wal")
            raise IndexDbError(
                f"{self.path}: cannot be read here: its pending write-ahead log ({wal.name}, "
                f"{self._pending_wal()} bytes) needs a shared-memory file that cannot be made in "
                "this read-only folder; open the index once where it is writable, or copy it "
                f"with {wal.name} to a writable folder"
            )
        self.db, self.meta = self._read("ro&immutable=1")

    def _read(self, mode: str) -> tuple[sqlite3.Connection, dict[str, str]]:
        """A read-only connection and the meta table's rows, or an error saying what the
        file holds instead."""
        db = self._connect(mode)
        try:
            with self.errors():
                return db, self._meta(db)
        except BaseException:
            db.close()
            raise

    def _meta(self, db: sqlite3.Connection) -> dict[str, str]:
        """The meta table's rows, or an error saying what the file holds instead."""
        found = tables(db)
        if "meta" not in found:
            what = f"holding tables {table_list(found)}" if found else "an empty database"
            raise IndexDbError(f"{self.path}: not a toontag index: {what}")
        return dict(db.execute("SELECT key, value FROM meta"))

    def use_wal(self) -> None:
        """Switch the index to WAL (a no-op once it is). The switch needs the file to itself
        and, while another process reads it, SQLite answers busy at once instead of calling
        the busy handler: so it is retried here until the timeout."""
        deadline = time.monotonic() + self.timeout
        with self.errors():
            while True:
                try:
                    self.db.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as e:
                    if _code(e) not in (BUSY, LOCKED) or time.monotonic() > deadline:
                        raise
                time.sleep(0.01)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction holding the write lock from its start (BEGIN IMMEDIATE), so
        that concurrent writers queue on the busy timeout instead of failing on an upgrade."""
        with self.errors():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    @contextmanager
    def errors(self) -> Iterator[None]:
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

    def close(self) -> None:
        self.db.close()


def busy_timeout() -> float:
    """Seconds a write waits for another process: TOONTAG_DB_TIMEOUT, else BUSY_TIMEOUT."""
    text = os.environ.get("TOONTAG_DB_TIMEOUT", "")
    try:
        return float(text) if text else BUSY_TIMEOUT
    except ValueError:
        raise IndexDbError(f"TOONTAG_DB_TIMEOUT={text!r}: not a number of seconds") from None


def tables(db: sqlite3.Connection) -> set[str]:
    """The names of the tables in `db`, SQLite's own left out."""
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def table_list(names: set[str]) -> str:
    """Table names for an error message: sorted, at most five, then how many more."""
    shown = sorted(names)
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def _code(error: BaseException | None) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF
