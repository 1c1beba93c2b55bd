"""The labelling app: the next frames to label, their suggestions, and every answer saved at once.

A JSON API (OpenAPI at /docs) and one page over a labelling session (labelling/session.py),
under the search server's access rules (access.py: trusted Host names, an optional token, and
no writes from another site's page). Frames are addressed by their row in pool.csv, never by a
path, and no response shows a server path: every error body is a `Problem` (responses.py).
Which frames are audit frames is the session's record alone: the `audit` an answer carries is
ignored, and a frame's `audit` is null until it is answered. `/api/next` gives a tab its batch
again until it is answered (labelling/outstanding.py): a reload shows the same frames.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path
from typing import Annotated

from fastapi import Body, FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from toontag.data.names import MAX_NAME, NAME_PATTERN
from toontag.errors import ToontagError
from toontag.labelling.labels import LabelError, NameTaken, NoHistory
from toontag.labelling.queue import POLICIES
from toontag.labelling.refits import RefitSettings
from toontag.labelling.session import BATCH, Session, check_policy
from toontag.serve.access import LOOPBACK_NAMES, Served, check_token
from toontag.serve.responses import (
    IN_DIGITS,
    binary,
    guarded_app,
    page_html,
    problem_responses,
    unavailable,
)

log = logging.getLogger(__name__)
LABELLING = Served(
    "toontag label serve", reach="see every frame of the project and change its labels"
)
FrameId = Annotated[
    int, PathParam(ge=0, le=2**31, description="The frame's row in pool.csv."), IN_DIGITS
]
PROBLEMS = {
    400: "A Host this server does not answer to (see toontag label serve --allowed-host), or a "
    "body that is not UTF-8 JSON text",
    401: "No token, or a wrong one (the server was started with --token)",
    403: "A write from another site's page (its Origin or Referer is not this server)",
    404: "No such frame in the pool",
    409: "Nothing to undo for this frame (or its last answer is another tab's), or a character "
    "of that name exists already (or it is 'none', the answer for a frame without one)",
    422: "A parameter or body of the wrong type, out of its range, or naming an unknown character",
    503: "The project cannot be written now; the server's log says why",
}
problems = functools.partial(problem_responses, PROBLEMS)
TAB_LIMITS = {"min_length": 1, "max_length": 64, "pattern": "^[A-Za-z0-9_-]+$"}
TabId = Annotated[str, Field(**TAB_LIMITS)]
TAB = "The page's id for itself (any token): its undo takes back its own answers only"
NEXT_TAB = (
    "The page's id for itself: its batch comes again, less the frames answered, until all are "
    "answered (size and policy as first asked); another tab's batch holds other frames"
)


def _whole(value):
    """A JSON number with no fraction (0.0) as the integer it is, as JSON Schema reads it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[int, BeforeValidator(_whole)]  # strict otherwise: no "1", no true
Character = Annotated[str, Field(max_length=MAX_NAME)]


class AnswerIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")  # no "1" for 1, no stray keys

    frame: Whole = Field(ge=0, le=2**31, description="The frame's row in pool.csv")
    labels: list[Character] = Field(
        max_length=100,
        description="Its characters; [] for none",
        json_schema_extra={"uniqueItems": True},
    )
    classes: list[Character] | None = Field(
        None,
        max_length=1000,
        description="The characters the page offered for this frame (null: all there are "
        "now); one added since stays unknown for it, as nobody looked for it there",
    )
    seen: Whole = Field(0, ge=0, le=2**53, description="The revision the page was shown (0: none)")
    audit: bool | None = Field(
        None,
        description="Ignored, taken for pages of earlier versions: the server knows which "
        "frames it offered as audit frames",
    )
    tab: TabId | None = Field(None, description=TAB)


class ClassIn(BaseModel):
    # Python's regular expressions, as the name rule's own check (data/names.py) reads it
    model_config = ConfigDict(strict=True, extra="forbid", regex_engine="python-re")

    name: str = Field(
        pattern=rf"^\s*{NAME_PATTERN}\s*$",
        description="A new character's name (white space around it is dropped)",
    )


class UndoIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    frame: Whole = Field(ge=0, le=2**31)
    tab: TabId | None = Field(None, description=TAB)


