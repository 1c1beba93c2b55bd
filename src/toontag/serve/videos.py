"""The index's videos as the search API serves them: the index opened read-only for each
request, a video's file opened and checked against the index before anything is read from it
(files.py), its bytes streamed by range, and its description without a server path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from toontag.serve.files import (
    FileChanged,
    FileGone,
    FileRangeResponse,
    IndexedFile,
    RangeNotSatisfiable,
    byte_range,
)
from toontag.video.db import Index

MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
}
FILE_TYPES = (*dict.fromkeys(MEDIA_TYPES.values()), "application/octet-stream")


def open_index(request: Request) -> Iterator[Index]:
    """The app's index (`app.state.db`), open for one request."""
    store = Index(request.app.state.db)
    try:
        yield store
    finally:
        store.close()


Store = Annotated[Index, Depends(open_index)]


def checked(store: Index, video_id: int) -> tuple[dict, IndexedFile]:
    """The video's row and its file, opened and found to be the one indexed (else 404 or 409)."""
    video = store.video(video_id)
    if video is None:
        raise HTTPException(404, f"no video {video_id} in the index")
    known = store.lookup(video["path"])  # its size and mtime when indexed
    if known is None:  # re-indexed under another id meanwhile
        raise HTTPException(404, f"no video {video_id} in the index")
    try:
        file = IndexedFile(video["path"], size=known["bytes"], mtime_ns=known["mtime_ns"])
    except FileGone:
        raise HTTPException(404, f"video {video_id} is no longer where it was indexed") from None
    except FileChanged:
        raise HTTPException(
            409,
            f"video {video_id} is not the file indexed (replaced, changed or a symlink): "
            "re-index it",
        ) from None
    return video, file


def indexed(store: Index, video_id: int) -> dict:
    """The video's row, once its file is found to be the one indexed."""
    video, file = checked(store, video_id)
    file.close()
    return video


def file_response(
    video: dict, file: IndexedFile, range_header: str | None, if_range: str | None
) -> Response:
    """The checked file, whole or the one byte range asked for (206); 416 for a range past its
    end. An If-Range that no longer matches the file gets the whole file."""
    try:
        span = None if if_range not in (None, file.etag) else byte_range(range_header, file.size)
    except RangeNotSatisfiable:
        file.close()
        return JSONResponse(
            {"detail": f"the range starts past the file's end ({file.size} bytes)"},
            status_code=416,
            headers={"Content-Range": f"bytes */{file.size}"},
        )
    path = Path(video["path"])
    media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileRangeResponse(
        file, span, media_type=media, headers={"content-disposition": _inline(path.name)}
    )


def _inline(name: str) -> str:
    return f"inline; filename*=utf-8''{quote(name)}"


def named(row: dict) -> dict:
    """`row` with its server path replaced by the file's name: the API never shows paths."""
    public = {k: v for k, v in row.items() if k != "path"}
    return {**public, "name": Path(row["path"]).name}


def public(video: dict, store: Index) -> dict:
    """What the API says of a video: its name, never its path, and its screen time."""
    return {**named(video), "screen_time": store.screen_time(video["id"])}
