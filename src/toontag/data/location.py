"""Where the dataset is when a command is not told: one rule for every command.

`--data PATH` if given, else `$TOONTAG_DATA`, else the first of `DEFAULT_LOCATIONS` that
exists: `./kral_sakir` (where the README's `git clone` puts it) and `../shared/data/kral_sakir`
(this repository's CI layout). A command on a trained run uses the data the run recorded.
"""

from __future__ import annotations

import os
from pathlib import Path

from toontag.data.dataset import HOW_TO_GET
from toontag.errors import DataError, RunError
from toontag.runs import read_config, read_split, recorded_data

DEFAULT_LOCATIONS = (Path("kral_sakir"), Path("../shared/data/kral_sakir"))


def find_data(given: Path | None = None, *, run: Path | None = None) -> Path:
    """The dataset to use: `given`, else the run's recorded data, else $TOONTAG_DATA, else
    the first default location that exists; a one-line `DataError` saying how to get it."""
    return which_data(given, run=run)[0]


def which_data(given: Path | None = None, *, run: Path | None = None) -> tuple[Path, str]:
    """`find_data`'s dataset and, in words, where it came from ("recorded by RUN", "from
    $TOONTAG_DATA; RUN's recorded X is not there"), for a command on a run to say."""
    if given is not None:
        if not Path(given).exists():  # checked here too: benchmark --report-only reads no data
            raise DataError(f"{given}: no such dataset folder or manifest ({HOW_TO_GET})")
        return Path(given), "given"
    gone = ""
    if run is not None:
        recorded = recorded_data(run)
        if recorded is not None and recorded.exists():
            return recorded, f"recorded by {run}"
        if recorded is not None:
            gone = f"; {run}'s recorded {recorded} is not there"
    if os.environ.get("TOONTAG_DATA"):
        env = Path(os.environ["TOONTAG_DATA"])
        if not env.exists():
            raise DataError(f"{env} (from $TOONTAG_DATA): no such dataset ({HOW_TO_GET})")
        return env, f"from $TOONTAG_DATA{gone}"
    for place in DEFAULT_LOCATIONS:
        if place.exists():
            return place, f"the default location{gone}"
    looked = ", ".join(
        f"./{p}" if not str(p).startswith(".") else str(p) for p in DEFAULT_LOCATIONS
    )
    raise DataError(
        f"no dataset: pass --data PATH or set TOONTAG_DATA, or {HOW_TO_GET} (looked in {looked})"
        + gone
    )


def validation_frames(run: Path | str, dataset):
    """The frames of `dataset` the run validated on (the sequences its training held out of
    train): listed in its split.json, or, for runs written before that list was kept, drawn
    again the way its training drew them."""
    run = Path(run)
    split = read_split(run)
    if "val_images" in split:
        wanted = {Path(p).resolve() for p in split["val_images"]}
        rows = [i for i, s in enumerate(dataset.samples) if Path(s.path).resolve() in wanted]
        if not rows:
            raise RunError(f"{run}: none of the frames it validated on are in {dataset.root}")
        return dataset.select(rows)
    from toontag.data.datamodule import ToonDataModule

    dm = ToonDataModule.for_config(dataset, read_config(run))
    dm.setup()
    return dataset.select(dm.parts.val)
