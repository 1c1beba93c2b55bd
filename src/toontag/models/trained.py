"""A trained model rebuilt from its run directory (`toontag.runs`): one network or an
ensemble, with the classes, thresholds and input size it decides with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from toontag.config import TrainConfig
from toontag.data.images import PICTURE_ASPECT
from toontag.errors import RunError
from toontag.models.ensemble import Ensemble
from toontag.models.net import ToonNet
from toontag.models.registry import create_model
from toontag.runs import (
    check_finished,
    check_new_run,
    ensemble_members,
    is_ensemble,
    mark_run,
    read_config,
    read_model_info,
    read_weights,
    write_ensemble_members,
    write_model_info,
)


@dataclass(frozen=True)
class TrainedModel:
    model: ToonNet | Ensemble
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    image_size: tuple[int, int]
    config: TrainConfig
    picture_aspect: float = PICTURE_ASPECT  # width / height of the training pictures


def load_trained(run: Path | str, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model of a finished run (or ensemble) from its directory alone."""
    run = Path(run)
    if is_ensemble(run):
        members = [load_trained(m, device) for m in ensemble_members(run)]
        info = read_model_info(run)
        model = Ensemble([m.model for m in members])
        config = members[0].config.replace(model=info["model"])
    else:
        check_finished(run)
        config = read_config(run)
        info = read_model_info(run)
        model = create_model(
            config.model,
            len(info["classes"]),
            head_hidden=config.head_hidden,
            dropout=config.dropout,
            conv_channels=config.conv_channels,
        )
        model.load_state_dict(read_weights(run))
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
    check_new_run(out)
    members = [load_trained(r) for r in runs]
    first = members[0]
    for run, m in zip(runs, members, strict=True):
        if (m.classes, m.image_size) != (first.classes, first.image_size):
            raise RunError(
                f"{run}: classes {list(m.classes)} at {m.image_size} differ from "
                f"{runs[0]}'s {list(first.classes)} at {first.image_size}"
            )
    out = Path(out)
    mark_run(out)
    write_ensemble_members(out, runs)
    name = "ensemble(" + ", ".join(m.config.model for m in members) + ")"
    write_model_info(
        out, first.config.replace(model=name), first.classes, picture_aspect=first.picture_aspect
    )
    return load_trained(out)
