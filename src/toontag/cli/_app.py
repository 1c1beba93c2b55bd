"""What every command group shares: the Typer apps, the console, common options, helpers."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Recognise which cartoon characters appear in images: train, evaluate, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console(width=None if sys.stdout.isatty() else 160)  # tables stay whole in logs

DataArg = Annotated[
    Path,
    typer.Argument(
        help="Dataset folder (<split>/<combination>/<id>.jpg) "
        "or CSV manifest (path,labels[,split])."
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache", help="Image cache folder (default $TOONTAG_CACHE or ~/.cache/toontag)."
    ),
]
DbOpt = Annotated[Path, typer.Option("--db", help="The index: one SQLite file.")]


def parse_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '112x192' -> (112, 192), as HEIGHTxWIDTH."""
    match = re.fullmatch(r"(\d+)(?:[x,](\d+))?", text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not HEIGHTxWIDTH, e.g. 224 or 112x192")
    height = int(match[1])
    return height, int(match[2] or height)


def report_files(results: list[dict], line) -> None:
    """One line per file (`line(result)`, or the file's error in red); exit 1 after them if
    any file failed, so one bad file never hides the others' results."""
    for r in results:
        if line is not None:
            out.print(f"[red]{r['path']}: {r['error']}[/]" if "error" in r else line(r))
    if any("error" in r for r in results):
        raise typer.Exit(1)
