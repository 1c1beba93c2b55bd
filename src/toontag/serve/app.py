"""The web app over an index: a JSON API (OpenAPI at /docs) and one HTML page.

Files are addressed by their id in the index, never by a path from the request, so only
indexed videos can be served; each is opened and checked against the index before anything
is read from it (files.py); the database is opened read-only, once per request. No response
shows a server path, and every error body is a `Problem`. Who may reach the app: access.py.
"""

import logging
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from toontag import __version__
from toontag.errors import IndexDbError, VideoError
from toontag.palette import colours
from toontag.serve.access import (
    LOOPBACK_NAMES,
    AccessGuard,
    check_token,
    token_security,
)
from toontag.serve.files import (
    FileChanged,
    FileGone,
    FileRangeResponse,
    IndexedFile,
    RangeNotSatisfiable,
    byte_range,
)
from toontag.serve.thumbnails import Thumbnails
from toontag.video.db import Index
from toontag.video.editorial import NoFrameRate
from toontag.video.query import QueryError
from toontag.video.search import (
    display_name,
    search,
    timeline_text,
    video_document,
)

log = logging.getLogger(__name__)
VideoId = Annotated[int, PathParam(ge=1, le=2**62, description="A video's id in the index.")]
MEDIA_TYPES = {
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
}
TIMELINE_TYPES = {  # the timeline formats but JSON, which is /api/videos/{video_id}
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "csv": "text/csv",
    "edl": "text/plain",  # CMX3600 has no registered media type
    "fcp-xml": "application/xml",
}


class Problem(BaseModel):
    """Every error's body: one line saying what is wrong, never a server path."""

    detail: str


PROBLEMS = {
    400: "A Host this server does not answer to (see toontag serve --allowed-host)",
    401: "No token, or a wrong one (the server was started with --token)",
    404: "No such video in the index, or its file is no longer where it was indexed",
    409: "The file at the video's path is not the one indexed (replaced, changed or a "
    "symlink): re-index it",
    416: "The byte range starts past the end of the file",
    422: "A parameter of the wrong type or out of its range",
    503: "The index cannot be read now (moved, replaced or damaged); the server's log says why",
}


def problems(*codes: int, **descriptions: str) -> dict:
    """OpenAPI `responses` for error `codes`, each a Problem (`descriptions`: e400=... )."""
    return {
        code: {"model": Problem, "description": descriptions.get(f"e{code}", PROBLEMS[code])}
        for code in codes
    }


def binary(*media_types: str, description: str, **extra) -> dict:
    """An OpenAPI response of bytes in any of `media_types`."""
    return {
        "description": description,
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
        **extra,
    }


RANGE_HEADERS = {
    "Content-Range": {"description": "bytes START-END/SIZE", "schema": {"type": "string"}}
}
FILE_TYPES = (*dict.fromkeys(MEDIA_TYPES.values()), "application/octet-stream")


def _open_index(request: Request) -> Iterator[Index]:
    store = Index(request.app.state.db)
    try:
        yield store
    finally:
        store.close()


Store = Annotated[Index, Depends(_open_index)]


