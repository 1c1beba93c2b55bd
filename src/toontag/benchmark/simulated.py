"""A simulated person labelling a pool: the true labels given in the order a queue policy asks
for them, a batch at a time, the head refitted after each batch as the label server does
(benchmarks/labelling_speed.py, label_efficiency.py)."""

from __future__ import annotations

from collections.abc import Iterator

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
