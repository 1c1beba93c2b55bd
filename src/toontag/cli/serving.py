"""Serving: the search page and its JSON API over an index."""

from __future__ import annotations

from typing import Annotated

from toontag.cli._app import app, out, serve_app, server_access
from toontag.cli.options import (
    AllowedHostOpt,
    DbOpt,
    ExposeOpt,
    PortOpt,
    TokenOpt,
    host_option,
)


@app.command()
def serve(
    db: DbOpt,
    host: Annotated[
        str,
        host_option(
            "(0.0.0.0: every interface) shows every indexed video to whoever reaches the port, "
            "with no login"
        ),
    ] = "127.0.0.1",
    port: PortOpt = 8000,
    allowed_host: AllowedHostOpt = None,
    expose: ExposeOpt = False,
    token: TokenOpt = None,
) -> None:
    """A web page over an index: search, thumbnails of the hits, a player that starts at
    the clicked range; and its JSON API (OpenAPI at /docs)."""
    from toontag.serve.app import SEARCH, create_app

    hosts = server_access(host, port, allowed_host, served=SEARCH, expose=expose, token=token)
    application = create_app(db, allowed_hosts=hosts, token=token)

    def say(where: str) -> None:
        out.print(
            f"serving {db} at {where} (API docs at /docs; answers to {', '.join(hosts)}); "
            "Ctrl+C stops",
            soft_wrap=True,
            markup=False,
        )

    serve_app(application, host=host, port=port, token=token, say=say)
