"""The first-run demo: a model, a short video, its index and one search, in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toontag.cli._app import app, out, output_folder
from toontag.cli.options import DataOpt
from toontag.cli.video import hits_table
from toontag.data.location import find_data


@app.command()
def demo(
    data: DataOpt = None,
    work: Annotated[
        Path, typer.Option(help="Where the run, the video and the index go (reused).")
    ] = Path("toontag-demo"),
    run: Annotated[
        Path | None, typer.Option(help="A finished run to use instead of training one.")
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(help="The search (default: the two characters on screen longest)."),
    ] = None,
    seconds: Annotated[float, typer.Option(min=5, max=3600, help="The video's length.")] = 60.0,
) -> None:
    """Show the product in minutes: train EfficientNet-Lite0 briefly on a quarter of the
    training split (or take --run), make a one-minute video of frames the model validated
    on, index it, run one search and say how to open the search page. Run again to reuse
    what it made."""
    from toontag.demo import run_demo

    def say(text: str) -> None:
        out.print(f"[bold]>[/] {text}", soft_wrap=True, highlight=False)

    output_folder(work, "--work")
    result = run_demo(
        data=find_data(data), work=work, run=run, query=query, seconds=seconds, say=say
    )
    out.print(hits_table(result.query, [h.to_dict() for h in result.hits]))
    took = ", ".join(f"{name} {s:.0f} s" for name, s in result.steps.items())
    out.print(
        f"done in {sum(result.steps.values()):.0f} s ({took}). Open the search page:\n"
        f"    toontag serve --db {result.db}\nthen the address it prints in a browser (another "
        f"port with --port if 8000 is taken; try {result.query!r}, or click a lane to play "
        "from there).",
        soft_wrap=True,
        highlight=False,
    )
