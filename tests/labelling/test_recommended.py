"""The recommended training path on a project: validation's choices, the nearest budget."""

from __future__ import annotations

import json
from pathlib import Path

from toontag.config import preset
from toontag.labelling.recommended import CHOSEN, PSEUDO_LIMIT, recommended, self_training
from toontag.labelling.weak_manifest import weak_recipe

RESULT = Path(__file__).parents[2] / "results" / "label-efficiency.json"


def test_the_recommended_choices_are_what_validation_chose_in_the_published_result():
    chosen = json.loads(RESULT.read_text())["chosen"]
    assert {int(budget): variant for budget, (variant, _policy) in chosen.items()} == CHOSEN


def test_the_budget_nearest_the_labels_on_a_log_scale_decides():
    budgets = {n: recommended(n).budget for n in (0, 13, 70, 71, 141, 142, 282, 283, 10_000)}
    assert budgets == {0: 50, 13: 50, 70: 50, 71: 100, 141: 100, 142: 200, 282: 200, 283: 400,
                       10_000: 400}  # fmt: skip
    for budget, variant in CHOSEN.items():
        choice = recommended(budget)
        assert choice.variant == variant
        assert choice.self_training == variant.startswith("selftrain")
        assert choice.propagate == ("+propagate" in variant)
        assert choice.adapted == ("+adapted" in variant)


def test_self_training_on_a_project_takes_the_benchmarks_student_and_limit():
    config = preset("labels").replace(seed=3)
    settings = self_training(config)
    assert settings["limit"] == PSEUDO_LIMIT == 3000
    assert settings["student"] == weak_recipe(config) != config  # twice the image budget
