"""Fine-tuning the top of a run's backbone and its head for one new output, the old outputs
distilled: learning without forgetting (Li and Hoiem, 2016) on cached feature maps.

The frames' maps at the cut (`models.stages`) are computed once by the caller; each step
trains the top blocks and, of the head, the new output and its hidden units. The old outputs'
own head weights stay as they were, so those outputs move only as far as the top's features
do, and the distillation holds those (with the whole head trained, even a frozen top moved
them). A step's frames are `BATCH` drawn in turn from all frames (an epoch is one pass over
them), whose old outputs learn the base run's probabilities (binary cross-entropy on its
sigmoid outputs), plus up to `LABELLED_BATCH` labelled frames, half positives and half
negatives, so that 20 examples among 3,000 frames are seen every step. The new output's loss
is weighted per frame (a weak positive or negative counts less, an unknown entry not at all)
and balanced: positives and negatives weigh half each, however many there are of each. The
model stays in eval mode: batch-norm statistics and dropout are those of the base run, which a
batch of a few dozen frames of one character would skew.

Deterministic for a seed on the CPU while `steps`, not the `deadline`, ends the training.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from toontag.models.stages import CUT, split
from toontag.progress import progress_bar

STEPS = 60  # optimiser steps at most: on 2 cores about a minute at 112x192 (see enrol_finetune)
BATCH = 32  # frames per step drawn in turn from all frames: their old outputs distilled
LABELLED_BATCH = 16  # labelled frames per step besides: half positives, half negatives
LR_TOP = 1e-4  # AdamW on the top blocks: the features move, the distillation holds the old outputs
LR_HEAD = 1e-3  # AdamW on the head, whose new units start from the linear read-out
DISTILL = 1.0  # weight of the old outputs' distillation beside the new output's loss
SCORE_BATCH = 256  # maps scored at a time


@dataclass(frozen=True)
class Targets:
    """What the fine-tune learns on N cached frames (one row each)."""

    teacher: np.ndarray  # (N, C_old) the base run's probabilities: the old outputs' targets
    new: np.ndarray  # (N,) the new output's target, 1 or 0, where `weight` > 0
    weight: np.ndarray  # (N,) that target's weight: 0 where it is unknown
    labelled: np.ndarray  # (N,) bool: labelled frames, drawn besides in every step


@dataclass(frozen=True)
class Record:
    """How a fine-tune went, for enrol.json."""

    steps: int  # optimiser steps taken
    stopped_by: str  # "steps" (the plan) or "time" (the deadline came first)
    epochs: float  # passes over all frames' old outputs
    seconds: float
    loss: float | None  # the last step's loss


def fine_tune(
    model: nn.Module,
    maps: np.ndarray,
    targets: Targets,
    *,
    steps: int = STEPS,
    seed: int = 0,
    deadline: float | None = None,
    cut: int = CUT,
    new_units: int = 2,
) -> Record:
    """Train `model`'s top (blocks from `cut` on) and, of its head, the new output (its last)
    and the `new_units` hidden units last added for it, in place, on `maps` (N, C, h, w) (see
    the module). `deadline`: a `time.perf_counter()` value after which no step starts."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = next(model.parameters()).device
    _, top = split(model, cut)
    head = model.head[2:]  # the head after its pooling: `top.pooled` pools
    optimiser = torch.optim.AdamW(
        [{"params": top.parameters(), "lr": LR_TOP}, {"params": head.parameters(), "lr": LR_HEAD}],
        weight_decay=0.0,
    )
    model.eval()
    masks = _new_output_masks(model, new_units)
    known = targets.weight > 0
    positives = np.flatnonzero(targets.labelled & known & (targets.new > 0.5))
    negatives = np.flatnonzero(targets.labelled & known & (targets.new < 0.5))
    order, at, done, loss, stopped = rng.permutation(len(maps)), 0, 0, None, "steps"
    teacher = torch.from_numpy(targets.teacher.astype(np.float32))
    new = torch.from_numpy(targets.new.astype(np.float32))
    weight = torch.from_numpy(targets.weight.astype(np.float32))
    with progress_bar() as bar:
        for _ in bar.track(range(steps), description="fine-tuning"):
            if deadline is not None and time.perf_counter() >= deadline:
                stopped = "time"
                break
            if at + BATCH > len(order):  # a new epoch, the rest of the last one first
                order, at = np.r_[order[at:], rng.permutation(len(maps))], 0
            rows = np.r_[
                order[at : at + BATCH],
                _draw(rng, positives, LABELLED_BATCH // 2),
                _draw(rng, negatives, LABELLED_BATCH // 2),
            ]
            at += BATCH
            logits = head(top.pooled(_batch(maps, rows, device))).float().cpu()
            old = bce(logits[:, :-1], teacher[rows])
            total = DISTILL * old + _balanced(logits[:, -1], new[rows], weight[rows])
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            for parameter, mask in masks:
                parameter.grad.mul_(mask)
            optimiser.step()
            done, loss = done + 1, float(total.detach())
    return Record(
        steps=done,
        stopped_by=stopped,
        epochs=round(done * BATCH / max(len(maps), 1), 2),
        seconds=round(time.perf_counter() - started, 1),
        loss=None if loss is None else round(loss, 4),
    )


@torch.no_grad()
def top_outputs(model: nn.Module, maps: np.ndarray, *, cut: int = CUT):
    """(N, C) float32 logits and (N, D) pooled features of `maps` through `model`'s top and
    head (in eval mode), as numpy."""
    model.eval()
    device = next(model.parameters()).device
    _, top = split(model, cut)
    logits, pooled = [], []
    for start in range(0, len(maps), SCORE_BATCH):
        features = top.pooled(_batch(maps, slice(start, start + SCORE_BATCH), device))
        pooled.append(features.float().cpu().numpy())
        logits.append(model.head[2:](features).float().cpu().numpy())
    width = model.head[-1].out_features
    if not logits:
        return np.zeros((0, width), np.float32), np.zeros((0, 0), np.float32)
    return np.concatenate(logits), np.concatenate(pooled)


def matched_cut(logits: np.ndarray, share: float) -> float:
    """The logit over which `share` of these `logits` are: halfway between the last in and the
    first out (one past the end when none or all are)."""
    z = np.sort(np.asarray(logits, dtype=np.float64))[::-1]
    k = int(round(share * len(z)))
    if not len(z):
        return 0.0
    if k <= 0:
        return float(z[0] + 1.0)
    if k >= len(z):
        return float(z[-1] - 1.0)
    return float((z[k - 1] + z[k]) / 2)


@contextmanager
def torch_threads(count: int):
    """PyTorch's CPU threads set to `count` inside, as they were after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _batch(maps: np.ndarray, rows, device) -> torch.Tensor:
    """Rows of `maps` as a tensor on `device`, channels last: the top's backward pass measured
    1.7x faster so at 112x192 (one thread, 48 maps: 0.85 s a step against 1.4 s)."""
    x = torch.from_numpy(np.ascontiguousarray(maps[rows])).to(device)
    return x.contiguous(memory_format=torch.channels_last)


def _new_output_masks(model: nn.Module, units: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(parameter, 0/1 mask) for each of the head's layers: the old outputs' own weights stay
    as they were (their hidden units, and their rows of the output layer), so they move only as
    much as the top's features do, which the distillation holds."""
    hidden, output = model.head[2], model.head[5]
    learns = torch.arange(hidden.out_features) >= hidden.out_features - units
    last = torch.arange(output.out_features) == output.out_features - 1
    pairs = [
        (hidden.weight, learns[:, None]),
        (hidden.bias, learns),
        (output.weight, last[:, None]),
        (output.bias, last),
    ]
    return [(p, m.to(p.device, p.dtype).expand_as(p)) for p, m in pairs]


def _draw(rng: np.random.Generator, rows: np.ndarray, count: int) -> np.ndarray:
    """`count` of `rows` (all of them when there are fewer), none when there are none."""
    if not len(rows):
        return rows
    return rng.choice(rows, min(count, len(rows)), replace=False)


def _balanced(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted binary cross-entropy in which the positives and the negatives present each
    weigh half (all of it when only one kind is present)."""
    loss = bce(logits, target, reduction="none")
    parts = []
    for side in (target > 0.5, target < 0.5):
        w = weight * side
        if float(w.sum()) > 0:
            parts.append((w * loss).sum() / w.sum())
    return torch.stack(parts).mean() if parts else logits.sum() * 0


def sigmoid(z: np.ndarray) -> np.ndarray:
    """float32 probabilities of logits `z`."""
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)
