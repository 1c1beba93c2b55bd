"""README's figures are rendered from results/: the committed README matches its result files,
a figure edited by hand fails the check, and intervals by sequence win over intervals by frame
as soon as a result file carries them."""

from __future__ import annotations

import json
import re
import runpy
import shutil
import sys
from pathlib import Path

import pytest

from toontag.benchmark.readme import render_readme, stale_blocks
from toontag.benchmark.readme_labelling import adapted_head, screening
from toontag.benchmark.readme_project import loop_lowest, loop_rows_at_goal
from toontag.errors import RunError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "readme_figures.py"


def check(monkeypatch, capsys, *args, checking: bool = True) -> tuple[int, str, str]:
    """`benchmarks/readme_figures.py [--check] ARGS` in this process: its exit status, stdout
    and stderr."""
    script = runpy.run_path(str(SCRIPT))
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *(["--check"] * checking), *map(str, args)])
    status = script["main"]()
    out, err = capsys.readouterr()
    return status, out, err


def test_the_committed_readme_matches_the_result_files(monkeypatch, capsys):
    status, out, err = check(monkeypatch, capsys)
    assert status == 0, out + err
    assert "every figure matches results/" in out


def test_a_figure_edited_by_hand_fails_the_check(monkeypatch, capsys, tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    assert text.count("**0.9900** test micro-F1") == 1  # inside the intro's passage
    readme.write_text(text.replace("**0.9900** test micro-F1", "**0.9950** test micro-F1"))
    status, out, err = check(monkeypatch, capsys, "--readme", readme)
    assert status == 1
    assert "figures differ from results/ in intro" in err
    diff = out.splitlines()  # README's lines against the rendering's
    assert any(line.startswith("-") and "0.9950" in line for line in diff)
    assert any(line.startswith("+") and "0.9900" in line for line in diff)
    # Rendering puts the file's figure back, and then the check passes.
    assert check(monkeypatch, capsys, "--readme", readme, checking=False)[0] == 0
    assert readme.read_text() == text
    assert check(monkeypatch, capsys, "--readme", readme)[0] == 0


def test_every_headline_and_claim_of_readme_is_inside_a_rendered_passage():
    names = set(re.findall(r"<!-- figures:([\w-]+) -->", README()))
    assert {
        "intro",
        "beat-paper",
        "benchmark-cpu",
        "benchmark-gpu",
        "cpu-recipe",
        "demo",
        "predict-speed",
        "indexing-speed",
        "label-efficiency",
        "new-character",
    } <= names
    intro = README().split("<!-- figures:intro -->")[1].split("<!-- /figures:intro -->")[0]
    assert "matches the paper's best" in " ".join(intro.split())
    assert "beat" not in intro and "beyond" not in intro


def README() -> str:
    return (ROOT / "README.md").read_text()


def beat_paper(test: dict) -> dict:
    """A small results/beat-paper-gpu.json: the declared model's test figures as given."""
    return {
        "command": "benchmarks/gpu_job.py --minutes 5",
        "git_commit": "f" * 40,
        "machine": {"gpu": "NVIDIA H200", "cpu_cores": 16},
        "declared": {"chosen": {"members": ["a", "b"], "flip": True, "val_f1_micro": 0.995}},
        "runs": {m: {"config": {"model": "efficientnet_lite2"}} for m in "ab"},
        "test": {"images": 3344, "f1_micro": 0.993, **test},
    }


@pytest.mark.parametrize(
    ("test", "said"),
    [
        ({"ci95": {"f1_micro": [0.9915, 0.9945]}}, "is not shown to beat the paper's best"),
        (
            {
                "ci95": {"f1_micro": [0.9915, 0.9945]},
                "ci95_by_sequence": {
                    "f1_micro": [0.9905, 0.9955],
                    "unit": "sequence",
                    "sequences": 700,
                },
            },
            "beats the paper's best (densenet121), 0.9890: the 95% interval [0.9905, 0.9955] by "
            "sequence (700 sequences) lies above it",
        ),
        (
            {
                "ci95": {"f1_micro": [0.9915, 0.9945]},
                "ci95_by_sequence": {"f1_micro": [0.9880, 0.9970], "unit": "sequence"},
            },
            "matches the paper's best (densenet121), 0.9890: the 95% interval [0.9880, 0.9970] "
            "by sequence includes it",
        ),
    ],
)
def test_the_intro_says_what_the_interval_by_sequence_allows(tmp_path, test, said):
    (tmp_path / "beat-paper-gpu.json").write_text(json.dumps(beat_paper(test)))
    text = "On the GPU, <!-- figures:intro -->old<!-- /figures:intro --> (Results).\n"
    rendered = render_readme(text, results=tmp_path)
    assert said in " ".join(rendered.split())
    assert rendered.startswith("On the GPU, <!-- figures:intro -->an ensemble of 2 efficientnet")
    assert rendered.endswith("<!-- /figures:intro --> (Results).\n")
    assert stale_blocks(rendered, results=tmp_path) == []
    assert stale_blocks(text, results=tmp_path) == ["intro"]


def test_a_block_is_set_apart_and_a_phrase_wrapped_in_its_line(tmp_path):
    renderers = {
        "table": lambda results: "| a | b |\n|---|---|\n| 1 | 2 |",
        "phrase": lambda results: " ".join(["word"] * 40),
    }
    text = (
        "Intro:\n\n<!-- figures:table -->\nold\n<!-- /figures:table -->\n\n"
        "  - a list item says <!-- figures:phrase -->old<!-- /figures:phrase -->.\n"
    )
    rendered = render_readme(text, results=tmp_path, renderers=renderers)
    assert (
        "<!-- figures:table -->\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<!-- /figures:table -->"
        in (rendered)
    )
    item = rendered.split("\n\n")[-1].splitlines()
    assert all(len(line) <= 95 for line in item[:-1]) and item[-1].endswith(
        "<!-- /figures:phrase -->."
    )
    assert all(line.startswith("  ") for line in item[1:])  # the list item's indent kept
    assert render_readme(rendered, results=tmp_path, renderers=renderers) == rendered


def test_a_source_passage_names_who_computed_a_result_file(tmp_path):
    shutil.copy(ROOT / "results" / "demo.json", tmp_path / "demo.json")
    text = "Timed by <!-- figures:source-demo -->x<!-- /figures:source-demo -->.\n"
    rendered = render_readme(text, results=tmp_path)
    assert "`benchmarks/demo_time.py" in rendered and "2 CPU cores" in rendered


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a <!-- figures:intro -->x\n", "markers without a partner: intro"),
        ("a <!-- figures:nonesuch -->x<!-- /figures:nonesuch -->\n", "no renderer for nonesuch"),
        (
            "a <!-- figures:demo -->x<!-- /figures:demo --> b <!-- figures:demo -->y<!-- "
            "/figures:demo -->\n",
            "passages named twice: demo",
        ),
        (
            "A paragraph\n<!-- figures:demo -->x<!-- /figures:demo --> goes on.\n",
            "demo opens a line inside a paragraph",
        ),
    ],
)
def test_a_marker_mistake_is_one_line_naming_it(tmp_path, text, problem):
    with pytest.raises(RunError, match=problem):
        render_readme(text, results=ROOT / "results")


