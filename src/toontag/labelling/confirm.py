"""Asking a person about a new character: old frames offered in ``confirm.csv`` (path,
probability, an empty ``answer`` column) and their answers read back (``enrol --confirmed``).

Half the offers are those scoring nearest the new class's threshold, half drawn at random: an
unbiased look, which measured better than the nearest alone (`labelling.head.NewClassHead`,
results/enrol-choice.md). The fine-tune's offers make the nearest half diverse too: at most one
per shot, spread over clusters of the frames' features, as the labelling queue picks. Where
every answer was no (enrol_guard.py), the next offers are the frames nearest the examples
instead (`offer_nearest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toontag.data.dataset import listed_path
from toontag.errors import DataError
from toontag.io import csv_text, read_csv, write_text
from toontag.labelling.queue import next_batch

CONFIRM = 50  # old frames offered for confirmation
RANDOM_SHARE = 0.5  # of them drawn at random, the rest nearest the threshold (enrol_choice.py)
CONFIRM_FILE = "confirm.csv"
ANSWERS = {"yes": True, "y": True, "1": True, "no": False, "n": False, "0": False}


@dataclass(frozen=True)
class Confirmed:
    """A person's answers about the new character on frames offered for confirmation."""

    yes: list[Path]
    no: list[Path]


def offer_for_confirmation(
    p: np.ndarray,
    threshold: float,
    count: int,
    seed: int,
    random_share: float = RANDOM_SHARE,
    *,
    features: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Indices into `p` (the new class's probabilities of unanswered frames) to ask a person
    about, highest probability first: those nearest the threshold, and `random_share` of them
    drawn at random instead. With `features` (one row per entry of `p`) the uncertain ones are
    also diverse: at most one per group (`groups`: a shot id per entry) and spread over
    clusters of the features, as the labelling queue's active policy picks (`next_batch`)."""
    size = round(count * (1 - random_share))
    if features is None or size == 0:
        near = np.argsort(np.abs(p - threshold), kind="stable")[:size]
    else:
        none = np.zeros(len(p), dtype=bool)
        near = next_batch(
            features, p[:, None], [threshold], none, size=size, groups=groups, seed=seed
        )
    rest = np.setdiff1d(np.arange(len(p)), near)
    drawn = np.random.default_rng(seed).choice(rest, min(count - len(near), len(rest)), False)
    offered = np.concatenate([near, drawn])
    return offered[np.argsort(-p[offered], kind="stable")]


def offer_nearest(
    features: np.ndarray, examples: np.ndarray, count: int, *, groups: np.ndarray | None = None
) -> np.ndarray:
    """Indices into `features` (one row per unanswered frame) of the `count` nearest the
    `examples` (rows of the same features): by cosine similarity to the nearest example, the
    nearest first, at most one per group (`groups`: a shot id per row) while groups last."""
    a = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)
    b = examples / (np.linalg.norm(examples, axis=1, keepdims=True) + 1e-12)
    order = np.argsort(-(a @ b.T).max(axis=1), kind="stable")
    if groups is not None:  # each shot's nearest frame first, then the rest, nearest first
        _, first = np.unique(np.asarray(groups)[order], return_index=True)
        ahead = np.zeros(len(order), dtype=bool)
        ahead[np.sort(first)] = True
        order = np.r_[order[ahead], order[~ahead]]
    return order[:count]


def write_offers(out: Path, paths: list[Path], p: np.ndarray, offered: np.ndarray) -> None:
    """``out/confirm.csv``: the `offered` of `paths` (resolved) with their probabilities `p`,
    each with an empty answer for a person to fill in."""
    rows = ([str(Path(paths[i]).resolve()), f"{p[i]:.4f}", ""] for i in offered)
    write_text(out / CONFIRM_FILE, csv_text(["path", "probability", "answer"], rows))


def read_confirmed(path: Path) -> Confirmed:
    """The answers in a filled-in ``confirm.csv``: rows whose ``answer`` is yes or no (others,
    left empty, are skipped); anything else is an error naming the row."""
    yes, no = [], []
    for line, row in enumerate(read_csv(path, columns=("path", "answer")), start=2):
        answer = (row["answer"] or "").strip().lower()
        if not answer:
            continue
        if answer not in ANSWERS:
            raise DataError(f"{path}:{line}: answer {row['answer']!r} is not yes or no")
        (yes if ANSWERS[answer] else no).append(listed_path(path.parent, row["path"]))
    return Confirmed(yes, no)
