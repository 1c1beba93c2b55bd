"""Small file helpers: atomic writers (a result is either complete on disk or not there at
all), a reader that opens regular files only, and the CSV text the writers write, with names
escaped where another tool reads it.

Writers replace only a regular file or nothing: a symlink, FIFO, socket, device or folder at
the path is refused, never replaced (renaming over /dev/null as root would replace the device,
and over a symlink would leave its target as it was). A symlink is refused rather than written
through: the file meant is then the one named, whoever made the link. The path is looked at
before the work and again just before the rename (a swap in the microseconds between is not
guarded: Python offers no renameat2 without replacing). A durable write also fsyncs the file
and its folder, so that what a caller acknowledges survives a power cut. Readers open a path
without blocking and check the open descriptor, so a FIFO named like an image never hangs a
command and what was checked is what is read.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import stat
import tempfile
from pathlib import Path

from toontag.errors import FileError

_UMASK = os.umask(0)
os.umask(_UMASK)
# O_NONBLOCK: opening a FIFO would wait for a writer; regular files ignore it.
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symlink"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
LOOP = "a symlink loop (it cannot be followed)"


def kind(mode: int) -> str:
    """What a file of `mode` (from stat) is, in words: 'a regular file', 'a FIFO', ..."""
    return next((words for test, words in _KINDS if test(mode)), "a regular file")


def not_regular(mode: int) -> str:
    return f"not a regular file ({kind(mode)})"


def open_regular(path: Path | str, *, error=FileError):
    """`path` open for reading in binary, once its open descriptor shows a regular file (links
    followed). A FIFO, socket, device or folder raises `error(path, reason)`, as does a link
    loop; the system's other errors (no such file, permission denied) propagate as they are."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise error(path, LOOP) from None
        if e.errno == errno.ENXIO:  # a socket, or a device without a driver
            raise error(path, "not a regular file (a socket or device)") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(path, not_regular(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: Path | str, *, encoding: str = "utf-8", error=FileError) -> str:
    """`Path.read_text` (universal newlines) for a regular file only (`open_regular`)."""
    with io.TextIOWrapper(open_regular(path, error=error), encoding=encoding) as f:
        return f.read()


def descriptor_path(fd: int) -> str:
    """A path that opens the file open as `fd`, whatever is at its own path now (for readers
    such as FFmpeg that take a path, not a descriptor)."""
    folder = "/proc/self/fd" if Path("/proc/self/fd").is_dir() else "/dev/fd"
    return f"{folder}/{fd}"


def hash_file(path: Path, digest=None):
    """`digest` (a new SHA-256 by default) fed with the bytes of `path`, read in 1 MiB
    blocks so that a large video or checkpoint is never whole in memory."""
    digest = digest or hashlib.sha256()
    with open_regular(path) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest


def check_replaceable(path: Path | str, *, folder: str = "name a file to write") -> None:
    """A `FileError` naming `path` unless a file may be renamed into its place: nothing is
    there, or a regular file is (see the module). `folder`: the advice after 'is a folder'."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there, or nothing to look at: the write itself says why it fails
    if stat.S_ISDIR(mode):
        raise FileError(path, f"is a folder; {folder}")
    if not stat.S_ISREG(mode):
        target = " (name the file it links to)" if stat.S_ISLNK(mode) else ""
        refusal = f"is {kind(mode)}, not a regular file; toontag replaces only regular files"
        raise FileError(path, refusal + target)


def replace_file(tmp: Path | str, path: Path | str) -> None:
    """Rename the finished `tmp` onto `path`, once `check_replaceable` allows it."""
    check_replaceable(path)
    os.replace(tmp, path)


def write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` through a temporary file and an atomic rename; a `FileError`
    naming `path` (never the temporary file) when it cannot be written, or when something
    other than a regular file is there (`check_replaceable`). `durable`: the bytes and the
    rename are on the disk when it returns (fsync of the file, then of its folder), so that
    what a caller acknowledges survives a power cut, not only a killed process."""
    path = Path(path)
    check_replaceable(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would hide results from other users
        replace_file(tmp, path)  # checked again: the work may have taken a while
        if durable:
            sync_folder(path.parent)
    except OSError as e:
        raise FileError(path, f"cannot write it ({e.strerror or e})") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def sync_folder(folder: Path) -> None:
    """fsync a folder, so that a rename in it is on the disk; a no-op where folders cannot be
    opened (Windows) or synced (some network file systems)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def write_text(path: Path, text: str, *, durable: bool = False) -> None:
    write_bytes(path, text.encode(), durable=durable)


def write_npy(path: Path, array) -> None:
    """`array` as a ``.npy`` file (open it with `numpy.load(path, mmap_mode="r")`), whole."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes(path, buffer.getvalue())


def write_figure(path: Path, figure, **options) -> None:
    """A matplotlib `figure` in the format `path`'s suffix names, written by `write_bytes`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=Path(path).suffix[1:].lower() or "png", **options)
    write_bytes(path, buffer.getvalue())


def csv_text(header, rows) -> str:
    """A CSV file's text: the header row, then `rows` (lines end in a bare newline)."""
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and lone surrogates (a
# file name's undecodable bytes, which UTF-8 cannot write)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """`text` with each control character written as a Python-style escape (a newline as
    ``\\n``, ESC as ``\\x1b``, U+2028 as ``\\u2028``): a name put into a file for another
    tool (an EDL, subtitles, FCP XML, CSV) then never starts a line or an event of its own,
    nor reaches a terminal as a command. Other text is unchanged."""

    def escaped(match: re.Match) -> str:
        char = match.group()
        code = ord(char)
        return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _CONTROLS.sub(escaped, text)


def export_csv_text(header, rows) -> str:
    """`csv_text` for a table another tool reads (not toontag again): every text cell with
    its control characters escaped (`escape_controls`), so that each row stays one line."""

    def cells(row) -> list:
        return [escape_controls(c) if isinstance(c, str) else c for c in row]

    return csv_text(cells(header), map(cells, rows))


def write_json(path: Path, obj) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def read_csv(path: Path, *, columns: tuple[str, ...] = ()) -> list[dict]:
    """The rows of a user's CSV file (UTF-8, with or without Excel's BOM) as dicts; a
    `FileError` naming the file when it cannot be read, is not text, or lacks `columns`."""
    import csv

    try:
        with io.TextIOWrapper(open_regular(path), newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = reader.fieldnames or []
    except UnicodeDecodeError:
        raise FileError(path, "not a CSV file (not UTF-8 text)") from None
    except csv.Error as e:
        raise FileError(path, f"not a CSV file ({e})") from None
    missing = [c for c in columns if c not in header]
    if missing:
        raise FileError(
            path,
            f"no column {', '.join(missing)} (a CSV with a header row {','.join(columns)}, ...)",
        )
    return rows
