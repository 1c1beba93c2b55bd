"""Indexed files, opened so that the file checked is the file read.

A video is opened without following a final symlink (O_NOFOLLOW) and checked on the open
descriptor (fstat): a regular file with the size and mtime the index recorded. Everything
after reads that descriptor, so swapping the path for a symlink to /etc/passwd, or for another
file, between the check and the read changes nothing that is served. Byte ranges (one per
request, as players ask) are served from the descriptor too.
"""

from __future__ import annotations

import os
import re
import stat
from email.utils import formatdate

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from toontag.io import descriptor_path

CHUNK = 256 * 1024  # bytes read and sent at a time
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
# O_NONBLOCK: a FIFO put in a video's place must not hang the open; regular files ignore it.
RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII | re.IGNORECASE)


class FileGone(Exception):
    """Nothing is at the indexed path any more (404)."""


class FileChanged(Exception):
    """Something other than the indexed file is at its path: a symlink, a folder, a device,
    or a file of another size or mtime (409)."""


class RangeNotSatisfiable(Exception):
    """The requested bytes start past the file's end (416)."""


class IndexedFile:
    """An open, checked video file: `fd`, `size`, `mtime_ns`; a context manager that closes it."""

    def __init__(self, path: str, *, size: int, mtime_ns: int):
        try:
            self.fd = os.open(path, OPEN_FLAGS)
        except FileNotFoundError as e:
            raise FileGone from e
        except OSError as e:  # ELOOP: a symlink; ENXIO: a socket; EACCES and the like
            raise FileChanged from e
        try:
            found = os.fstat(self.fd)
            if not stat.S_ISREG(found.st_mode):
                raise FileChanged
            if (found.st_size, found.st_mtime_ns) != (size, mtime_ns):
                raise FileChanged
        except BaseException:
            os.close(self.fd)
            raise
        self.size, self.mtime_ns = size, mtime_ns
        self.closed = False

    @property
    def reopenable(self) -> str:
        """A path that opens this same file, whatever is at the indexed path now (for readers
        such as FFmpeg that take a path, not a descriptor)."""
        return descriptor_path(self.fd)

    @property
    def etag(self) -> str:
        return f'"{self.size:x}-{self.mtime_ns:x}"'

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def __enter__(self) -> IndexedFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The bytes [start, end) that a Range header asks of a file of `size` bytes, or None for
    the whole file: no header, or one this server ignores as RFC 9110 allows (another unit,
    several ranges, bad syntax). Raises RangeNotSatisfiable for a range past the end."""
    match = RANGE.fullmatch((header or "").strip())
    if match is None or not any(match.groups()):
        return None
    first, last = (_number(g) for g in match.groups())
    if first is None:  # "-N": the last N bytes
        if last == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - last, 0), size
    if last is not None and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    return first, size if last is None else min(last + 1, size)


def _number(digits: str) -> int | None:
    """A Range bound; past 18 digits, a number larger than any file (int() refuses 4,300+)."""
    digits = digits.lstrip("0") or ("0" if digits else "")
    return None if not digits else int(digits) if len(digits) <= 18 else 10**18


class FileRangeResponse(Response):
    """Bytes [start, end) of an open IndexedFile (all of it for None), which it closes."""

    def __init__(
        self,
        file: IndexedFile,
        span: tuple[int, int] | None,
        *,
        media_type: str,
        headers: dict[str, str],
    ):
        self.file = file
        self.start, self.end = span or (0, file.size)
        self.status_code = 206 if span else 200
        self.media_type = media_type
        self.background = None
        extra = {
            "accept-ranges": "bytes",
            "content-length": str(self.end - self.start),
            "etag": file.etag,
            "last-modified": formatdate(file.mtime_ns / 1e9, usegmt=True),
        }
        if span:
            extra["content-range"] = f"bytes {self.start}-{self.end - 1}/{file.size}"
        self.init_headers({**headers, **extra})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as group:

                async def body() -> None:
                    await self._send(scope, send)
                    group.cancel_scope.cancel()

                group.start_soon(body)
                while (await receive())["type"] != "http.disconnect":
                    pass  # a client that goes away stops the reading too
                group.cancel_scope.cancel()
        finally:
            self.file.close()

    async def _send(self, scope: Scope, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        offset = self.end if scope["method"] == "HEAD" else self.start
        while True:
            want = min(CHUNK, self.end - offset)
            # Not cancellable: the descriptor is closed only after the thread is done with it.
            chunk = (
                await anyio.to_thread.run_sync(os.pread, self.file.fd, want, offset)
                if want
                else b""
            )
            offset += len(chunk)
            more = bool(chunk) and offset < self.end  # a file cut short ends the body early
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                return