def create_app(
    db: Path | str, *, allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES, token: str | None = None
) -> FastAPI:
    """The app over index `db`, answering requests addressed to `allowed_hosts` only and,
    with a `token`, only requests that carry it (access.py)."""
    db = Path(db)
    Index(db).close()  # a missing or foreign index fails here, before serving
    if token is not None:
        check_token(token)
    app = FastAPI(
        title="toontag",
        version=__version__,
        description="Search an index of who is on screen when in a video library.",
        responses=problems(400, *([401] if token else []), 503),
        dependencies=token_security() if token else None,
    )
    app.state.db = db
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts, token=token)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(IndexDbError, _unreadable)
    thumbnails = Thumbnails()

    def checked(store: Index, video_id: int) -> tuple[dict, IndexedFile]:
        """The video's row and its file, opened and found to be the one indexed."""
        video = store.video(video_id)
        if video is None:
            raise HTTPException(404, f"no video {video_id} in the index")
        known = store.lookup(video["path"])  # its size and mtime when indexed
        if known is None:  # re-indexed under another id meanwhile
            raise HTTPException(404, f"no video {video_id} in the index")
        try:
            file = IndexedFile(video["path"], size=known["bytes"], mtime_ns=known["mtime_ns"])
        except FileGone:
            raise HTTPException(
                404, f"video {video_id} is no longer where it was indexed"
            ) from None
        except FileChanged:
            raise HTTPException(
                409,
                f"video {video_id} is not the file indexed (replaced, changed or a symlink): "
                "re-index it",
            ) from None
        return video, file

    def indexed(store: Index, video_id: int) -> dict:
        video, file = checked(store, video_id)
        file.close()
        return video

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return files("toontag.serve").joinpath("page.html").read_text()

    @app.get("/api/characters", summary="The characters the index can search for")
    def characters(store: Store) -> dict:
        colour = colours(store.classes)  # as in every plot
        return {
            "model": store.meta.get("model"),
            "model_id": store.model_id,
            "characters": [
                {"name": c, "display": display_name(c), "colour": colour[c]} for c in store.classes
            ],
        }

    @app.get("/api/videos", summary="Indexed videos with each character's screen time")
    def videos(store: Store) -> list[dict]:
        return [_public(v, store) for v in store.videos()]

    @app.get(
        "/api/search",
        summary="Time ranges where a query over character names holds",
        responses=problems(
            400,
            422,
            e400="A query that does not parse or names no character; "
            "a Host this server does not answer to",
        ),
    )
    def search_hits(
        store: Store,
        q: Annotated[str, Query(min_length=1, max_length=500, description="e.g. remzi and necati")],
        min_duration: Annotated[float, Query(ge=0, le=86_400)] = 0.0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> dict:
        try:
            hits = search(store, q, min_duration=min_duration)
        except QueryError as e:
            raise HTTPException(400, str(e)) from e
        return {
            "query": q,
            "total": len(hits),
            "hits": [_named(h.to_dict()) for h in hits[:limit]],
        }

    @app.get(
        "/api/videos/{video_id}",
        summary="One video: screen time, segments and shots",
        responses=problems(404, 409, 422),
    )
    def video_detail(store: Store, video_id: VideoId) -> dict:
        return _named(video_document(store, indexed(store, video_id)))

    @app.get(
        "/api/videos/{video_id}/timeline",
        summary="Who is on screen when: subtitles (vtt, srt), a table (csv), or an editor's "
        "import (edl: CMX3600, fcp-xml: FCP 7 XML); the JSON is /api/videos/{video_id}",
        response_class=Response,  # no text/plain default: the formats are declared below
        responses={
            200: {
                "description": "The timeline in the format asked for",
                "content": {t: {"schema": {"type": "string"}} for t in TIMELINE_TYPES.values()},
            },
            **problems(404, 409, 422),
        },
    )
    def timeline(
        store: Store,
        video_id: VideoId,
        format: Annotated[str, Query(pattern="^(" + "|".join(TIMELINE_TYPES) + ")$")] = "vtt",
    ) -> PlainTextResponse:
        video = indexed(store, video_id)
        try:
            text = timeline_text(store, video, format, public=True)
        except NoFrameRate:
            raise HTTPException(422, f"video {video_id} has no frame rate: no timecode") from None
        return PlainTextResponse(text, media_type=TIMELINE_TYPES[format])

    @app.get(
        "/api/videos/{video_id}/file",
        summary="The video file (one byte range per request served)",
        response_class=Response,
        responses={
            200: binary(*FILE_TYPES, description="The whole file"),
            206: binary(*FILE_TYPES, description="The range asked for", headers=RANGE_HEADERS),
            **problems(404, 409, 416, 422),
        },
    )
    def video_file(
        store: Store,
        video_id: VideoId,
        range: Annotated[  # noqa: A002  (the header's name)
            str | None,
            Header(
                max_length=200,
                description="bytes=START-[END] or bytes=-LAST; several ranges or another "
                "unit get the whole file",
            ),
        ] = None,
        if_range: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        video, file = checked(store, video_id)
        try:
            span = None if if_range not in (None, file.etag) else byte_range(range, file.size)
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

    @app.get(
        "/api/videos/{video_id}/thumbnail",
        summary="The frame at a time, as JPEG",
        response_class=Response,
        responses={
            200: binary("image/jpeg", description="The frame, at most 320 pixels a side"),
            **problems(404, 409, 422, e404=PROBLEMS[404] + "; or it has no frame at t"),
        },
    )
    def thumbnail(
        store: Store,
        video_id: VideoId,
        t: Annotated[float, Query(ge=0, le=86_400 * 7, description="Seconds.")] = 0.0,
    ) -> Response:
        video, file = checked(store, video_id)
        with file:
            if t > video["duration"]:  # no such frame, as for an id not in the index
                raise HTTPException(
                    404, f"video {video_id} ends at {video['duration']:.1f}s, before t={t}"
                )
            try:
                data = thumbnails.get(video["path"], file, t)
            except VideoError as e:  # its reason names no path; its message would
                raise HTTPException(404, f"video {video_id}: {e.reason}") from None
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    return app


async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A parameter that fails validation, as a Problem like every other error."""
    detail = "; ".join(
        f"{' '.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return JSONResponse({"detail": detail}, status_code=422)


async def _unreadable(request: Request, exc: IndexDbError) -> JSONResponse:
    """The index failed under a running server: its path and reason go to the log only."""
    log.error("%s", exc)
    return JSONResponse({"detail": PROBLEMS[503]}, status_code=503)


def _inline(name: str) -> str:
    return f"inline; filename*=utf-8''{quote(name)}"


def _named(row: dict) -> dict:
    """`row` with its server path replaced by the file's name: the API never shows paths."""
    public = {k: v for k, v in row.items() if k != "path"}
    return {**public, "name": Path(row["path"]).name}


def _public(video: dict, store: Index) -> dict:
    """What the API says of a video: its name, never its path, and its screen time."""
    return {**_named(video), "screen_time": store.screen_time(video["id"])}
