"""Per-row loss weights: a manifest's ``weight`` column, and the rule that keeps weak rows in
training alone.

A row weighs 1 unless its ``weight`` says less (a number in (0, 1]): a weak label, such as an
answer extended to the frames of its shot (labelling/propagate.py), is worth less than a
person's in training's loss. A weak row (weight < 1) only ever trains. The split draws its
hold-outs (the 80/20 test, the cross-fitting fold, validation) over the human rows alone, so
weak rows never change which groups are held out, and a weak row that shares a held-out group
(or that the manifest puts in val or test) is left out of that part: it never validates, tunes
a threshold or is scored, and it counts as no human label.
"""

from __future__ import annotations

import math

import numpy as np

from toontag.errors import DataError

WEAK_RULE = (
    "weak rows (weight < 1) train only: every hold-out is drawn over the human rows, and a weak "
    "row whose group is held out (or that the manifest puts in val or test) is left out; a weak "
    "row carries its source answer's group, so with propagated labels this is rare"
)


def row_weight(text: str | None, where: str) -> float:
    """The loss weight a manifest's ``weight`` field gives (1 when empty); a one-line
    `DataError` at `where` (the file and line) for anything but a number in (0, 1]."""
    text = (text or "").strip()
    if not text:
        return 1.0
    try:
        weight = float(text)
    except ValueError:
        weight = math.nan
    if not 0 < weight <= 1:  # NaN fails too
        raise DataError(
            f"{where}: weight {text!r} is not a number in (0, 1] (1 for a person's label, "
            "less for a weak one)"
        )
    return weight


def held_by_human_rows(units: np.ndarray, weak: np.ndarray, pick) -> np.ndarray:
    """The mask of the rows in the units (groups, sequences) that `pick` (a function from
    units to a mask of whole units) holds out when shown the human rows alone: weak rows never
    move the draw, and each goes with its unit. Without weak rows it is `pick(units)`."""
    human = units[~weak]
    if not len(human):  # nothing to draw from: the part stays empty
        return np.zeros(len(units), bool)
    return np.isin(units, human[pick(human)])


def train_only(splits: np.ndarray, weights: np.ndarray) -> dict:
    """Leave the weak rows out of every part of `splits` (each row's part) but train, in place;
    what was done, as split.json's ``weak`` (nothing without weak rows)."""
    weak = weights < 1
    if not weak.any():
        return {}
    left_out = weak & (splits != "train")
    splits[left_out] = ""
    return {
        "weak": {
            "rows": int(weak.sum()),
            "train": int((weak & (splits == "train")).sum()),
            "left_out": int(left_out.sum()),
            "weights": sorted({float(w) for w in weights[weak]}),
            "how": WEAK_RULE,
        }
    }
