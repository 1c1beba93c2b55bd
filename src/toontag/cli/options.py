"""The arguments and options several commands share, defined once so that each reads and
checks the same everywhere: `run: RunArg`, `cache: CacheOpt = None`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toontag.cli._app import output_folder

DATA_HELP = (
    "Dataset folder (<split>/<combination>/<id>.jpg) or CSV manifest (path,labels[,split]); "
    "default $TOONTAG_DATA, else ./kral_sakir, else ../shared/data/kral_sakir."
)
DataArg = Annotated[Path | None, typer.Argument(help=DATA_HELP, show_default=False)]
DataOpt = Annotated[Path | None, typer.Option("--data", help=DATA_HELP, show_default=False)]
RunArg = Annotated[Path, typer.Argument(help="A finished run directory.")]
SplitOpt = Annotated[str, typer.Option(help="train, val or test.")]
RetestOpt = Annotated[
    bool,
    typer.Option(
        help="Look again at test data this run was evaluated on (refused otherwise; each look "
        "is recorded in RUN/test-looks.json)."
    ),
]
EngineOpt = Annotated[str, typer.Option(help="onnx (ONNX Runtime) or torch.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")]
DbOpt = Annotated[Path, typer.Option("--db", help="The index: one SQLite file.")]


def folder_check(option: str):
    """A Typer callback refusing an output folder `option` before the command runs, when it
    is a file or lies under one."""

    def check(value: Path | None) -> Path | None:
        return output_folder(value, option)

    return check


def out_dir_option(help: str) -> typer.models.OptionInfo:  # noqa: A002
    """`--out` naming a folder to write into."""
    return typer.Option("--out", help=help, callback=folder_check("--out"))


CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="Image cache folder (default $TOONTAG_CACHE or ~/.cache/toontag).",
        callback=folder_check("--cache"),
    ),
]
ResultsOpt = Annotated[
    Path,
    typer.Option(
        "--results", help="Where the result files go.", callback=folder_check("--results")
    ),
]
ClassesOpt = Annotated[
    str | None,
    typer.Option(
        "--classes",
        help="The classes, in order: a,b,c or a file naming one a line (default: classes.txt "
        "beside the data, else a manifest's labels); a label outside them is an error.",
        show_default=False,
    ),
]


def host_option(exposed: str) -> typer.models.OptionInfo:
    """`--host`, saying what a bind beyond this machine shows and to whom (`exposed`)."""
    return typer.Option(
        help=f"Interface to bind. 127.0.0.1: this machine only. Any other {exposed}: it needs "
        "--token or --expose."
    )


PortOpt = Annotated[
    int, typer.Option(min=0, max=65535, help="The port to listen on (0: a free one, printed).")
]
AllowedHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allowed-host",
        help="A Host name the server answers to besides localhost, 127.0.0.1, ::1 and "
        "--host (repeatable), e.g. the name or address others reach it by.",
        show_default=False,
    ),
]
ExposeOpt = Annotated[
    bool, typer.Option("--expose", help="Serve beyond this machine without a token.")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="TOONTAG_TOKEN",
        help="Require this token on every request (16+ letters, digits, - or _): as "
        "'Authorization: Bearer TOKEN', or open /?token=TOKEN once in the browser.",
        show_default=False,
    ),
]
