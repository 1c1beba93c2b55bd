"""A run directory: everything needed to predict without the training data.

config.json        the resolved TrainConfig
model.json         class names, thresholds, input size, model name, training pictures' aspect
model.safetensors  the best weights (written when training ends)
checkpoints/       Lightning's best.ckpt and last.ckpt (resume from last)
metrics.csv        per-epoch log
split.json         how train/val/test were made, and their sizes
report.json        wall time, epochs, throughput, skipped images

An ensemble directory holds ``ensemble.json`` (its member runs) and ``model.json`` instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from toontag.config import TrainConfig
from toontag.data.images import PICTURE_ASPECT
from toontag.errors import RunError
from toontag.io import write_json
from toontag.models import create_model
from toontag.models.net import ToonNet
from toontag.training.runfiles import (  # noqa: F401  (imported from here too)
    BEST,
    CHECKPOINTS,
    CONFIG,
    ENSEMBLE,
    LAST,
    MODEL_INFO,
    WEIGHTS,
    model_id,
)


@dataclass(frozen=True)
class TrainedModel:
    model: ToonNet
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    image_size: tuple[int, int]
    config: TrainConfig
    picture_aspect: float = PICTURE_ASPECT  # width / height of the training pictures


def write_model_info(
    run: Path, config: TrainConfig, classes, thresholds=None, picture_aspect: float | None = None
) -> None:
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


def save_weights(run: Path, model: ToonNet) -> None:
    tmp = run / f".{WEIGHTS}.tmp"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp)
    tmp.replace(run / WEIGHTS)


def load_trained(run: Path | str, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model of a finished run (or ensemble) from its directory alone."""
    run = Path(run)
    if (run / ENSEMBLE).is_file():
        return _load_ensemble(run, device)
    for name in (CONFIG, MODEL_INFO, WEIGHTS):
        if not (run / name).is_file():
            raise RunError(f"{run}: not a finished toontag run ({name} is missing)")
    config = TrainConfig.load(run / CONFIG)
    info = json.loads((run / MODEL_INFO).read_text())
    model = create_model(
        config.model,
        len(info["classes"]),
        head_hidden=config.head_hidden,
        dropout=config.dropout,
        conv_channels=config.conv_channels,
    )
    model.load_state_dict(load_file(run / WEIGHTS))
    return TrainedModel(
        model.to(device).eval(),
        tuple(info["classes"]),
        tuple(info["thresholds"]),
        tuple(info["image_size"]),
        config,
        info.get("picture_aspect", PICTURE_ASPECT),
    )


def write_ensemble(out: Path, runs: list[Path]) -> TrainedModel:
    """An ensemble directory averaging the probabilities of `runs`, which must share their
    classes and input size; decisions at the paper's threshold, 0.5."""
    if len(runs) < 2:
        raise RunError("an ensemble needs at least two runs")
    members = [load_trained(r) for r in runs]
    first = members[0]
    for run, m in zip(runs, members, strict=True):
        if (m.classes, m.image_size) != (first.classes, first.image_size):
            raise RunError(
                f"{run}: classes {list(m.classes)} at {m.image_size} differ from "
                f"{runs[0]}'s {list(first.classes)} at {first.image_size}"
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / ENSEMBLE, {"members": [str(Path(r).resolve()) for r in runs]})
    name = "ensemble(" + ", ".join(m.config.model for m in members) + ")"
    write_model_info(
        out, first.config.replace(model=name), first.classes, picture_aspect=first.picture_aspect
    )
    return load_trained(out)


def _load_ensemble(run: Path, device) -> TrainedModel:
    from toontag.models.ensemble import Ensemble

    members = [load_trained(m, device) for m in json.loads((run / ENSEMBLE).read_text())["members"]]
    info = json.loads((run / MODEL_INFO).read_text())
    model = Ensemble([m.model for m in members]).to(device).eval()
    config = members[0].config.replace(model=info["model"])
    return TrainedModel(
        model,
        tuple(info["classes"]),
        tuple(info["thresholds"]),
        tuple(info["image_size"]),
        config,
        info.get("picture_aspect", PICTURE_ASPECT),
    )


def validation_frames(run: Path | str, dataset):
    """The frames of `dataset` the run validated on (the sequences its training held out of
    train): listed in its split.json, or, for runs written before that list was kept, drawn
    again the way its training drew them."""
    run = Path(run)
    if not (run / "split.json").is_file():
        raise RunError(f"{run}: no split.json, so no frames it validated on (an ensemble?)")
    split = json.loads((run / "split.json").read_text())
    if "val_images" in split:
        wanted = {Path(p).resolve() for p in split["val_images"]}
        rows = [i for i, s in enumerate(dataset.samples) if Path(s.path).resolve() in wanted]
        if not rows:
            raise RunError(f"{run}: none of the frames it validated on are in {dataset.root}")
        return dataset.select(rows)
    from toontag.data.datamodule import ToonDataModule

    config = TrainConfig.load(run / CONFIG)
    dm = ToonDataModule(
        dataset,
        image_size=config.image_size,
        val_fraction=config.val_fraction,
        seed=config.seed,
        split_seed=config.data_seed,
    )
    dm.setup()
    return dataset.select(dm.parts.val)
