"""The run directory: what a trained model is on disk, read and written by every layer.

config.json        the resolved TrainConfig
model.json         class names, thresholds, input size, model name, training pictures' aspect
model.safetensors  the best weights (written when training ends)
model.onnx         the ONNX export, made on first use by the ONNX Runtime engine
checkpoints/       Lightning's best.ckpt and last.ckpt (resume from last)
metrics.csv        per-epoch log
split.json         the data, how train/val/test were made, their sizes, the frames validated on
report.json        wall time, epochs, throughput, skipped images
metrics-<name>.json, .md and predictions-<name>.csv   an evaluation (`evaluation_files`)
.toontag-run       made with the folder: the files here are toontag's to replace

An ensemble directory holds ``ensemble.json`` (its member runs) and ``model.json`` instead.
This module reads and writes those files and nothing else: it imports neither PyTorch (until
weights are read or written) nor any layer above the config, so that indexing with ONNX
Runtime, evaluation and the web layer all read a run the same way. Building the network from
these files is `toontag.models.trained.load_trained`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import NamedTuple

from toontag.config import TrainConfig
from toontag.errors import RunError
from toontag.io import hash_file, replace_file, write_json, write_text

CONFIG, MODEL_INFO, WEIGHTS = "config.json", "model.json", "model.safetensors"
ENSEMBLE, SPLIT, REPORT, ONNX_FILE = "ensemble.json", "split.json", "report.json", "model.onnx"
CHECKPOINTS, LAST, BEST = "checkpoints", "last.ckpt", "best.ckpt"
MARK = ".toontag-run"


def check_new_run(out: Path | str) -> None:
    """A `RunError` unless a new run may be written into `out`: it is absent, empty, or was
    made by toontag (it holds `MARK`, as after a run killed early). A folder holding files of
    the user's is refused, since a run's files (config.json, say) would replace theirs. Hidden
    names are passed over: toontag never writes over one, it only makes its own temporaries."""
    out = Path(out)
    if not out.is_dir() or (out / MARK).is_file():
        return
    with os.scandir(out) as listing:
        foreign = sorted(e.name for e in listing if not e.name.startswith("."))
    if foreign:
        named = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise RunError(
            f"{out}: holds files toontag did not write ({named}); choose another --out "
            "(a new or empty folder)"
        )


def mark_run(out: Path | str) -> None:
    """Make the folder `out` (when new) and mark it as a run's (`MARK`), before anything else
    is written there, so that a rerun after a kill knows its files as toontag's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not (out / MARK).is_file():
        write_text(out / MARK, "")


def model_id(run: Path | str) -> str:
    """A short content hash of what decides a run's predictions: its model.json and weights
    (an ensemble's: its members' ids). Indexes record it to refuse mixing models."""
    run = Path(run)
    digest = hashlib.sha256((run / MODEL_INFO).read_bytes())
    if (run / ENSEMBLE).is_file():
        for member in ensemble_members(run):
            digest.update(model_id(member).encode())
    else:
        hash_file(run / WEIGHTS, digest)
    return digest.hexdigest()[:16]


def write_model_info(
    run: Path, config: TrainConfig, classes, thresholds=None, picture_aspect: float | None = None
) -> None:
    """``model.json``: the model's name, classes, decision thresholds (the config's single
    threshold until tuned), input size and the training pictures' aspect."""
    thresholds = thresholds or [config.threshold] * len(classes)
    info = {
        "model": config.model,
        "classes": list(classes),
        "thresholds": [float(t) for t in thresholds],
        "image_size": list(config.image_size),
    }
    if picture_aspect is not None:
        info["picture_aspect"] = round(float(picture_aspect), 4)
    write_json(run / MODEL_INFO, info)


def read_model_info(run: Path | str) -> dict:
    """``model.json`` of a run or ensemble, or a `RunError` naming the run."""
    path = Path(run) / MODEL_INFO
    if not path.is_file():
        raise RunError(f"{run}: not a finished toontag run ({MODEL_INFO} is missing)")
    return json.loads(path.read_text())