def create_label_app(
    project: Path | str,
    *,
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES,
    token: str | None = None,
    policy: str = "active",
    cache: Path | None = None,
    seed: int = 0,
    refits: RefitSettings | None = None,
) -> FastAPI:
    """The labelling app over `project`, which it holds (the project's lock) until it shuts
    down or `app.state.close()` is called. `cache`: the features' folder (PROJECT/features);
    `refits`: the background refits' milestones and settings (the defaults when None)."""
    check_policy(policy)  # the options first, then the project
    if token is not None:
        check_token(token)
    session = Session.open(project, policy=policy, cache=cache, seed=seed, refits=refits)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        session.start()
        try:
            yield
        finally:
            session.close()

    app = guarded_app(
        title="toontag label",
        description="Label a project's frames: the next to label, suggestions, every answer "
        "saved at once.",
        responses=problems(400, *([401] if token else [])),
        allowed_hosts=allowed_hosts,
        token=token,
        served=LABELLING,
        same_origin=True,
        lifespan=lifespan,
    )
    app.state.session = session
    app.state.close = session.close
    app.add_exception_handler(ToontagError, unavailable(PROBLEMS[503], log))

    def row_of(frame: int) -> int:
        if frame >= len(session.pool):
            raise HTTPException(404, f"no frame {frame} in the pool ({len(session.pool)} frames)")
        return frame

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return page_html("labelling.html")

    @app.get("/api/state", summary="Characters, counts, the model and its quality estimate")
    def state() -> dict:
        return session.state()

    @app.get(
        "/api/next", summary="The next frames to label, with suggestions", responses=problems(422)
    )
    def next_frames(
        size: Annotated[int, Query(ge=1, le=50), IN_DIGITS] = BATCH,
        policy: Annotated[str | None, Query(pattern="^(" + "|".join(POLICIES) + ")$")] = None,
        tab: Annotated[str | None, Query(description=NEXT_TAB, **TAB_LIMITS)] = None,
    ) -> dict:
        return {"frames": session.batch(size, policy or session.policy, tab=tab)}

    @app.get(
        "/api/frames/{frame}",
        summary="One frame: its answer and suggestion",
        responses=problems(404, 422),
    )
    def frame_detail(frame: FrameId) -> dict:
        return session.frame(row_of(frame))

    @app.get(
        "/api/frames/{frame}/image",
        summary="The frame's picture (JPEG)",
        response_class=FileResponse,
        responses={200: binary("image/jpeg", description="The JPEG"), **problems(404, 422)},
    )
    def frame_image(frame: FrameId):
        file = session.image(row_of(frame))
        if file is None:
            raise HTTPException(404, f"frame {frame}'s picture is missing from the project")
        return FileResponse(
            file, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"}
        )

    @app.post(
        "/api/answers",
        summary="Save a frame's characters (none: [])",
        responses=problems(403, 404, 422, 503),
    )
    def answer(body: Annotated[AnswerIn, Body()]) -> dict:
        row = row_of(body.frame)
        try:
            saved = session.answer(
                row, body.labels, seen=body.seen, tab=body.tab, offered=body.classes
            )
        except LabelError as e:
            raise HTTPException(422, str(e)) from None
        message = (
            ("another tab answered this frame after you opened it; your answer replaced it")
            if saved.replaced_newer
            else None
        )
        return {
            "frame": row,
            "labels": list(saved.answer.labels),
            "revision": saved.answer.revision,
            "replaced_newer": saved.replaced_newer,
            "message": message,
            "counts": session.store.counts(),
        }

    @app.post(
        "/api/undo",
        summary="Take back a frame's last answer (the tab's own, when it names itself)",
        responses=problems(403, 404, 409, 422, 503),
    )
    def undo(body: Annotated[UndoIn, Body()]) -> dict:
        row = row_of(body.frame)
        try:
            undone = session.undo(row, tab=body.tab)
        except NoHistory as e:  # or another tab's answer, which stays
            raise HTTPException(409, str(e)) from None
        now = undone.answer
        return {
            "frame": row,
            "labels": None if now is None else list(now.labels),
            "revision": 0 if now is None else now.revision,
            "message": "the answer taken back came from another tab" if undone.other_tab else None,
            "counts": session.store.counts(),
        }

    @app.post(
        "/api/classes",
        summary="Add a character",
        status_code=201,
        responses=problems(403, 409, 422, 503),
    )
    def add_class(body: Annotated[ClassIn, Body()]) -> dict:
        try:
            classes = session.add_class(body.name)
        except LabelError as e:
            raise HTTPException(409 if isinstance(e, NameTaken) else 422, str(e)) from None
        return {"classes": list(classes)}

    return app
