"""Features that follow the labels: a supervised fine-tune of the backbone's top on cached maps.

The label page's head is a linear read-out of frozen features; what the features cannot tell
apart, no head can. `tune_top` trains the top of the backbone (`models/stages.py`) with a
linear layer over its pooled features on the frames a person answered, then the layer is
dropped: the tuned top gives the pool new features for the head to be refitted on.

- The loss is binary cross-entropy per (frame, class) over the known entries only (a class
  added after an answer was not looked for), as the head's own fit masks them.
- Augmentation: each step takes either cached view of a frame (as it is, or the copy
  `pool_maps` zoomed, shifted and recoloured) and mirrors it at random.
- The linear layer reads standardised features, as the head does, and is first fitted alone on
  the frozen ones with the head's L2 penalty (L-BFGS; linear probing before fine-tuning, Kumar
  et al. 2022, "Fine-tuning can distort pretrained features"): a layer starting at zero sends
  no gradient to the top, a random one sends noise, and one fitted without a penalty separates
  a few dozen answers perfectly, its saturated logits then sending none.
- Batch-norm statistics stay ImageNet's (the top in eval mode, its weights training): a few
  hundred frames of one show in batches of 32 would give noisy statistics, and the pool's
  features are computed with the same frozen statistics.

The step count is fixed by `epochs` (passes over the answered frames) and so is the result
for a seed; `seconds` caps the wall time on a busy machine (a run it stops says so). The cost
grows with the answers: a step is a forward and backward pass of the top on `batch` maps, so
ceil(epochs x answers / batch) of them, plus two forward passes over every answered frame's
views (the probe's, and the loss reported at the end). No file I/O: arrays in, the top
changed in place, a report out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from toontag.models.stages import Top, top_features
from toontag.training.adapt import mirrored_maps


@dataclass(frozen=True)
class TuneSettings:
    epochs: float = 20.0  # passes over the answered frames: 250 steps for 400 answers
    max_steps: int | None = None  # or fewer steps (tests, smoke runs)
    seconds: float = 180.0  # wall-clock cap: a busy machine stops early (the report says so)
    batch: int = 32  # frames per step
    lr: float = 1e-4  # the pretrained top: small, so what it knew is kept
    head_lr: float = 1e-3  # the linear layer, already probed
    weight_decay: float = 1e-4
    probe_iterations: int = 100  # L-BFGS iterations of the linear probe
    c: float = 0.1  # the read-out's inverse L2 strength while probed, as the page's head's C
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TuneReport:
    steps: int
    seconds: float
    frames: int
    maps_seen: int
    probe_loss: float  # the read-out's loss on every answered map before tuning (probed)
    loss: float  # and after: the masked BCE on every answered frame's views, tuned
    first_loss: float | None
    last_loss: float | None  # the mean of the last 10 steps'
    stopped: str | None  # why it stopped before its steps were done ("time", "asked"), or None


def tune_top(
    top: Top,
    maps: np.ndarray,
    targets: np.ndarray,
    known: np.ndarray | None = None,
    settings: TuneSettings = TuneSettings(),
    *,
    stop: Callable[[], bool] | None = None,
) -> TuneReport:
    """Train `top` (in place) on the `maps` (N, views, C, H, W) of N answered frames, their 0/1
    `targets` (N, K) and `known` entries (N, K; all by default). `stop()` is asked after every
    step: true ends the run (the report says "asked"). The top is left in eval mode."""
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    mask = torch.ones_like(y) if known is None else torch.as_tensor(np.asarray(known, np.float32))
    if maps.ndim != 5 or y.ndim != 2 or len(maps) != len(y) or mask.shape != y.shape:
        raise ValueError(
            f"maps {maps.shape} must be (N, views, C, H, W), targets {tuple(y.shape)} and known "
            f"{tuple(mask.shape)} both (N, classes)"
        )
    started = time.perf_counter()
    rng = np.random.default_rng(settings.seed)
    top.eval()  # batch-norm statistics frozen; the weights train
    layer, probe_loss = _probe(top, maps, y, mask, settings)
    optimizer = torch.optim.AdamW(
        [
            {"params": top.parameters(), "lr": settings.lr},
            {"params": layer.linear.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps = math.ceil(settings.epochs * len(y) / settings.batch)
    steps = steps if settings.max_steps is None else min(steps, settings.max_steps)
    order, losses, stopped = np.empty(0, np.int64), [], None
    for _ in range(steps):
        if time.perf_counter() - started >= settings.seconds:
            stopped = "time"
            break
        if len(order) < settings.batch:  # each frame once per pass, in a fresh order
            order = np.concatenate([order, rng.permutation(len(y))])
        rows, order = order[: settings.batch], order[settings.batch :]
        picks = np.stack([rows, rng.integers(maps.shape[1], size=len(rows))], 1)
        logits = layer(top.pooled(mirrored_maps(maps, picks, rng)))
        loss = masked_bce(logits, y[rows], mask[rows])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if stop is not None and stop():
            stopped = "asked"
            break
    top.eval()
    return TuneReport(
        steps=len(losses),
        seconds=round(time.perf_counter() - started, 1),
        frames=len(y),
        maps_seen=len(losses) * settings.batch,
        probe_loss=round(probe_loss, 4),
        loss=round(_loss(layer, top, maps, y, mask), 4),
        first_loss=round(losses[0], 4) if losses else None,
        last_loss=round(float(np.mean(losses[-10:])), 4) if losses else None,
        stopped=stopped,
    )


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the known entries (1 in `known`) alone."""
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (loss * known).sum() / known.sum().clamp(min=1)


