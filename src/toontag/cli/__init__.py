"""The `toontag` command line: thin commands that validate, then call the library.

Commands live in one module per group as users see them (data, training, predict, benchmark,
explain, video, labelling, serving, demo; the options they share in `options`); this module
holds the one place where errors become output:

- a user error (a `ToontagError`, a file the system refuses, a bad option) is one red line
  naming the value and the fix: exit 1, or 2 for the argument parser's usage errors;
- anything else is a bug in toontag: one line saying so, the traceback written to a log file
  whose path is printed (or shown on stderr with `--debug` / `TOONTAG_DEBUG=1`), exit 70.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import traceback
import warnings
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer._click import exceptions as click_errors  # typer vendors click

from toontag.cli import (  # noqa: F401 (registers)
    benchmark,
    data,
    demo,
    explain,
    labelling,
    predict,
    serving,
    training,
    video,
)
from toontag.cli._app import app, parse_size
from toontag.errors import ToontagError

__all__ = ["app", "main", "parse_size"]

BUG_EXIT = 70  # EX_SOFTWARE: an internal error, never a user's mistake
_debug = {"on": os.environ.get("TOONTAG_DEBUG", "") not in ("", "0")}


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an internal error.")
    ] = False,
) -> None:
    """Recognise which cartoon characters appear in images and videos."""
    if debug:
        _debug["on"] = True


def quiet_libraries() -> None:
    """Keep the terminal for toontag's own output: no tips or deprecation noise from the
    libraries. Other warnings (a decompression bomb, say) still show."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for module in ("lightning", "pytorch_lightning", "torch", "timm", "torchmetrics"):
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _say(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_error(e: click_errors.ClickException) -> int:
    """A bad option or argument: one line, with where to read the command's help."""
    context = getattr(e, "ctx", None)
    where = f" (see {context.command_path} --help)" if context else ""
    _say(escape(_one_line(e.format_message())) + where)
    return e.exit_code


def _os_error(e: OSError) -> str:
    """'PATH: reason' for a file the system refused (a directory, no permission, disk full)."""
    reason = e.strerror or _one_line(str(e)) or type(e).__name__
    return f"{e.filename}: {reason}" if e.filename else reason


def crash_log_dir() -> Path:
    """Where tracebacks of internal errors go: $TOONTAG_LOG_DIR, else ~/.cache/toontag/logs."""
    if os.environ.get("TOONTAG_LOG_DIR"):
        return Path(os.environ["TOONTAG_LOG_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "toontag" / "logs"


def _bug(e: BaseException) -> None:
    """An exception toontag did not expect: say it is a bug and keep the traceback."""
    text = "".join(traceback.format_exception(e))
    summary = _one_line(f"{type(e).__name__}: {e}")[:300]
    if _debug["on"]:
        sys.stderr.write(text)
        where = "traceback above"
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        header = f"toontag {' '.join(sys.argv[1:])}\n\n"
        try:
            folder = crash_log_dir()
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=f"crash-{stamp}-", suffix=".log")
        except OSError:
            fd, name = tempfile.mkstemp(prefix=f"toontag-crash-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(header + text)
        where = f"traceback in {name}"
    _say(f"internal error, a bug in toontag: {escape(summary)} ({where}; please report it)")


def main() -> None:
    """The `toontag` entry point: run one command, turn its errors into one line."""
    quiet_libraries()
    try:
        code = app(prog_name="toontag", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        print(e.ctx.get_help() if e.ctx else str(e))
        code = 0
    except click_errors.ClickException as e:
        code = _usage_error(e)
    except ToontagError as e:
        _say(escape(_one_line(str(e))))
        code = 1
    except OSError as e:
        _say(escape(_os_error(e)))
        code = 1
    except MemoryError:
        _say("out of memory: try a smaller --batch-size or image size")
        code = 1
    except (KeyboardInterrupt, typer.Abort):
        Console(stderr=True).print("[red]interrupted[/]")
        code = 130
    except Exception as e:  # noqa: BLE001  (the one boundary between bugs and users)
        _bug(e)
        code = BUG_EXIT
    sys.exit(code or 0)
