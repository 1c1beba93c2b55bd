"""A simulated person labelling a pool: the true labels given in the order a queue policy asks
for them, a batch at a time, the head refitted after each batch as the label server does
(benchmarks/labelling_speed.py, label_efficiency.py); and the common validation frames every
variant and policy at a budget is chosen on, labelled first and counted inside the budget."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from toontag.labelling.head import Head, fit_head
from toontag.labelling.queue import next_batch


def runs_of_ids(frame_ids: np.ndarray) -> np.ndarray:
    """A group id per frame: runs of consecutive frame ids (a shot, about)."""
    order = np.argsort(frame_ids, kind="stable")
    run = np.cumsum(np.r_[0, np.diff(frame_ids[order]) != 1])
    groups = np.empty(len(frame_ids), np.int64)
    groups[order] = run
    return groups


def label_in_batches(
    features, targets, groups, *, policy: str, budget: int, batch: int, seed: int
) -> Iterator[tuple[np.ndarray, Head]]:
    """The pool rows labelled so far and the head fitted on them, after each batch of `batch`
    frames `policy` picks, until `budget` frames are labelled (`active` works from the head's
    probabilities once there is a head; before it, every threshold is 0.5)."""
    labelled = np.zeros(0, dtype=np.int64)
    head = None
    while len(labelled) < budget:
        p = None if head is None else head.probabilities(features)
        thresholds = (0.5,) * targets.shape[1] if head is None else head.thresholds
        picked = next_batch(
            features,
            p,
            thresholds,
            labelled,
            size=batch,
            policy=policy,
            groups=groups,
            seed=seed + len(labelled),
        )
        labelled = np.concatenate([labelled, picked])
        head = fit_head(features, labelled, targets[labelled], groups=groups[labelled], seed=seed)
        yield labelled, head


VALIDATION_SHARE = 0.2  # of every budget: common validation frames, the rest picked to train
VALIDATION_STREAM = 24  # the random stream of the validation sample, apart from the policies'


def validation_size(budget: int) -> int:
    """How many of `budget` labels are common validation frames (at least one)."""
    return max(1, round(VALIDATION_SHARE * budget))


@dataclass(frozen=True)
class CommonValidation:
    """The frames every variant and policy is validated and chosen on: one frame from each
    shot of a seeded random order of the pool's shots, the first `validation_size(budget)` at
    a budget (a larger budget's sample holds a smaller one's). No policy picks from those
    shots (`reserved`), so no validation frame has a shot-mate among the frames trained on
    and no policy decides which frames validate it."""

    frames: np.ndarray  # pool rows, in drawing order, one per shot
    reserved: np.ndarray  # per pool row: in one of those shots, never picked to train

    def split(self, order: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
        """`budget` labels: the common validation frames and the first training frames of a
        policy's picking `order`, `budget` in all."""
        validation = self.frames[: validation_size(budget)]
        picked = np.asarray(order)[: budget - len(validation)]
        if len(validation) + len(picked) != budget:
            raise ValueError(f"{len(order)} picked frames do not fill a budget of {budget}")
        return validation, picked


def common_validation(groups: np.ndarray, *, largest_budget: int, seed: int) -> CommonValidation:
    """The common validation sample of a pool whose shots are `groups`, big enough for
    `largest_budget`; the same for a seed whatever the variant or policy."""
    groups = np.asarray(groups)
    rng = np.random.default_rng([VALIDATION_STREAM, seed])
    shots = rng.permutation(np.unique(groups))[: validation_size(largest_budget)]
    frames = np.array([rng.choice(np.flatnonzero(groups == g)) for g in shots], dtype=np.int64)
    return CommonValidation(frames, np.isin(groups, shots))


def pick_order(
    policy: str, features, targets, groups, *, allowed, budget: int, batch: int, seed: int
) -> np.ndarray:
    """The pool rows a simulated person labels to train on, in the order `policy` asks for
    them, `budget` at least, among the `allowed` rows only: `random` (a seeded permutation) or
    a queue policy a batch at a time (`label_in_batches`)."""
    rows = np.flatnonzero(allowed)
    if policy == "random":
        return rows[np.random.default_rng(seed).permutation(len(rows))[:budget]]
    *_, (labelled, _) = label_in_batches(  # the rows labelled after the last batch
        features[rows],
        targets[rows],
        groups[rows],
        policy=policy,
        budget=budget,
        batch=batch,
        seed=seed,
    )
    return rows[labelled]