class ReadOut(torch.nn.Module):
    """The linear layer on standardised pooled features (the mean and scale fixed from the
    frozen top's features), as the label page's head reads them."""

    def __init__(self, features: torch.Tensor, classes: int):
        super().__init__()
        self.register_buffer("mean", features.mean(0))
        self.register_buffer("scale", features.std(0) + 1e-3)
        self.linear = torch.nn.Linear(features.shape[1], classes)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.linear((pooled - self.mean) / self.scale)


def _probe(top: Top, maps, y, mask, settings: TuneSettings) -> tuple[ReadOut, float]:
    """The read-out fitted alone (L-BFGS) on the frozen top's features of every view, with the
    head's L2 penalty (`c` as scikit-learn's C), and its final loss without the penalty."""
    x, yy, mm = _every_view(top, maps, y, mask)
    layer = ReadOut(x, y.shape[1])
    with torch.no_grad():
        layer.linear.weight.zero_()
        rate = ((yy * mm).sum(0) + 1) / (mm.sum(0) + 2)
        layer.linear.bias.copy_(torch.log(rate / (1 - rate)))
    optimizer = torch.optim.LBFGS(
        layer.linear.parameters(),
        max_iter=settings.probe_iterations,
        line_search_fn="strong_wolfe",
    )
    penalty = 1 / (2 * settings.c * len(y))  # C * summed loss + |w|^2 / 2, per frame

    def closure():
        optimizer.zero_grad()
        loss = masked_bce(layer(x), yy, mm) + penalty * layer.linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return layer, float(masked_bce(layer(x), yy, mm))


def _every_view(top: Top, maps, y, mask):
    """The pooled features of every answered frame's every view, with their targets and mask."""
    views = maps.shape[1]
    x = torch.from_numpy(np.concatenate([top_features(top, maps[:, v]) for v in range(views)]))
    return x, y.repeat(views, 1), mask.repeat(views, 1)


@torch.no_grad()
def _loss(layer: ReadOut, top: Top, maps, y, mask) -> float:
    x, yy, mm = _every_view(top, maps, y, mask)
    return float(masked_bce(layer(x), yy, mm))
