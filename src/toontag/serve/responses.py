"""What both apps answer besides their data: one error body, `Problem`, for every error; the
handlers that turn a failed validation or a failure under a running server into one; and how
their OpenAPI documents declare errors and binary bodies; and their pages.
"""

from __future__ import annotations

import logging
from importlib.resources import files

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel


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


SHARED_CSS = "  /* toontag.css */\n"  # the line of a page's <style> that the shared look replaces


def page_html(name: str) -> str:
    """The page `name` (an HTML file of this package) with the look both apps share."""
    here = files("toontag.serve")
    shared = here.joinpath("toontag.css").read_text().split("\n", 1)[1]  # less its comment
    return here.joinpath(name).read_text().replace(SHARED_CSS, shared, 1)
