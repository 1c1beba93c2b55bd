"""The recommended way to train on a labelling project: what validation chose at about as many
labels as the project holds.

results/label-efficiency.md trains each method at 50, 100, 200 and 400 human labels, 3 seeds
each, and chooses at each budget by the mean micro-F1 on one common validation sample, never on
test. `CHOSEN` copies those choices with the policy that picked the frames (a test checks the
copy against the result file; a project's frames are picked by the label page, like `active`),
and `toontag train --data PROJECT` follows the one at the budget nearest the project's labels
(on a log scale) unless the command names a method itself (--propagate/--no-propagate,
--unlabelled). A budget counts training and validation answers, not the audit answers that are
a project's test split. The variants:

- ``finetune``: fine-tuning on the answers (the ``labels`` recipe);
- ``+propagate``: with the answers' weak shot-mates (weak_manifest.py);
- ``+adapted``: from the project's show-adapted backbone (adapted.py);
- ``selftrain``: that fine-tuned run as the teacher of a student trained on the answers and up
  to `PSEUDO_LIMIT` pool frames the teacher is sure of, outside the shots of validation and
  audit frames (`learnable_pool`), the student seeing as many images as a run with weak rows
  (`weak_recipe`): the settings the benchmark validated.

A run killed and started again continues with the method it started with, whatever the labels
count has become; self-training falls back to propagation where no pool frame is left to learn
from.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from toontag.config import TrainConfig
from toontag.data.dataset import PROJECT_FILE, load_dataset
from toontag.labelling.unlabelled import MANIFEST, TEACHER, unlabelled_images
from toontag.labelling.weak_manifest import PROPAGATED, PROPAGATION, learnable_pool, weak_recipe

CHOSEN = {  # budget -> (variant, the policy that picked the benchmark's frames)
    50: ("finetune+propagate", "random"),
    100: ("selftrain", "active"),
    200: ("finetune+propagate", "random"),
    400: ("finetune+propagate", "random"),
}
PSEUDO_LIMIT = 3000  # pseudo-labelled frames at most (9,000 pool frames scored for them)
FALLBACK = "finetune+propagate"  # self-training with nothing unlabelled left to learn from
STARTED = {PROPAGATED: FALLBACK, PROPAGATION: FALLBACK, TEACHER: "selftrain", MANIFEST: "selftrain"}


class Choice(NamedTuple):
    """A way to train, as `train`'s choices, and why it was taken."""

    variant: str
    why: str

    @property
    def self_training(self) -> bool:
        return self.variant.split("+")[0] == "selftrain"

    @property
    def propagate(self) -> bool:
        return "propagate" in self.variant.split("+")[1:]

    @property
    def adapted(self) -> bool:
        return "adapted" in self.variant.split("+")[1:]


def recommended(labels: int) -> tuple[int, str]:
    """The budget nearest `labels` (on a log scale; ties to the smaller one) and the variant
    validation chose there."""
    budget = min(CHOSEN, key=lambda b: (abs(math.log(max(labels, 1) / b)), b))
    return budget, CHOSEN[budget][0]


def choose(labels: int, run: Path) -> Choice:
    """What `train --data PROJECT` does with no method named, for a project with `labels`
    training and validation answers and the run directory `run`: the method a killed run there
    started with, else validation's choice (`recommended`)."""
    for name, variant in STARTED.items():
        if (Path(run) / name).exists():  # its recipe is the one it saved (train_or_resume)
            return Choice(variant, f"continuing the run {run} started ({variant})")
    budget, variant = recommended(labels)
    return Choice(
        variant, f"{labels:,} labels: {variant}, what validation chose at {budget} labels"
    )


def without_self_training(choice: Choice) -> Choice:
    """`choice` where the pool holds no frame to learn from unlabelled."""
    return Choice(FALLBACK, f"{choice.why}; no unlabelled pool frame to learn from: {FALLBACK}")


def self_training(config: TrainConfig) -> dict:
    """`train_with_unlabelled`'s student and pseudo-label limit, as the benchmark ran them."""
    return {"student": weak_recipe(config), "limit": PSEUDO_LIMIT}


def default_path(
    data: Path, *, run: Path, config: TrainConfig, cache_root: Path | None = None, **classes
) -> tuple[Choice, list[Path] | None]:
    """For `train --data PROJECT` with no method named: the `choose`n way, and for
    self-training the pool frames to learn from (`learnable_pool`; propagation instead where
    there is none). `classes`: `load_dataset`'s class keywords."""
    dataset = load_dataset(data, **classes)
    chosen = choose(sum(s.split != "test" for s in dataset.samples), run)
    if not chosen.self_training:
        return chosen, None
    pool = learnable_pool(dataset, config=config, cache_root=cache_root)
    return (chosen, pool) if pool else (without_self_training(chosen), None)


def unlabelled_source(
    data: Path, unlabelled: Path, *, config: TrainConfig, cache_root: Path | None = None, **classes
) -> tuple[list[Path], dict]:
    """`--unlabelled`'s frames and `train_with_unlabelled`'s settings: from the project trained
    on itself, its `learnable_pool` with the validated student and limit (`self_training`);
    from another project or a folder, the images that are not labelled (`unlabelled_images`)
    with the defaults."""
    dataset = load_dataset(data, **classes)
    if Path(unlabelled).resolve() == Path(data).resolve() and (data / PROJECT_FILE).is_file():
        return learnable_pool(dataset, config=config, cache_root=cache_root), self_training(config)
    return unlabelled_images(unlabelled, [s.path for s in dataset.samples]), {}
