"""Show-adapted features: the backbone's top learns a show from its unlabelled frames.

Frames of one shot show the same characters in the same place; frames of other shots mostly
do not. So a contrastive objective with two frames of one shot as a positive pair and the
other shots of the batch as negatives (SimCLR's NT-Xent, from `lightly`) teaches the features
what stays the same within a shot (who is there) and what tells shots apart, with no label.
A shot of one frame pairs it with its augmented view. Each batch holds one pair from each of
`batch` different shots, so no negative is a shot-mate.

Why SimCLR rather than BYOL or DINO: with shots as free positives the negatives are what
sharpens the features, and NT-Xent needs no momentum encoder, which would double the cost of
every step on a 2-core CPU. Measured on the Kral Sakir train pool (13,381 frames, 1,320
shots, the label page's head on 1,000 validation frames): 300 s of this loop lifted the head's
micro-F1 at 400 labels from 0.850 (ImageNet features) to 0.912, and at 100 labels from 0.789
to 0.875 (`benchmarks/adapt_screen.py` gives the current figures).

Only the top of the backbone trains (`models/stages.py`), on feature maps cached once per frame
and view (the frame as it is, and one augmented copy: zoom, shift, mirror, brightness and
contrast), so that a step costs the top's arithmetic alone. `adapt_top` is an estimator-like
call: arrays in, the top's weights changed in place, a report out; no file I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch

from toontag.models.stages import Top


@dataclass(frozen=True)
class AdaptSettings:
    seconds: float = 600.0  # the loop's wall-clock budget (steps stop when it is spent)
    max_steps: int | None = None  # or stop after this many steps (tests, exact reruns)
    batch: int = 256  # shots per step, two maps each (fewer where the pool has fewer shots)
    lr: float = 3e-4  # the pretrained top blocks: small, so ImageNet's knowledge is kept
    head_lr: float = 1e-3  # the projection head, new
    weight_decay: float = 1e-4
    temperature: float = 0.1  # NT-Xent's
    projection: int = 128  # the projection head's output; its hidden layer is 512 wide
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT = AdaptSettings()


@dataclass(frozen=True)
class AdaptReport:
    steps: int
    seconds: float
    maps_seen: int
    shots: int
    frames: int
    first_loss: float | None
    last_loss: float | None  # the mean of the last 10 steps'


def shot_pairs(members: list[np.ndarray], views: int, rng: np.random.Generator, batch: int):
    """(frame, view) of both sides of one positive pair from each of `batch` shots drawn
    without replacement: two frames of the shot (two views of its frame when it has one)."""
    shots = rng.choice(len(members), size=min(batch, len(members)), replace=False)
    left, right = [], []
    for shot in shots:
        frames = members[shot]
        i, j = rng.choice(frames, size=2, replace=len(frames) < 2)
        vi, vj = rng.integers(views, size=2)
        if i == j and vi == vj:
            vj = (vi + 1) % views
        left.append((i, vi))
        right.append((j, vj))
    return np.array(left), np.array(right)


def adapt_top(
    top: Top,
    maps: np.ndarray,
    groups: np.ndarray,
    settings: AdaptSettings = DEFAULT,
    *,
    progress: Callable[[int, float], None] | None = None,
) -> AdaptReport:
    """Train `top` (in place) on `maps` (N, views, C, H, W; two views at least where a shot
    has one frame) with each frame's shot in `groups` (N,). `progress(step, loss)` is called
    after every step. The top is left in eval mode."""
    from lightly.loss import NTXentLoss
    from lightly.models.modules import SimCLRProjectionHead

    if maps.ndim != 5 or maps.shape[1] < 2:
        raise ValueError("maps must be (frames, views >= 2, channels, height, width)")
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    if len(members) < 2:
        raise ValueError("adaptation needs at least two shots: the other shots are negatives")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    channels = top.pooled(torch.zeros(1, *maps.shape[2:])).shape[1]
    projection = SimCLRProjectionHead(channels, 512, settings.projection)
    optimizer = torch.optim.AdamW(
        [
            {"params": top.parameters(), "lr": settings.lr},
            {"params": projection.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    loss_fn = NTXentLoss(temperature=settings.temperature)
    top.train()
    projection.train()
    started, steps, seen, losses = time.perf_counter(), 0, 0, []
    while not _done(settings, steps, time.perf_counter() - started):
        left, right = shot_pairs(members, maps.shape[1], rng, settings.batch)
        x0, x1 = (mirrored_maps(maps, side, rng) for side in (left, right))
        loss = loss_fn(projection(top.pooled(x0)), projection(top.pooled(x1)))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps, seen = steps + 1, seen + 2 * len(left)
        losses.append(float(loss.detach()))
        if progress:
            progress(steps, losses[-1])
    top.eval()
    return AdaptReport(
        steps=steps,
        seconds=round(time.perf_counter() - started, 1),
        maps_seen=seen,
        shots=len(members),
        frames=len(groups),
        first_loss=round(losses[0], 4) if losses else None,
        last_loss=round(float(np.mean(losses[-10:])), 4) if losses else None,
    )


def _done(settings: AdaptSettings, steps: int, elapsed: float) -> bool:
    if settings.max_steps is not None:
        return steps >= settings.max_steps
    return elapsed >= settings.seconds


def mirrored_maps(maps: np.ndarray, picks: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """The picked (frame, view) rows of `picks` (K, 2) as float32 maps, each mirrored
    left-right at random (adaptation and fine-tuning share this augmentation)."""
    x = torch.from_numpy(np.ascontiguousarray(maps[picks[:, 0], picks[:, 1]])).float()
    mirror = torch.from_numpy(rng.random(len(x)) < 0.5)
    x[mirror] = x[mirror].flip(3)
    return x