def test_a_loop_row_meets_the_goal_only_in_every_seeds_run():
    """The labelling loop's goal (0.90 from 200 answers on) holds for a row when each seed's
    run holds it; one seed below it, or a checkpoint not reached, and the row does not."""

    def run(row, seed, f1s):
        points = [{"checkpoint": c, "f1": f, "boxes_per_frame": 0.1} for c, f in f1s.items()]
        return {"row": row, "seed": seed, "checkpoints": points}

    result = {
        "rows": [
            run("adapted", 0, {100: 0.80, 200: 0.91, 400: 0.93}),
            run("adapted", 1, {100: 0.85, 200: 0.92, 400: 0.90}),
            run("refits", 0, {100: 0.95, 200: 0.95, 400: 0.96}),
            run("refits", 1, {100: 0.95, 200: 0.89, 400: 0.96}),
            run("imagenet", 0, {100: 0.95, 200: None, 400: 0.96}),
        ]
    }
    assert loop_rows_at_goal(result) == ["adapted"]
    assert loop_lowest(result["rows"][1], 200) == 0.90
    assert loop_lowest(result["rows"][4], 200) is None


def test_the_screening_names_each_cells_picking_policy_when_they_differ(tmp_path):
    """A screened budget holding random and active cells says which frames each was trained
    on, and the adapted head is set against the ImageNet head of the same frames."""

    def screened(variant, policy, val, test):
        return {
            "variant": variant,
            "policy": policy,
            "budget": 400,
            "seeds": 1,
            "val_f1": val,
            "own_val_f1": None,
            "test_f1": test,
            "ran_on": "CPU",
        }

    summary = [
        screened("head+adapted", "random", 0.93, 0.906),
        screened("head", "active", 0.88, 0.827),
        screened("head", "random", 0.89, 0.818),
    ]
    (tmp_path / "label-efficiency.json").write_text(json.dumps({"summary": summary}))
    text = screening(tmp_path)
    assert "at 400 labels (one seed)" in text and "(active frames) 0.880" in text
    assert adapted_head(tmp_path) == (
        "at 400 labels 0.906 test micro-F1 against 0.818 on ImageNet's features "
        "(random frames, one seed)"
    )
    (tmp_path / "label-efficiency.json").write_text(json.dumps({"summary": summary[::2]}))
    assert "at 400 labels (random frames, one seed) the label server's head" in screening(tmp_path)
