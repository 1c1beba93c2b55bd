"""Serving: the search page and its JSON API over an index."""

from __future__ import annotations

from typing import Annotated

import typer

from toontag.cli._app import DbOpt, app, out


@app.command()
def serve(
    db: DbOpt,
    host: Annotated[
        str,
        typer.Option(
            help="Interface to bind. 127.0.0.1: this machine only. Any other (0.0.0.0: every "
            "interface) shows every indexed video to whoever reaches the port, with no login: "
            "it needs --token or --expose."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="A Host name the server answers to besides localhost, 127.0.0.1, ::1 and "
            "--host (repeatable), e.g. the name or address others reach it by.",
            show_default=False,
        ),
    ] = None,
    expose: Annotated[
        bool,
        typer.Option("--expose", help="Serve beyond this machine without a token."),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TOONTAG_TOKEN",
            help="Require this token on every request (16+ letters, digits, - or _): as "
            "'Authorization: Bearer TOKEN', or open /?token=TOKEN once in the browser.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """A web page over an index: search, thumbnails of the hits, a player that starts at
    the clicked range; and its JSON API (OpenAPI at /docs)."""
    import uvicorn

    from toontag.serve.access import check_bind, trusted_hosts
    from toontag.serve.app import create_app

    hosts = trusted_hosts(host, allowed_host or ())
    check_bind(host, port, expose=expose, token=token)
    application = create_app(db, allowed_hosts=hosts, token=token)
    where = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    out.print(f"serving {db} at {where}{'?token=' + token if token else ''} (API docs at "
              f"/docs; answers to {', '.join(hosts)}); Ctrl+C stops",
              soft_wrap=True, markup=False)  # fmt: skip
    uvicorn.run(application, host=host, port=port, log_level="warning")
