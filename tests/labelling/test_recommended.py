"""The recommended training path on a project: validation's choices, the nearest budget, a
killed run's own method, and the self-training settings the benchmark validated."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from toontag.cli.labelling import enrol
from toontag.config import preset
from toontag.labelling.confirm import RANDOM_SHARE
from toontag.labelling.recommended import (
    CHOSEN,
    FALLBACK,
    choose,
    recommended,
    self_training,
    without_self_training,
)
from toontag.labelling.unlabelled import TEACHER
from toontag.labelling.weak_manifest import PROPAGATED

RESULT = Path(__file__).parents[2] / "results" / "label-efficiency.json"
ENROL_RESULT = RESULT.with_name("enrol-choice.json")


def test_the_recommended_choices_are_what_validation_chose_in_the_published_result():
    chosen = json.loads(RESULT.read_text())["chosen"]
    assert {int(budget): tuple(pair) for budget, pair in chosen.items()} == CHOSEN


def test_the_budget_nearest_the_labels_on_a_log_scale_decides(tmp_path):
    budgets = {n: recommended(n)[0] for n in (0, 12, 70, 71, 141, 142, 282, 283, 10_000)}
    assert budgets == {0: 50, 12: 50, 70: 50, 71: 100, 141: 100, 142: 200, 282: 200, 283: 400,
                       10_000: 400}  # fmt: skip
    for budget, (variant, _policy) in CHOSEN.items():
        choice = choose(budget, tmp_path / "new-run")
        assert choice.variant == variant and f"chose at {budget} labels" in choice.why
        assert choice.self_training == variant.startswith("selftrain")
        assert choice.propagate == ("+propagate" in variant)
        assert choice.adapted == ("+adapted" in variant)


def test_a_killed_run_continues_with_the_method_it_started_with(tmp_path):
    (tmp_path / "st" / TEACHER).mkdir(parents=True)  # killed while its teacher trained
    (tmp_path / "pr").mkdir()
    (tmp_path / "pr" / PROPAGATED).write_text("path,labels\n")
    for labels in (12, 100, 400):
        assert choose(labels, tmp_path / "st").self_training
        assert choose(labels, tmp_path / "pr").variant == FALLBACK
    assert "continuing the run" in choose(100, tmp_path / "pr").why
    fallen = without_self_training(choose(100, tmp_path / "new"))
    assert fallen.variant == FALLBACK and fallen.propagate and "no unlabelled" in fallen.why


def test_self_training_on_a_project_takes_the_benchmarks_student_and_limit():
    settings = json.loads(RESULT.read_text())["settings"]
    config = preset("labels").replace(seed=3)
    validated = self_training(config)
    assert validated["limit"] == settings["pseudo_limit"]
    assert validated["student"].images_seen == settings["student_seen"] != config.images_seen
    assert validated["student"].seed == 3 and validated["student"].min_epochs == 3


def test_enrol_defaults_to_the_method_and_offers_validation_chose_in_the_published_result():
    chosen = json.loads(ENROL_RESULT.read_text())["chosen"]
    method = inspect.signature(enrol).parameters["method"].default
    assert method == ("finetune" if chosen.startswith("fine-tune") else "linear")
    if method == "linear":  # fit_new_class's rule: on the answers alone once 5 yes and 5 no
        assert chosen.startswith("answers alone")
        assert (0.5 if chosen.endswith("half random") else 0.0) == RANDOM_SHARE
