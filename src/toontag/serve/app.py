"""The web app over an index: a JSON API (OpenAPI at /docs) and one HTML page.

Files are addressed by their id in the index, never by a path from the request, so only
indexed videos can be served; the database is opened read-only, once per request.
"""

import io
from collections.abc import Iterator
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from toontag import __version__
from toontag.errors import ToontagError
from toontag.video.db import Index
from toontag.video.decode import Video
from toontag.video.query import QueryError
from toontag.video.search import TIMELINE_FORMATS, cues, display_name, format_timeline, search

THUMBNAIL_WIDTH = 320
VideoId = Annotated[int, PathParam(ge=1, le=2**62, description="A video's id in the index.")]
MEDIA_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".webm": "video/webm",
               ".mkv": "video/x-matroska", ".mov": "video/quicktime"}  # fmt: skip


def _open_index(request: Request) -> Iterator[Index]:
    store = Index(request.app.state.db)
    try:
        yield store
    finally:
        store.close()


Store = Annotated[Index, Depends(_open_index)]


def create_app(db: Path | str) -> FastAPI:
    db = Path(db)
    Index(db).close()  # a missing or foreign index fails here, before serving
    app = FastAPI(
        title="toontag",
        version=__version__,
        description="Search an index of who is on screen when in a video library.",
    )
    app.state.db = db

    def indexed(store: Index, video_id: int) -> dict:
        video = store.video(video_id)
        if video is None:
            raise HTTPException(404, f"no video {video_id} in the index")
        if not Path(video["path"]).is_file():
            raise HTTPException(404, f"video {video_id} is no longer where it was indexed")
        return video

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return files("toontag.serve").joinpath("page.html").read_text()

    @app.get("/api/characters", summary="The characters the index can search for")
    def characters(store: Store) -> dict:
        return {
            "model": store.meta.get("model"),
            "model_id": store.model_id,
            "characters": [{"name": c, "display": display_name(c)} for c in store.classes],
        }

    @app.get("/api/videos", summary="Indexed videos with each character's screen time")
    def videos(store: Store) -> list[dict]:
        return [_public(v, store) for v in store.videos()]

    @app.get("/api/search", summary="Time ranges where a query over character names holds")
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

    @app.get("/api/videos/{video_id}", summary="One video: screen time, segments and shots")
    def video_detail(store: Store, video_id: VideoId) -> dict:
        video = indexed(store, video_id)
        segments = [
            {"character": store.classes[s.character], "start": s.start, "end": s.end,
             "confidence": round(s.confidence, 4)}
            for s in store.segments(video_id)
        ]  # fmt: skip
        shots = [{"start": a, "end": b} for a, b in store.shots(video_id)]
        return {**_public(video, store), "segments": segments, "shots": shots}

    @app.get("/api/videos/{video_id}/timeline", summary="Who is on screen when")
    def timeline(
        store: Store,
        video_id: VideoId,
        format: Annotated[str, Query(pattern="^(" + "|".join(TIMELINE_FORMATS) + ")$")] = "vtt",
    ) -> PlainTextResponse:
        video = indexed(store, video_id)
        text = format_timeline(cues(store, video_id, video["duration"]), format)
        media = {"vtt": "text/vtt", "srt": "application/x-subrip", "csv": "text/csv"}[format]
        return PlainTextResponse(text, media_type=media)

    @app.get("/api/videos/{video_id}/file", summary="The video file (byte ranges served)")
    def video_file(store: Store, video_id: VideoId) -> FileResponse:
        path = Path(indexed(store, video_id)["path"])
        media = MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return FileResponse(path, media_type=media, filename=path.name,
                            content_disposition_type="inline")  # fmt: skip

    @app.get("/api/videos/{video_id}/thumbnail", summary="The frame at a time, as JPEG")
    def thumbnail(
        store: Store,
        video_id: VideoId,
        t: Annotated[float, Query(ge=0, le=86_400 * 7, description="Seconds.")] = 0.0,
    ) -> Response:
        video = indexed(store, video_id)
        if t > video["duration"]:
            raise HTTPException(422, f"t={t} is past the video's end ({video['duration']:.1f}s)")
        try:
            mtime = Path(video["path"]).stat().st_mtime_ns  # a replaced file is not cached
            data = _thumbnail(video["path"], mtime, round(t, 1))
        except ToontagError as e:
            raise HTTPException(404, str(e)) from e
        return Response(data, media_type="image/jpeg",
                        headers={"Cache-Control": "max-age=3600"})  # fmt: skip

    return app


def _named(row: dict) -> dict:
    """`row` with its server path replaced by the file's name: the API never shows paths."""
    public = {k: v for k, v in row.items() if k != "path"}
    return {**public, "name": Path(row["path"]).name}


def _public(video: dict, store: Index) -> dict:
    """What the API says of a video: its name, never its path, and its screen time."""
    return {**_named(video), "screen_time": store.screen_time(video["id"])}


@lru_cache(maxsize=512)
def _thumbnail(path: str, mtime_ns: int, seconds: float) -> bytes:
    with Video(path) as video:
        image = video.image_at(seconds)
    image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
