"""The index file: concurrent writers, busy locks, read-only locations, foreign databases."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from toontag.errors import IndexDbError
from toontag.video.db import SCHEMA_VERSION, Index

ROOT = os.geteuid() == 0  # chmod stops nobody's writes as root: such checks deny another way


@dataclass(frozen=True)
class Tagger:
    """A stand-in engine: its identity for the index, and a constant tag for every frame
    (picklable, so spawned processes get it too)."""

    model_id: str = "stub-1"
    model: str = "stub"
    classes: tuple[str, ...] = ("sakir", "remzi")
    thresholds: tuple[float, ...] = (0.5, 0.5)
    image_size: tuple[int, int] = (16, 16)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.tile(np.float32([0.9, 0.1]), (len(images), 1))


def index_videos(*args, **kwargs):
    """The indexer, imported late: processes spawned by this module need only the index."""
    from toontag.video.indexer import index_videos

    return index_videos(*args, **kwargs)


@pytest.fixture
def videos(tmp_path, encode_video) -> list[Path]:
    images = [np.full((32, 48, 3), 25 * i, np.uint8) for i in range(8)]
    times = [0.5 * i for i in range(8)]
    return [encode_video(tmp_path / f"{name}.mp4", images, times) for name in ("a", "b")]


def _create_many(paths: list[str], barrier) -> None:
    """In a spawned process: create each index in step with the other processes."""
    for path in paths:
        barrier.wait(timeout=60)
        try:
            Index.create(path, Tagger()).close()
        except BaseException:
            barrier.abort()  # the others stop at once instead of waiting out the timeout
            raise


def test_processes_creating_the_same_new_index_at_once_all_succeed(tmp_path):
    """Item 6: two first indexers on a new file used to race (UNIQUE constraint failed)."""
    context = multiprocessing.get_context("spawn")
    paths = [str(tmp_path / f"index{i}.db") for i in range(30)]
    barrier = context.Barrier(4)
    workers = [context.Process(target=_create_many, args=(paths, barrier)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        if worker.is_alive():
            worker.terminate()
    assert [w.exitcode for w in workers] == [0] * 4
    for path in paths:
        index = Index(path)
        assert index.model_id == "stub-1" and index.meta["schema"] == str(SCHEMA_VERSION)
        assert index.db.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == len(index.meta)


def _hold_write_lock(path: Path, *, after: threading.Event, seconds: float) -> threading.Thread:
    """Another writer: takes the write lock, then keeps it `seconds` after `after` is set."""
    taken = threading.Event()

    def hold() -> None:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        taken.set()
        after.wait(60)
        time.sleep(seconds)
        db.execute("ROLLBACK")
        db.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    taken.wait(10)
    return thread


def test_a_writer_holding_the_lock_longer_than_5_s_only_delays_the_run(
    tmp_path, videos, monkeypatch
):
    """Item 6: the lock used to be waited for 5 s (Python's default), then the run died."""
    store = Index.create(tmp_path / "index.db", Tagger())
    writing = threading.Event()
    write = Index.write

    def announced(self, record):
        writing.set()
        return write(self, record)

    monkeypatch.setattr(Index, "write", announced)
    holder = _hold_write_lock(store.path, after=writing, seconds=5.5)
    outcomes = index_videos(store, Tagger(), videos)
    holder.join()
    assert [o.status for o in outcomes] == ["indexed", "indexed"]


def test_a_lock_held_past_the_busy_timeout_stops_with_one_line(tmp_path, videos, monkeypatch):
    """Item 6: the timeout (TOONTAG_DB_TIMEOUT, 60 s by default) ends in a line naming the
    file and the other process, not in a traceback."""
    monkeypatch.setenv("TOONTAG_DB_TIMEOUT", "0.2")
    path = tmp_path / "index.db"
    store = Index.create(path, Tagger())
    release = threading.Event()
    holder = _hold_write_lock(path, after=release, seconds=0)
    with pytest.raises(IndexDbError, match="locked by another process for over 0.2 s") as info:
        index_videos(store, Tagger(), videos)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    with pytest.raises(IndexDbError, match="locked by another process"):
        Index.create(path, Tagger(), timeout=0.1)
    release.set()
    holder.join()
    assert [o.status for o in index_videos(store, Tagger(), videos)] == ["indexed", "indexed"]


@pytest.fixture
def read_only():
    """Make a folder read-only: chmod 0555 (0444 files) when not root; for root, whom chmod
    does not stop, SQLite is also kept from making the shared-memory file (`-shm` is a
    dangling link it refuses to follow), the one write a reader needs."""
    made: list[Path] = []

    def deny(folder: Path, db: Path) -> None:
        if ROOT:
            (folder / f"{db.name}-shm").symlink_to(folder / "nowhere" / "shm")
        for path in folder.iterdir():
            if not path.is_symlink():
                path.chmod(0o444)
        folder.chmod(0o555)
        made.append(folder)

    yield deny
    for folder in made:
        folder.chmod(0o755)
        for path in folder.iterdir():
            if not path.is_symlink():
                path.chmod(0o644)


def _indexed_copy(tmp_path: Path, videos, *, with_wal: bool) -> Path:
    """An index with two videos copied into a folder of its own; `with_wal` copies it while
    its writer is open, so the second video is only in the write-ahead log."""
    source = tmp_path / "source" / "index.db"
    source.parent.mkdir()
    store = Index.create(source, Tagger())
    index_videos(store, Tagger(), videos[:1])
    target = tmp_path / "mount" / "index.db"
    target.parent.mkdir()
    if with_wal:
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        index_videos(store, Tagger(), videos[1:])
        shutil.copy(source, target)
        shutil.copy(f"{source}-wal", f"{target}-wal")
        assert Path(f"{target}-wal").stat().st_size > 0
        store.close()
    else:
        index_videos(store, Tagger(), videos[1:])
        store.close()
        assert not Path(f"{source}-wal").exists()
        shutil.copy(source, target)
    return target


def test_an_index_on_a_read_only_location_is_readable(tmp_path, videos, read_only):
    """Item 7: WAL mode needs the `-shm` file; the index used to be 'not a toontag index'."""
    path = _indexed_copy(tmp_path, videos, with_wal=False)
    read_only(path.parent, path)
    index = Index(path)
    assert [Path(v["path"]).name for v in index.videos()] == ["a.mp4", "b.mp4"]
    assert index.screen_time(1)["sakir"] > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        index.db.execute("DELETE FROM videos")


def test_a_pending_write_ahead_log_is_read_or_refused_never_skipped(tmp_path, videos, read_only):
    """Item 7: an immutable open would ignore the `-wal` and answer with stale data; where
    the log cannot be read the error says so."""
    path = _indexed_copy(tmp_path, videos, with_wal=True)
    denied = tmp_path / "denied" / "index.db"
    denied.parent.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{path}{suffix}", f"{denied}{suffix}")
    assert len(Index(path).videos()) == 2  # writable: the log is read
    read_only(denied.parent, denied)
    with pytest.raises(IndexDbError, match="pending write-ahead log") as info:
        Index(denied)
    assert str(info.value).startswith(f"{denied}: ") and "\n" not in str(info.value)


@pytest.mark.skipif(ROOT, reason="root reads a 0000 file: permission denied cannot happen")
def test_an_unreadable_index_says_permission_denied(tmp_path):
    path = tmp_path / "index.db"
    Index.create(path, Tagger()).close()
    path.chmod(0)
    try:
        with pytest.raises(IndexDbError, match="permission denied"):
            Index(path)
    finally:
        path.chmod(0o644)


def test_cannot_open_errors_say_the_real_reason(tmp_path):
    """Item 7: not only 'not a toontag index' whatever went wrong."""
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database at all\n" * 10)
    with pytest.raises(IndexDbError, match="not a toontag index: not an SQLite database"):
        Index(text)
    with pytest.raises(IndexDbError, match="not a toontag index: not an SQLite database"):
        Index.create(text, Tagger())
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    with pytest.raises(IndexDbError, match="not a toontag index: an empty database"):
        Index(empty)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    with pytest.raises(IndexDbError, match="no such index"):
        Index(folder)


def _foreign(path: Path, table: str) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {table} (key TEXT, value TEXT)")
        db.execute(f"INSERT INTO {table} VALUES ('theme', 'dark')")
    db.close()
    return path.read_bytes()


@pytest.mark.parametrize("table", ["settings", "meta"])
def test_another_applications_database_is_refused_untouched(tmp_path, table):
    """Item 8: indexing into it used to add toontag's tables and switch it to WAL."""
    path = tmp_path / "app.db"
    before = _foreign(path, table)
    for _ in range(2):
        with pytest.raises(IndexDbError, match="not a toontag index") as info:
            Index.create(path, Tagger())
        message = str(info.value)
        assert message.startswith(f"{path}: ") and "\n" not in message and table in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]  # no -wal, -shm, -journal
    with pytest.raises(IndexDbError, match="not a toontag index"):
        Index(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_another_applications_database_is_refused_with_no_file_made_beside_it(
    monkeypatch, capsys, tmp_path, journal
):
    """Issue 26 item 8: reading a database in WAL mode makes its `-wal` and `-shm` files, and
    a read-only connection cannot remove them: `videos` and `search` left both beside another
    application's file (and `index` did too) while refusing it."""
    from tests.test_cli import run_cli

    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA journal_mode = {journal}")
        db.execute("CREATE TABLE notes (key TEXT, value TEXT)")
        db.execute("INSERT INTO notes VALUES ('theme', 'dark')")
    db.close()
    before = path.read_bytes()
    for command in (["videos"], ["search", "sakir"], ["videos", "--json"]):
        code, _, err = run_cli(monkeypatch, capsys, *command, "--db", path)
        assert code == 1 and err == f"error: {path}: not a toontag index: holding tables notes\n"
    with pytest.raises(IndexDbError, match="not a toontag index: an SQLite database holding"):
        Index.create(path, Tagger())
    assert os.listdir(tmp_path) == ["app.db"] and path.read_bytes() == before


def test_an_index_commit_is_synced_to_the_disk_whatever_sqlite_defaults_to(tmp_path, monkeypatch):
    """Some SQLite builds sync a WAL commit only at a checkpoint (synchronous NORMAL): a
    video acknowledged as indexed could be lost in a power cut. A writer asks for FULL."""
    connect = sqlite3.connect

    def built_with_normal(*args, **options):
        db = connect(*args, **options)
        db.execute("PRAGMA synchronous = NORMAL")
        return db

    monkeypatch.setattr(sqlite3, "connect", built_with_normal)
    store = Index.create(tmp_path / "index.db", Tagger())
    assert store.db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    store.close()
