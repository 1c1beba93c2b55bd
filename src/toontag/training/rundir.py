"""A run directory: everything needed to predict without the training data.

config.json        the resolved TrainConfig
model.json         class names, thresholds, input size, model name
model.safetensors  the best weights (written when training ends)
checkpoints/       Lightning's best.ckpt and last.ckpt (resume from last)
metrics.csv        per-epoch log
split.json         how train/val/test were made, and their sizes
report.json        wall time, epochs, throughput, skipped images
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from toontag.config import TrainConfig
from toontag.errors import RunError
from toontag.io import write_json
from toontag.models import create_model
from toontag.models.net import ToonNet

CONFIG, MODEL_INFO, WEIGHTS = "config.json", "model.json", "model.safetensors"
CHECKPOINTS, LAST, BEST = "checkpoints", "last.ckpt", "best.ckpt"


@dataclass(frozen=True)
class TrainedModel:
    model: ToonNet
    classes: tuple[str, ...]
    thresholds: tuple[float, ...]
    image_size: tuple[int, int]
    config: TrainConfig


def write_model_info(run: Path, config: TrainConfig, classes, thresholds=None) -> None:
    thresholds = thresholds or [config.threshold] * len(classes)
    write_json(
        run / MODEL_INFO,
        {
            "model": config.model,
            "classes": list(classes),
            "thresholds": [float(t) for t in thresholds],
            "image_size": list(config.image_size),
        },
    )


def save_weights(run: Path, model: ToonNet) -> None:
    tmp = run / f".{WEIGHTS}.tmp"
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, tmp)
    tmp.replace(run / WEIGHTS)


def load_trained(run: Path | str, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild the model of a finished run from its directory alone."""
    run = Path(run)
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
    )
