"""Where the dataset is when a command is not told: one rule for every command.

`--data PATH` if given, else `$TOONTAG_DATA`, else the first of `DEFAULT_LOCATIONS` that
exists: `./kral_sakir` (where the README's `git clone` puts it) and `../shared/data/kral_sakir`
(this repository's CI layout). A command on a trained run uses the data the run recorded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from toontag.data.dataset import HOW_TO_GET
from toontag.errors import DataError

DEFAULT_LOCATIONS = (Path("kral_sakir"), Path("../shared/data/kral_sakir"))


def find_data(given: Path | None = None, *, run: Path | None = None) -> Path:
    """The dataset to use: `given`, else the run's recorded data, else $TOONTAG_DATA, else
    the first default location that exists; a one-line `DataError` saying how to get it."""
    if given is not None:
        if not Path(given).exists():  # checked here too: benchmark --report-only reads no data
            raise DataError(f"{given}: no such dataset folder or manifest ({HOW_TO_GET})")
        return Path(given)
    if run is not None:
        recorded = run_data(run)
        if recorded is not None:
            return recorded
    if os.environ.get("TOONTAG_DATA"):
        env = Path(os.environ["TOONTAG_DATA"])
        if not env.exists():
            raise DataError(f"{env} (from $TOONTAG_DATA): no such dataset ({HOW_TO_GET})")
        return env
    for place in DEFAULT_LOCATIONS:
        if place.exists():
            return place
    looked = ", ".join(
        f"./{p}" if not str(p).startswith(".") else str(p) for p in DEFAULT_LOCATIONS
    )
    raise DataError(
        f"no dataset: pass --data PATH or set TOONTAG_DATA, or {HOW_TO_GET} (looked in {looked})"
    )


def run_data(run: Path) -> Path | None:
    """The data a run was trained on, as its split.json records it, if it still exists."""
    try:
        recorded = Path(json.loads((Path(run) / "split.json").read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return recorded if recorded.exists() else None
