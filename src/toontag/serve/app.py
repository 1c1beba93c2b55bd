"""The web app over an index: a JSON API (OpenAPI at /docs) and one HTML page.

Files are addressed by their id in the index, never by a path from the request, so only
indexed videos can be served; each is opened and checked against the index before anything
is read from it, and the database is opened read-only, once per request (videos.py). No
response shows a server path, and every error body is a `Problem` (responses.py). Who may
reach the app: access.py.
"""

import functools
import logging
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from toontag.errors import IndexDbError, VideoError
from toontag.palette import colours
from toontag.serve.access import LOOPBACK_NAMES, Served, check_token
from toontag.serve.responses import (
    IN_DIGITS,
    binary,
    guarded_app,
    page_html,
    problem_responses,
    unavailable,
)
from toontag.serve.thumbnails import Thumbnails
from toontag.serve.videos import FILE_TYPES, Store, checked, file_response, indexed, named, public
from toontag.video.db import Index
from toontag.video.editorial import NoFrameRate
from toontag.video.query import QueryError
from toontag.video.search import display_name, search, timeline_text, video_document

log = logging.getLogger(__name__)
SEARCH = Served("toontag serve", reach="list, search and download every indexed video")
VideoId = Annotated[
    int, PathParam(ge=1, le=2**62, description="A video's id in the index."), IN_DIGITS
]
TIMELINE_TYPES = {  # the timeline formats but JSON, which is /api/videos/{video_id}
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "csv": "text/csv",
    "edl": "text/plain",  # CMX3600 has no registered media type
    "fcp-xml": "application/xml",
}
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
problems = functools.partial(problem_responses, PROBLEMS)
RANGE_HEADERS = {
    "Content-Range": {"description": "bytes START-END/SIZE", "schema": {"type": "string"}}
}


def create_app(
    db: Path | str, *, allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES, token: str | None = None
) -> FastAPI:
    """The app over index `db`, answering requests addressed to `allowed_hosts` only and,
    with a `token`, only requests that carry it (access.py)."""
    db = Path(db)
    Index(db).close()  # a missing or foreign index fails here, before serving
    if token is not None:
        check_token(token)
    app = guarded_app(
        title="toontag",
        description="Search an index of who is on screen when in a video library.",
        responses=problems(400, *([401] if token else []), 503),
        allowed_hosts=allowed_hosts,
        token=token,
        served=SEARCH,
    )
    app.state.db = db
    app.add_exception_handler(IndexDbError, unavailable(PROBLEMS[503], log))
    thumbnails = Thumbnails()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return page_html("page.html")

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
        return [public(v, store) for v in store.videos()]

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
        limit: Annotated[int, Query(ge=1, le=10_000), IN_DIGITS] = 500,
    ) -> dict:
        try:
            hits = search(store, q, min_duration=min_duration)
        except QueryError as e:
            raise HTTPException(400, str(e)) from e
        return {
            "query": q,
            "total": len(hits),
            "hits": [named(h.to_dict()) for h in hits[:limit]],
        }

    @app.get(
        "/api/videos/{video_id}",
        summary="One video: screen time, segments and shots",
        responses=problems(404, 409, 422),
    )
    def video_detail(store: Store, video_id: VideoId) -> dict:
        return named(video_document(store, indexed(store, video_id)))

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
        return file_response(video, file, range, if_range)

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
