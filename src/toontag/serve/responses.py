"""What both apps answer besides their data: one error body, `Problem`, for every error; the
handlers that turn a failed validation or a failure under a running server into one; and how
their OpenAPI documents declare errors and binary bodies; the app itself under the access
rules; and their pages.
"""

from __future__ import annotations

import logging
import re
from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator

from toontag import __version__
from toontag.serve.access import AccessGuard, Login, SameOrigin, Served, token_security
from toontag.serve.limits import MAX_BODY, BodyLimit

DIGITS = re.compile(r"-?[0-9]+")


def _digits(value):
    """A whole number in a URL as JSON Schema's integer is written there: digits, no '+0.0'."""
    if isinstance(value, str) and not DIGITS.fullmatch(value):
        raise ValueError("should be a whole number written in digits")
    return value


# After a path or query parameter's Path(...) or Query(...): Annotated[int, Query(...), IN_DIGITS]
IN_DIGITS = BeforeValidator(_digits)


class Problem(BaseModel):
    """Every error's body: one line saying what is wrong, never a server path."""

    detail: str


def problem_responses(meanings: dict[int, str], *codes: int, **descriptions: str) -> dict:
    """OpenAPI `responses` for error `codes`, each a Problem described by its line in
    `meanings`, or by `descriptions` (e400=...) where one is given."""
    return {
        code: {"model": Problem, "description": descriptions.get(f"e{code}", meanings[code])}
        for code in codes
    }


def binary(*media_types: str, description: str, **extra) -> dict:
    """An OpenAPI response of bytes in any of `media_types`."""
    return {
        "description": description,
        "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types},
        **extra,
    }


async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A parameter or body that fails validation, as a Problem like every other error."""
    detail = "; ".join(
        f"{' '.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
    return JSONResponse({"detail": detail}, status_code=422)


def unavailable(detail: str, log: logging.Logger):
    """A handler for what fails under a running server (the index, the project): the error,
    which names a path, goes to `log` only; the client gets 503 and `detail`."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s", exc)
        return JSONResponse({"detail": detail}, status_code=503)

    return handler


TOO_LARGE = f"A request body over {MAX_BODY:,} bytes, refused before it is read"
SHARED_HEAD = "<!-- head.html -->\n"  # a page's first line, where the shared head goes


def page_html(name: str) -> str:
    """The page `name` (an HTML file of this package) after the head and look both apps'
    pages share (head.html: the document type, character set, viewport and base styles)."""
    here = files("toontag.serve")
    head = here.joinpath("head.html").read_text()
    return here.joinpath(name).read_text().replace(SHARED_HEAD, head, 1)


def guarded_app(
    *,
    title: str,
    description: str,
    responses: dict,
    allowed_hosts: tuple[str, ...],
    token: str | None,
    served: Served,
    same_origin: bool = False,
    lifespan=None,
) -> FastAPI:
    """A FastAPI app answering only requests addressed to `allowed_hosts` and, with a
    `token`, only those that carry it or the session this app mints (access.py); `served`:
    whose refusals these are; `same_origin`: writes from another site refused too.
    Every request's body is bounded (limits.py); a failed validation is answered as a
    `Problem`."""
    login = Login(token) if token else None
    app = FastAPI(
        title=title,
        version=__version__,
        description=description,
        responses={**responses, 413: {"model": Problem, "description": TOO_LARGE}},
        dependencies=token_security(login) if login else None,
        lifespan=lifespan,
    )
    if same_origin:
        app.add_middleware(SameOrigin)
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts, login=login, served=served)
    app.add_middleware(BodyLimit)  # outermost: a body too large is refused first
    app.add_exception_handler(RequestValidationError, invalid)
    return app
