"""Small atomic file writers: a result is either complete on disk or not there at all; and the
CSV text they write, with names escaped where another tool reads it."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def hash_file(path: Path, digest=None):
    """`digest` (a new SHA-256 by default) fed with the bytes of `path`, read in 1 MiB
    blocks so that a large video or checkpoint is never whole in memory."""
    digest = digest or hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest


def write_bytes(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write `data` to `path` through a temporary file and an atomic rename; a `FileError`
    naming `path` (never the temporary file) when it cannot be written. `durable`: the bytes
    and the rename are on the disk when it returns (fsync of the file, then of its folder), so
    that what a caller acknowledges survives a power cut, not only a killed process."""
    from toontag.errors import FileError

    path = Path(path)
    if path.is_dir():
        raise FileError(path, "is a folder; name a file to write")
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
        os.replace(tmp, path)
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

    from toontag.errors import FileError

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
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
