"""The labelling app: the next frames to label, their suggestions, and every answer saved at once.

A JSON API (OpenAPI at /docs) and one page, under the search server's access rules (access.py:
trusted Host names, an optional token) plus one more for writes: a POST whose Origin (or
Referer) is another site is refused, so no page on the web can label through a browser that
has this one open. Frames are addressed by their row in pool.csv, never by a path, and no
response shows a server path.

The learning loop runs beside the requests, in one background thread: the pool's backbone
features are computed on first need (features.py, cached on disk), and after every
`REFIT_EVERY` answers the head is refitted (head.py) and the pool scored; the queue (queue.py)
picks each batch from the latest scores. Every `AUDIT_EVERY`th batch also asks about
`AUDIT_FRAMES` frames drawn uniformly from the pool: labelled as audit, they are never fitted on
and give the unbiased quality estimate; until there are `AUDIT_MIN` of them the page shows the
head's out-of-fold figure and says it is biased.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import numpy as np
from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from toontag import __version__
from toontag.errors import ToontagError
from toontag.labelling.head import audit_score, fit_head
from toontag.labelling.labels import LabelError, LabelStore, NoHistory
from toontag.labelling.project import Project
from toontag.labelling.queue import POLICIES, embed, next_batch
from toontag.serve.access import (
    LOOPBACK_NAMES,
    AccessGuard,
    check_token,
    token_security,
)
from toontag.serve.app import Problem, _invalid  # one error body for both apps

log = logging.getLogger(__name__)
REFIT_EVERY = 5  # answers between refits: a refit takes about a second, a label a few
AUDIT_EVERY = 4  # every 4th batch carries audit frames
AUDIT_FRAMES = 2  # random frames in such a batch
AUDIT_MIN = 5  # audit answers before their estimate replaces the out-of-fold one
BATCH = 6  # frames per batch by default: one screen
FEATURES_FOLDER = "features"  # PROJECT/features: the backbone's cached rows
WRITES = ("POST", "PUT", "PATCH", "DELETE")
OUT_OF_FOLD_KIND = "out-of-fold on the chosen labels (biased)"
AUDIT_KIND = "audit sample (unbiased)"

FrameId = Annotated[int, PathParam(ge=0, le=2**31, description="The frame's row in pool.csv.")]
PROBLEMS = {
    400: "A Host this server does not answer to (see --allowed-host)",
    401: "No token, or a wrong one (the server was started with --token)",
    403: "A write from another site's page (its Origin or Referer is not this server)",
    404: "No such frame in the pool",
    409: "Nothing to undo for this frame, or a character of that name exists already",
    422: "A parameter or body of the wrong type, out of its range, or naming an unknown character",
    503: "The project cannot be written now; the server's log says why",
}


def problems(*codes: int) -> dict:
    return {code: {"model": Problem, "description": PROBLEMS[code]} for code in codes}


class AnswerIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")  # no "1" for 1, no stray keys

    frame: int = Field(ge=0, le=2**31, description="The frame's row in pool.csv")
    labels: list[Annotated[str, Field(max_length=40)]] = Field(
        max_length=100, description="Its characters; [] for none"
    )
    seen: int = Field(0, ge=0, le=2**53, description="The revision the page was shown (0: none)")
    audit: bool = Field(False, description="Whether the frame was asked for as an audit sample")


class ClassIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="A new character's name")


class UndoIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    frame: int = Field(ge=0, le=2**31)


class Session:
    """The project, its answers, and the model learning from them."""

    def __init__(self, project: Project, *, cache: Path, policy: str, seed: int):
        self.project = project
        self.root = project.root
        self.store = LabelStore(project)
        self.pool = project.read_pool()
        self.row_of = {f.path: i for i, f in enumerate(self.pool)}
        self.cache = cache
        self.policy = policy
        self.seed = seed
        keys = [(f.source, f.shot if f.shot is not None else f.path) for f in self.pool]
        self.groups = np.unique(np.array([f"{s}\t{k}" for s, k in keys]), return_inverse=True)[1]
        self.features: np.ndarray | None = None
        self.embedding: np.ndarray | None = None  # coverage's PCA projection of the features
        self.progress = {"done": 0, "total": 0}
        self.error: str | None = None
        self.head = None  # (head, probabilities, classes it was fitted on, audit estimate)
        self.fitting = False
        self.answered = 0  # answers since the last refit started
        self.batches = 0
        self.version = 0  # bumped by every refit: the page refreshes its suggestions
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # The background learner

    def start(self) -> None:
        """Start the learner (features first); idempotent."""
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._learn, daemon=True, name="toontag-learner"
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(30)

    def refit_soon(self) -> None:
        self.start()
        self._wake.set()

    def _learn(self) -> None:
        try:
            self._compute_features()
        except Exception as e:  # noqa: BLE001  (shown on the page; the labelling goes on)
            log.error("features: %s", e)
            self.error = "the model is off: the frames' features could not be computed"
            return
        self._wake.set()  # labels given while the features were computed
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._refit()
            except Exception as e:  # noqa: BLE001
                log.exception("refit: %s", e)
                self.error = "the last refit failed; the server's log says why"

    def _compute_features(self) -> None:
        from toontag.labelling.features import pool_features

        if not self.pool:
            return

        def progress(done: int, total: int) -> None:
            self.progress = {"done": done, "total": total}

        paths = [self.root / f.path for f in self.pool]
        found = pool_features(paths, self.cache, root=self.root, progress=progress)
        self.embedding = embed(found.features, seed=self.seed)  # coverage's, once per pool
        self.features = found.features
        self.progress = {"done": len(paths), "total": len(paths)}

    def _refit(self) -> None:
        classes = self.store.classes
        answers = [a for a in self.store.answers.values() if a.path in self.row_of]
        fitted = [a for a in answers if not a.audit]
        if not classes or len(fitted) < 2 or self.features is None:
            return
        self.fitting, self.answered = True, 0
        try:
            rows = np.array([self.row_of[a.path] for a in fitted])
            head = fit_head(
                self.features,
                rows,
                _targets(fitted, classes),
                _known(fitted, classes),
                groups=self.groups[rows],
                seed=self.seed,
            )
            probabilities = head.probabilities(self.features)
            audits = [a for a in answers if a.audit]
            estimate = None
            if len(audits) >= AUDIT_MIN:
                audit_rows = [self.row_of[a.path] for a in audits]
                estimate = audit_score(
                    head,
                    self.features,
                    audit_rows,
                    _targets(audits, classes),
                    _known(audits, classes),
                )
            self.head = (head, probabilities, classes, estimate)
            self.version += 1
        finally:
            self.fitting = False

    # What the page asks for

    def state(self) -> dict:
        model = {
            "status": "none yet",
            "fitted_on": 0,
            "version": self.version,
            "fitting": self.fitting,
            "features": self.progress,
            "error": self.error,
            "quality": None,
        }
        if self.features is None and self._thread is not None and not self.error:
            model["status"] = "computing features"
        if self.head is not None:
            head, _, classes, audit = self.head
            model |= {
                "status": f"fitted on {head.labelled} labels",
                "fitted_on": head.labelled,
                "classes": list(classes),
                "seconds": round(head.seconds, 3),
            }
            if audit is not None:
                model["quality"] = _quality(audit, AUDIT_KIND)
            elif head.estimate is not None:
                model["quality"] = _quality(head.estimate, OUT_OF_FOLD_KIND)
        answers = self.store.answers
        recent = sorted(answers.values(), key=lambda a: a.revision, reverse=True)[:12]
        return {
            "classes": list(self.store.classes),
            "counts": self.store.counts(),
            "labelled": len(answers),
            "audited": sum(a.audit for a in answers.values()),
            "pool": len(self.pool),
            "policy": self.policy,
            "model": model,
            "recent": [self.frame(self.row_of[a.path]) for a in recent if a.path in self.row_of],
        }

    def frame(self, row: int, *, audit: bool = False) -> dict:
        """A frame as the page shows it: its answer so far and the model's suggestion."""
        answer = self.store.answers.get(self.pool[row].path)
        suggestion = None
        if self.head is not None:
            head, probabilities, classes, _ = self.head
            p, t = probabilities[row], head.thresholds
            suggestion = {
                c: {"p": round(float(p[k]), 4), "ticked": bool(p[k] >= t[k])}
                for k, c in enumerate(classes)
            }
        return {
            "id": row,
            "audit": audit,
            "labels": None if answer is None else list(answer.labels),
            "revision": 0 if answer is None else answer.revision,
            "suggestion": suggestion,
        }

    def next_frames(self, size: int, policy: str) -> list[dict]:
        labelled = np.zeros(len(self.pool), bool)
        for path in self.store.answers:
            if path in self.row_of:
                labelled[self.row_of[path]] = True
        if labelled.all():
            return []
        self.batches += 1
        rng = np.random.default_rng(self.seed + self.batches)
        audit: list[int] = []
        if self.batches % AUDIT_EVERY == 0:
            open_rows = np.flatnonzero(~labelled)
            audit = [
                int(r)
                for r in rng.choice(open_rows, min(AUDIT_FRAMES, len(open_rows)), replace=False)
            ]
            labelled[audit] = True
        rows: list[int] = []
        if size > len(audit) and not labelled.all():
            rows = [int(r) for r in self._queue(labelled, size - len(audit), policy, rng)]
        chosen = [self.frame(r) for r in rows] + [self.frame(r, audit=True) for r in audit]
        return sorted(chosen, key=lambda f: rng.random())  # the page must not tell audits apart

    def _queue(self, labelled: np.ndarray, size: int, policy: str, rng) -> np.ndarray:
        self.start()
        if self.features is None:  # the features are being computed: any frames will do
            open_rows = np.flatnonzero(~labelled)
            return rng.choice(open_rows, min(size, len(open_rows)), replace=False)
        probabilities, thresholds = None, ()
        if self.head is not None:
            head, probabilities, _, _ = self.head
            thresholds = head.thresholds
        return next_batch(
            self.features,
            probabilities,
            thresholds,
            labelled,
            size=size,
            policy=policy,
            groups=self.groups,
            seed=self.seed + self.batches,
            embedding=self.embedding,
        )

    def counted(self) -> None:
        """One more answer: refit once `REFIT_EVERY` have come since the last."""
        self.answered += 1
        if self.answered >= REFIT_EVERY or (self.head is None and self.answered >= 2):
            self.refit_soon()


