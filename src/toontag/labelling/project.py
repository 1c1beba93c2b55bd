"""A labelling project: the one folder a user works in, every file in it readable.

    PROJECT/project.json   format version, when it was made, the sources added
    PROJECT/frames/        the pool's pictures: <source>-<8 hex>/<time in ms>.jpg
    PROJECT/pool.csv       one row per pool frame: path,source,time,shot,reason,width,height
    PROJECT/thumbs.npy     the pool's 14x24 thumbnails (uint8), in pool.csv's row order
    PROJECT/labels.csv     path,labels: the manifest `train` and `evaluate` take as it is

Every path in these files is relative to PROJECT (a source outside it is named by its
absolute path), so a project moved elsewhere still works. Each file is replaced whole by an
atomic rename; pool.csv is the truth and is written first, so a killed `toontag frames` leaves
the pool as it was before the source it was adding. thumbs.npy is a cache of pool.csv's rows,
made good from the frames when it falls behind. `classes.txt` is not made here: an empty one
would stop `load_dataset` from reading labels.csv; it comes with the first class named.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from toontag.data.dataset import PROJECT_FILE
from toontag.data.dataset import PROJECT_LABELS as LABELS
from toontag.data.dataset import PROJECT_POOL as POOL
from toontag.data.split import THUMB_SIZE
from toontag.errors import FileError, ProjectError
from toontag.io import csv_text, read_csv, write_bytes, write_json, write_text

FORMAT = 1  # project.json's "format": raised when the layout changes incompatibly
FRAMES = "frames"
THUMBS = "thumbs.npy"
POOL_COLUMNS = ("path", "source", "time", "shot", "reason", "width", "height")
LABEL_COLUMNS = ("path", "labels")
REASONS = ("shot", "regular", "image")  # why a frame is in the pool


@dataclass(frozen=True, slots=True)
class PoolFrame:
    """One row of pool.csv."""

    path: str  # the JPEG, relative to the project
    source: str  # the video or image it came from, relative to the project when inside it
    time: float | None  # seconds into the video; None for a still image
    shot: int | None  # the shot's index in the video; None for a still image
    reason: str  # "shot" (a shot's middle), "regular" (every N seconds) or "image"
    width: int
    height: int

    def row(self) -> list:
        time = "" if self.time is None else f"{self.time:.3f}"
        shot = "" if self.shot is None else self.shot
        return [self.path, self.source, time, shot, self.reason, self.width, self.height]

    @property
    def folder(self) -> str:
        """The frames folder of its source (frames/<source>-<8 hex>)."""
        return self.path.rsplit("/", 1)[0]


class Project:
    """A project folder: `open` (or make) it, read the pool, commit a source's frames."""

    def __init__(self, root: Path, meta: dict):
        self.root = root
        self.meta = meta

    @classmethod
    def open(cls, root: Path | str, *, create: bool = False) -> Project:
        """The project at `root`; with `create`, a new one when `root` is new or a folder
        without one (its other files are made by the first writer, under `lock`)."""
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise ProjectError(root, "is a file; a project is a folder")
        path = root / PROJECT_FILE
        if path.exists():
            project = cls(root, _read_meta(path))
        elif not create:
            raise ProjectError(
                root,
                f"not a labelling project (no {PROJECT_FILE}); start one with "
                f"toontag frames VIDEO --out {root}",
            )
        elif (root / POOL).exists():
            raise ProjectError(
                root,
                f"has {POOL} but no {PROJECT_FILE}: not a toontag project, or its "
                f"{PROJECT_FILE} was lost; name another folder",
            )
        else:
            created = datetime.now(UTC).isoformat(timespec="seconds")
            project = cls(root, {"format": FORMAT, "created": created, "sources": []})
            project._write(path, lambda: write_json(path, project.meta))
        return project

    def _complete(self) -> None:
        """Make the files a project needs that are not there (when new, or after a kill);
        none is overwritten."""
        try:
            (self.root / FRAMES).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ProjectError(self.root / FRAMES, f"cannot make it ({e.strerror or e})") from None
        for name, columns in ((POOL, POOL_COLUMNS), (LABELS, LABEL_COLUMNS)):
            path = self.root / name
            if not path.exists():
                self._write(path, lambda p=path, c=columns: write_text(p, ",".join(c) + "\n"))

    # The pool

    @property
    def pool_path(self) -> Path:
        return self.root / POOL

    def read_pool(self) -> list[PoolFrame]:
        """pool.csv's rows (none before the first frames); a `ProjectError` naming the row
        when one is malformed."""
        if not self.pool_path.exists():
            return []
        try:
            rows = read_csv(self.pool_path, columns=POOL_COLUMNS)
        except FileError as e:
            raise ProjectError(self.pool_path, e.reason) from None
        return [_frame(row, self.pool_path, line) for line, row in enumerate(rows, start=2)]

    def write_pool(self, frames: list[PoolFrame]) -> None:
        text = csv_text(POOL_COLUMNS, (frame.row() for frame in frames))
        self._write(self.pool_path, lambda: write_text(self.pool_path, text))

    def read_thumbs(self) -> np.ndarray | None:
        """thumbs.npy as (N, 14, 24) uint8, or None when it is missing or not that."""
        try:
            thumbs = np.load(self.root / THUMBS, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        ok = thumbs.dtype == np.uint8 and thumbs.ndim == 3 and thumbs.shape[1:] == THUMB_SIZE
        return thumbs if ok else None

    def write_thumbs(self, thumbs: np.ndarray) -> None:
        data = io.BytesIO()
        np.save(data, np.ascontiguousarray(thumbs, dtype=np.uint8), allow_pickle=False)
        path = self.root / THUMBS
        self._write(path, lambda: write_bytes(path, data.getvalue()))

    # The sources

    @property
    def sources(self) -> list[dict]:
        return self.meta["sources"]

    def source(self, **match) -> dict | None:
        """The last source entry whose fields equal `match` (path="...", sha256="...")."""
        found = [s for s in self.sources if all(s.get(k) == v for k, v in match.items())]
        return found[-1] if found else None

    def record(self, entry: dict) -> None:
        """Add or replace (same path) a source's entry in project.json."""
        self.meta["sources"] = [s for s in self.sources if s["path"] != entry["path"]] + [entry]
        path = self.root / PROJECT_FILE
        self._write(path, lambda: write_json(path, self.meta))

    def label(self, path: Path) -> str:
        """How the pool names a source: relative to the project when inside it (so that a
        moved project still finds it), else its absolute path."""
        resolved = Path(path).resolve()
        with contextlib.suppress(ValueError):
            return resolved.relative_to(self.root.resolve()).as_posix()
        return str(resolved)

    def _write(self, path: Path, write) -> None:
        try:
            write()
        except FileError as e:
            raise ProjectError(path, e.reason) from None

    @contextlib.contextmanager
    def lock(self):
        """Hold the project for one writer (a second is told at once, not left to race),
        with project.json read again and the files a project needs made."""
        try:
            import fcntl
        except ImportError:  # no advisory locks on this system: one writer is up to the user
            self._refresh()
            yield
            return
        try:
            handle = open(self.root / ".lock", "a")  # noqa: SIM115  (held until the end)
        except OSError as e:
            raise ProjectError(self.root, f"cannot write in it ({e.strerror or e})") from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise ProjectError(
                    self.root,
                    "in use by another toontag (adding frames, or a label server): wait for "
                    "it or stop it",
                ) from None
            self._refresh()
            yield

    def _refresh(self) -> None:
        """What another writer committed before this one took the lock, and missing files."""
        self.meta = _read_meta(self.root / PROJECT_FILE)
        self._complete()


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProjectError(path, f"not a project file ({e})") from None
    ok = isinstance(meta, dict) and isinstance(meta.get("format"), int)
    if not ok or not isinstance(meta.get("sources"), list):
        raise ProjectError(path, "not a toontag project file (no format or sources)")
    if meta["format"] > FORMAT:
        raise ProjectError(
            path, f"format {meta['format']} is newer than this toontag's ({FORMAT}); upgrade"
        )
    return meta


def _frame(row: dict, pool: Path, line: int) -> PoolFrame:
    """A pool.csv row, checked: a bad one is named by its line and column."""

    def number(column: str, kind, *, empty_ok: bool, clamped: bool = False):
        """`clamped`: a negative value reads as 0, as it is stored now."""
        text = (row[column] or "").strip()
        if not text and empty_ok:
            return None
        try:
            value = kind(text)
        except ValueError:
            raise ProjectError(pool, f"line {line}: {column} {text!r} is not a number") from None
        if not math.isfinite(value) or (value < 0 and not clamped):
            raise ProjectError(pool, f"line {line}: {column} {text!r} is out of range")
        return max(value, 0)

    path = (row["path"] or "").strip()
    if not path:
        raise ProjectError(pool, f"line {line}: the row names no frame")
    reason = (row["reason"] or "").strip()
    if reason not in REASONS:
        raise ProjectError(pool, f"line {line}: reason {reason!r} is not one of {REASONS}")
    return PoolFrame(
        path=path,
        source=row["source"] or "",
        # older toontag stored a frame before a stream's declared start at its negative time
        time=number("time", float, empty_ok=True, clamped=True),
        shot=number("shot", int, empty_ok=True),
        reason=reason,
        width=number("width", int, empty_ok=False),
        height=number("height", int, empty_ok=False),
    )
