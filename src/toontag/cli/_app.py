"""What every command group shares: the Typer apps, the consoles and the helpers that check
values and print results."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from toontag.errors import FileError

# The order `toontag --help` lists the commands in, as users know it, whichever module defines
# them; a command not named here follows them, and the groups (data, label) come last.
HELP_ORDER = (
    "index",
    "videos",
    "search",
    "timeline",
    "demo",
    "explain",
    "report",
    "frames",
    "serve",
    "models",
    "train",
    "evaluate",
    "compare",
    "predict",
    "export",
    "enrol",
    "ensemble",
    "benchmark",
)


class InHelpOrder(TyperGroup):
    """The top-level command group, listing its commands in `HELP_ORDER`."""

    def list_commands(self, ctx) -> list[str]:
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: rank.get(name, len(rank)))


app = typer.Typer(
    cls=InHelpOrder,
    help="Recognise which cartoon characters appear in images: train, evaluate, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console(width=None if sys.stdout.isatty() else 160)  # tables stay whole in logs
err = Console(stderr=True)


def parse_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '112x192' -> (112, 192), as HEIGHTxWIDTH."""
    match = re.fullmatch(r"(\d+)(?:[x,](\d+))?", text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not HEIGHTxWIDTH, e.g. 224 or 112x192")
    height = int(match[1])
    return height, int(match[2] or height)


def parse_video_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1080, 1920): a video's size as every video tool writes it, WIDTHxHEIGHT
    (image sizes stay HEIGHTxWIDTH, the training convention); returned (height, width)."""
    match = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower())
    if not match:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
    return int(match[2]), int(match[1])


def report_files(results: list[dict], line, *, as_json: bool = False) -> None:
    """All results as one JSON document on stdout (`as_json`), else one line per file
    (`line(result)`); each failed file also as `error: FILE: reason` on stderr. Exit 1 after
    them if any file failed, so one bad file never hides the others' results."""
    if as_json:
        print(json.dumps(results, indent=2))
    for r in results:
        if "error" in r:
            err.print(
                f"[red]error:[/] {escape(str(r['path']))}: {escape(str(r['error']))}",
                highlight=False,
                soft_wrap=True,
            )
        elif line is not None and not as_json:
            out.print(line(r))
    if any("error" in r for r in results):
        raise typer.Exit(1)


def output_folder(path: Path | None, option: str) -> Path | None:
    """`path` as a folder to write into, refused before any work when it is a file or lies
    under one (where no folder can be made)."""
    if path is None:
        return None
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                raise FileError(place, f"is a file, not a folder ({option} names a folder)")
            break
    return path


def class_list(text: str | None) -> dict:
    """`load_dataset`'s keywords for a `--classes` value (none when it is not given)."""
    from toontag.data.dataset import read_class_list

    return {} if text is None else {"classes": read_class_list(text), "classes_from": "--classes"}


def show_classes(dataset, *, counts: bool = True) -> None:
    """When a manifest's labels made the classes: them with their counts, and a warning for
    each label that looks like a misspelling of a far more frequent one."""
    from toontag.data.dataset import FROM_LABELS, likely_misspellings

    if dataset.classes_from != FROM_LABELS:
        return
    found = dataset.class_counts
    if counts:
        listed = ", ".join(f"{name} {n:,}" for name, n in found.items())
        out.print(f"classes from the manifest's labels (images): {listed}")
    for label, name in likely_misspellings(found).items():
        out.print(
            f"[yellow]warning: label {label!r} ({found[label]:,} images) looks like a misspelling "
            f"of {name!r} ({found[name]:,}); correct it, or fix the classes with classes.txt "
            "beside the manifest or --classes[/]"
        )


def server_access(
    host: str, port: int, allowed: list[str] | None, *, served, expose: bool, token: str | None
) -> tuple[str, ...]:
    """The Host names a server answers to, after refusing a bind beyond this machine without a
    token or --expose (the rules of `toontag.serve.access`; `served`: which server, for the
    refusal)."""
    from toontag.serve.access import check_bind, trusted_hosts

    hosts = trusted_hosts(host, allowed or ())
    check_bind(host, port, served=served, expose=expose, token=token)
    return hosts


def serve_app(application, *, host: str, port: int, token: str | None, say) -> None:
    """Serve `application` on `host`:`port` until Ctrl+C: the port bound first (a taken one is
    one error line naming it), then `say(address)` told the address actually served (--port 0
    picks a free port), then uvicorn."""
    from toontag.serve.local import listen, serve

    with listen(host, port) as sock:
        bound = sock.getsockname()[1]
        where = f"http://{f'[{host}]' if ':' in host else host}:{bound}/"
        say(where + (f"?token={token}" if token else ""))
        serve(application, sock)