def _targets(answers, classes) -> np.ndarray:
    return np.array([[c in a.labels for c in classes] for a in answers], np.float32)


def _known(answers, classes) -> np.ndarray:
    """False where a character was added after the answer: not looked for, masked out."""
    return np.array([[c not in a.unknown for c in classes] for a in answers], bool)


def _quality(estimate, kind: str) -> dict:
    return {
        "f1": round(estimate.f1_micro, 4),
        "precision": round(estimate.precision, 4),
        "recall": round(estimate.recall, 4),
        "entries": estimate.entries,
        "kind": kind,
        "source": estimate.source,
    }


def create_label_app(
    project: Path | str,
    *,
    allowed_hosts: tuple[str, ...] = LOOPBACK_NAMES,
    token: str | None = None,
    policy: str = "active",
    cache: Path | None = None,
    seed: int = 0,
) -> FastAPI:
    """The labelling app over `project`, which it holds (the project's lock) until it shuts
    down or `app.state.close()` is called. `cache`: the features' folder (PROJECT/features)."""
    if policy not in POLICIES:
        raise ToontagError(f"unknown queue policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if token is not None:
        check_token(token)
    opened = Project.open(project)
    held = contextlib.ExitStack()
    held.enter_context(opened.lock())
    try:
        session = Session(
            opened, cache=Path(cache or opened.root / FEATURES_FOLDER), policy=policy, seed=seed
        )
    except BaseException:
        held.close()
        raise

    def close() -> None:
        session.stop()
        held.close()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        session.start()
        try:
            yield
        finally:
            close()

    app = FastAPI(
        title="toontag label",
        version=__version__,
        description="Label a project's frames: the next to label, suggestions, every answer "
        "saved at once.",
        responses=problems(400, *([401] if token else [])),
        dependencies=token_security() if token else None,
        lifespan=lifespan,
    )
    app.state.session = session
    app.state.close = close
    app.add_middleware(SameOrigin)
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts, token=token)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ToontagError, _unwritable)

    def row_of(frame: int) -> int:
        if frame >= len(session.pool):
            raise HTTPException(404, f"no frame {frame} in the pool ({len(session.pool)} frames)")
        return frame

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return files("toontag.serve").joinpath("labelling.html").read_text()

    @app.get("/api/state", summary="Characters, counts, the model and its quality estimate")
    def state() -> dict:
        return session.state()

    @app.get(
        "/api/next", summary="The next frames to label, with suggestions", responses=problems(422)
    )
    def next_frames(
        size: Annotated[int, Query(ge=1, le=50)] = BATCH,
        policy: Annotated[str | None, Query(pattern="^(" + "|".join(POLICIES) + ")$")] = None,
    ) -> dict:
        return {"frames": session.next_frames(size, policy or session.policy)}

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
        responses={
            200: {
                "description": "The JPEG",
                "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            },
            **problems(404, 422),
        },
    )
    def frame_image(frame: FrameId):
        file = (session.root / session.pool[row_of(frame)].path).resolve()
        frames = (session.root / "frames").resolve()
        if not file.is_relative_to(frames) or not file.is_file():
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
            saved = session.store.answer(
                session.pool[row].path, body.labels, seen=body.seen, audit=body.audit
            )
        except LabelError as e:
            raise HTTPException(422, str(e)) from None
        session.counted()
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
        summary="Restore a frame's answer before its last one",
        responses=problems(403, 404, 409, 422, 503),
    )
    def undo(body: Annotated[UndoIn, Body()]) -> dict:
        row = row_of(body.frame)
        try:
            previous = session.store.undo(session.pool[row].path)
        except NoHistory as e:
            raise HTTPException(409, str(e)) from None
        return {
            "frame": row,
            "labels": None if previous is None else list(previous.labels),
            "revision": 0 if previous is None else previous.revision,
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
            classes = session.store.add_class(body.name)
        except LabelError as e:
            taken = "already" in str(e)
            raise HTTPException(409 if taken else 422, str(e)) from None
        session.refit_soon()
        return {"classes": list(classes)}

    return app


class SameOrigin:
    """ASGI middleware: 403 for a write whose Origin (or, without one, Referer) names another
    site than the Host it was sent to. A browser always sends Origin on a cross-site POST;
    requests that carry neither (curl, scripts) come from no web page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITES:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            origin = headers.get("origin") or headers.get("referer")
            if origin is not None and not _same_site(origin, headers.get("host", "")):
                refusal = JSONResponse(
                    {
                        "detail": "a write from another site's page is refused "
                        "(its Origin is not this server)"
                    },
                    status_code=403,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _same_site(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


async def _unwritable(request: Request, exc: ToontagError) -> JSONResponse:
    """The project failed under a running server: its path and reason go to the log only."""
    log.error("%s", exc)
    return JSONResponse({"detail": PROBLEMS[503]}, status_code=503)


def wait_for_model(app: FastAPI, version: int = 1, timeout: float = 60.0) -> bool:
    """Block until the app's model has been fitted `version` times (tests, scripts)."""
    deadline = time.monotonic() + timeout
    while app.state.session.version < version and time.monotonic() < deadline:
        time.sleep(0.05)
    return app.state.session.version >= version
