"""Serving: the search page and its JSON API over an index."""

from __future__ import annotations

from typing import Annotated

import typer

from toontag.cli._app import DbOpt, app, out


@app.command()
def serve(
    db: DbOpt,
    host: Annotated[
        str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """A web page over an index: search, thumbnails of the hits, a player that starts at
    the clicked range; and its JSON API (OpenAPI at /docs)."""
    import uvicorn

    from toontag.serve.app import create_app

    application = create_app(db)
    out.print(f"serving {db} at http://{host}:{port} (API docs at /docs); Ctrl+C stops")
    uvicorn.run(application, host=host, port=port, log_level="warning")
