"""Figures as text: an interval says what it resampled and prefers whole sequences, a
comparison claims a win only on an interval by sequence, and a source names who computed it."""

from toontag.benchmark.figures import (
    AT_HALF,
    Interval,
    interval,
    paper_rule,
    recipe_table,
    source,
    span,
    versus,
)

FRAMES = {"f1_micro": 0.99, "ci95": {"f1_micro": [0.988, 0.992]}}
SEQUENCES = {"f1_micro": [0.986, 0.994], "unit": "sequence", "sequences": 812}


def test_an_interval_by_sequence_is_preferred_and_says_so():
    assert str(interval(FRAMES)) == "[0.9880, 0.9920] by frame"
    both = {**FRAMES, "ci95_by_sequence": SEQUENCES}
    assert interval(both) == Interval(0.986, 0.994, "sequence", 812)
    assert str(interval(both)) == "[0.9860, 0.9940] by sequence (812 sequences)"
    # A pair, with its unit and count beside it; other keys for a table's own columns.
    row = {"ci95_seed0": [0.1, 0.2], "test_ci95_by_sequence": [0.05, 0.25], "unit": "shots"}
    found = interval(row, frames="ci95_seed0", sequences="test_ci95_by_sequence")
    assert found == Interval(0.05, 0.25, "shot") and found.by_sequence
    assert str(interval(row, frames="ci95_seed0", sequences="none")) == "[0.1000, 0.2000] by frame"


def test_a_win_is_claimed_only_on_an_interval_by_sequence():
    paper = 0.989
    frame_above = Interval(0.9905, 0.9945)
    assert versus(frame_above, paper, "the paper").startswith("is not shown to beat the paper")
    assert "beats" not in versus(frame_above, paper, "the paper")
    assert versus(Interval(0.9905, 0.9945, "sequence", 700), paper, "the paper") == (
        "beats the paper, 0.9890: the 95% interval [0.9905, 0.9945] by sequence (700 sequences) "
        "lies above it"
    )
    assert versus(Interval(0.9882, 0.9918), paper, "the paper").startswith(
        "matches the paper, 0.9890: the 95% interval [0.9882, 0.9918] by frame includes it"
    )
    assert versus(Interval(0.97, 0.98, "sequence"), paper, "x").startswith("falls short of x")


def test_a_source_names_command_commit_device_and_a_busy_machine():
    result = {
        "command": "benchmarks/x.py --run r",
        "git_commit": "0123456789abcdef" * 2 + "01234567+dirty",
        "machine": {"cpu_cores": 2},
        "load_average_before": [0.4, 0.4, 0.4],
        "load_average_after": [1.5, 1.0, 1.0],
    }
    assert source(result) == (
        "`benchmarks/x.py --run r`, commit 0123456+dirty, 2 CPU cores (computed on a busy "
        "machine: 1-minute load 0.40 before / 1.50 after on 2 cores; timings are upper bounds)"
    )
    quiet = {**result, "load_average_after": [0.2] * 3, "machine": {"gpu": "NVIDIA H200"}}
    assert source(quiet) == "`benchmarks/x.py --run r`, commit 0123456+dirty, NVIDIA H200"
    assert source({**result, "rendered_only": True}).startswith(
        "figures of the runs the file names, re-rendered by `benchmarks/x.py --run r`"
    )


def test_the_recipe_table_shows_the_kept_row_by_sequence_once_computed():
    rows = {
        name: {
            "row": name,
            "changes": name,
            "val_f1_micro": 0.99,
            "epochs": 3,
            "minutes": 28.0,
            "train_images_per_s": 21.7,
        }
        for name in ("a", "b", "c")
    }
    kept = {"row": "b", "test_f1_micro": 0.9838, "ci95": [0.9814, 0.9863]}
    lines = recipe_table({"rows": rows, "kept": kept}, {"a": 0.9816})
    assert lines[2].endswith("| 0.9816 (evaluated after the choice; not used for it) |")
    assert lines[3].endswith("| **0.9838** [0.9814, 0.9863] by frame |")
    assert lines[4].endswith("| not tested (not kept) |")
    kept |= {"ci95_by_sequence": [0.980, 0.987], "unit": "sequence", "sequences": 600}
    lines = recipe_table({"rows": rows, "kept": kept}, {})
    assert lines[3].endswith("| **0.9838** [0.9800, 0.9870] by sequence (600 sequences) |")


def test_a_span_is_one_figure_when_its_ends_agree():
    assert span([0.653, 0.801, 0.745]) == "0.65-0.80"
    assert span([0.9001, 0.9004]) == "0.90"


def test_the_paper_rule_reads_evaluates_figures_at_one_half():
    from toontag.evaluation.evaluate import AT_PAPER_THRESHOLD

    assert AT_HALF == AT_PAPER_THRESHOLD
    tuned = {"f1_micro": 0.97, AT_HALF: {"f1_micro": 0.96}}
    assert paper_rule(tuned) == {"f1_micro": 0.96} and paper_rule({"f1_micro": 0.9}) == {
        "f1_micro": 0.9
    }
