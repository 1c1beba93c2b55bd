"""The recommended way to train on a labelling project: what validation chose at about as many
labels as the project holds.

results/label-efficiency.md trains each method at 50, 100, 200 and 400 human labels, 3 seeds
each, and chooses at each budget by the mean micro-F1 on one common validation sample, never on
test. `CHOSEN` copies those choices (a test checks them against the result file), and
`toontag train --data PROJECT` follows the one at the budget nearest the project's labels (on a
log scale) unless the command names a method itself (--propagate/--no-propagate, --unlabelled):

- ``finetune``: fine-tuning on the answers (the ``labels`` recipe);
- ``+propagate``: with the answers' weak shot-mates (weak_manifest.py);
- ``+adapted``: from the project's show-adapted backbone (adapted.py);
- ``selftrain``: that fine-tuned run as the teacher of a student trained on the answers and up
  to `PSEUDO_LIMIT` pool frames the teacher is sure of (unlabelled.py), the student seeing as
  many images as a run with weak rows (`weak_recipe`): the settings the benchmark validated.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from toontag.config import TrainConfig
from toontag.labelling.weak_manifest import weak_recipe

CHOSEN = {
    50: "finetune+propagate",
    100: "selftrain",
    200: "finetune+propagate",
    400: "finetune+propagate",
}
PSEUDO_LIMIT = 3000  # pseudo-labelled frames at most (9,000 pool frames scored for them)


class Choice(NamedTuple):
    """What validation chose at `budget` labels, as `train`'s choices."""

    budget: int
    variant: str
    self_training: bool
    propagate: bool
    adapted: bool


def recommended(labels: int) -> Choice:
    """The choice at the budget nearest `labels` (on a log scale; ties to the smaller one)."""
    budget = min(CHOSEN, key=lambda b: (abs(math.log(max(labels, 1) / b)), b))
    variant = CHOSEN[budget]
    method, *levers = variant.split("+")
    return Choice(
        budget, variant, method == "selftrain", "propagate" in levers, "adapted" in levers
    )


def self_training(config: TrainConfig) -> dict:
    """`train_with_unlabelled`'s student and pseudo-label limit, as the benchmark ran them."""
    return {"student": weak_recipe(config), "limit": PSEUDO_LIMIT}
