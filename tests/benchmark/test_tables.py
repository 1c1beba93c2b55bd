"""What a rendered table may claim: cells of one device and one commit, and a result designed
after one of its test figures was seen saying so in every rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toontag.benchmark.tables import (
    DESIGNED_AFTER_TEST,
    admission_lines,
    cells,
    designed_after_test,
    ran_on,
)

RESULTS = Path(__file__).resolve().parents[2] / "results"
ADMITTED = ("label-efficiency", "new-character", "cpu-recipe")


def test_runs_of_two_devices_or_two_commits_are_two_cells():
    records = [
        {"variant": "finetune", "device": "CPU x86_64, 2 cores", "commit": "a", "seed": 0},
        {"variant": "finetune", "device": "NVIDIA H200", "commit": "a", "seed": 1},
        {"variant": "finetune", "device": "NVIDIA H200", "commit": "b", "seed": 2},
        {"variant": "finetune", "commit": "a", "seed": 3},  # from before devices were recorded
    ]
    grouped = cells(records, lambda r: (r["variant"],))
    assert {k: [r["seed"] for r in v] for k, v in grouped.items()} == {
        ("finetune", "CPU", "a"): [0, 3],
        ("finetune", "H200", "a"): [1],
        ("finetune", "H200", "b"): [2],
    }
    assert ran_on({"device": "NVIDIA H100 80GB HBM3"}) == "H100 80GB HBM3"


def test_an_admission_is_carried_from_the_published_file_and_rendered(tmp_path):
    published = tmp_path / "result.json"
    assert designed_after_test(published) == {} and admission_lines({}) == []
    published.write_text(json.dumps({"figure": 0.9, DESIGNED_AFTER_TEST: "rows added later."}))
    carried = designed_after_test(published)
    assert carried == {DESIGNED_AFTER_TEST: "rows added later."}
    assert admission_lines(carried) == [
        "",
        "**Designed after a test figure was seen.** rows added later.",
    ]


@pytest.mark.parametrize("name", ADMITTED)
def test_results_designed_after_a_test_figure_say_so_in_their_json_and_page(name):
    payload = json.loads((RESULTS / f"{name}.json").read_text())
    assert payload.get(DESIGNED_AFTER_TEST), name
    assert admission_lines(payload)[1] in (RESULTS / f"{name}.md").read_text()