def check_finished(run: Path) -> None:
    """A `RunError` naming the first file a finished single-model run lacks."""
    for name in (CONFIG, MODEL_INFO, WEIGHTS):
        if not (run / name).is_file():
            raise RunError(f"{run}: not a finished toontag run ({name} is missing)")


def read_config(run: Path | str) -> TrainConfig:
    return TrainConfig.load(Path(run) / CONFIG)


def save_weights(run: Path, model) -> None:
    """`model`'s state dict as ``model.safetensors``, renamed into place whole."""
    from safetensors.torch import save_file

    tmp = run / f".{WEIGHTS}.tmp"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp)
    replace_file(tmp, run / WEIGHTS)


def read_weights(run: Path | str) -> dict:
    """The state dict in ``model.safetensors`` (PyTorch tensors on the CPU)."""
    from safetensors.torch import load_file

    return load_file(Path(run) / WEIGHTS)


def is_ensemble(run: Path | str) -> bool:
    return (Path(run) / ENSEMBLE).is_file()


def ensemble_members(run: Path | str) -> list[Path]:
    """The member runs an ensemble directory lists."""
    return [Path(m) for m in json.loads((Path(run) / ENSEMBLE).read_text())["members"]]


def write_ensemble_members(out: Path, runs: list[Path]) -> None:
    write_json(out / ENSEMBLE, {"members": [str(Path(r).resolve()) for r in runs]})


def read_split(run: Path | str) -> dict:
    """``split.json``, or a `RunError` when the run has none (an ensemble, say)."""
    path = Path(run) / SPLIT
    if not path.is_file():
        raise RunError(f"{run}: no {SPLIT}, so no frames it validated on (an ensemble?)")
    return json.loads(path.read_text())


def recorded_data(run: Path) -> Path | None:
    """The data a run was trained on, as its split.json records it (whether or not it is still
    there): an absolute path, or for runs written before issue 26 the path as it was given,
    relative to the folder training ran in."""
    try:
        return Path(json.loads((Path(run) / SPLIT).read_text())["data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_data(run: Path) -> Path | None:
    """The data a run was trained on (`recorded_data`), if it still exists."""
    recorded = recorded_data(run)
    return recorded if recorded is not None and recorded.exists() else None


def same_data(a: Path | str, b: Path | str) -> bool:
    """Whether two paths name the same dataset (folder or manifest), however they were given."""
    return Path(a).resolve() == Path(b).resolve()


class EvaluationFiles(NamedTuple):
    """What `evaluate` writes into a run for one split of one dataset."""

    metrics: Path  # metrics-<name>.json, which records the data evaluated
    markdown: Path  # metrics-<name>.md
    predictions: Path  # predictions-<name>.csv


def evaluation_files(run: Path | str, data: Path | str, split: str) -> EvaluationFiles:
    """The files of an evaluation of `run` on `split` of `data`. On the data the run was
    trained on (or any, when it records none) they are named by the split alone
    (``metrics-test.json``); on other data by the split and the data's name
    (``metrics-test-kral_sakir.json`` for a project's run scored on the Kral Sakir folder), so
    that evaluations of one run on different data keep their own files."""
    own, name = recorded_data(Path(run)), split
    if own is not None and not same_data(own, data):
        data = Path(data).resolve()  # "." has a name this way
        label = data.stem if data.is_file() else data.name
        name = f"{split}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label) or 'data'}"
    run = Path(run)
    return EvaluationFiles(
        run / f"metrics-{name}.json", run / f"metrics-{name}.md", run / f"predictions-{name}.csv"
    )


def evaluated_data(files: EvaluationFiles) -> str | None:
    """The data an existing evaluation's metrics file names, or None (no such file)."""
    try:
        return json.loads(files.metrics.read_text())["data"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
