"""A project's edge cases, as a user meets them on the command line: a hand-edited labels file,
a project with nothing labelled, one character, a character nobody has seen yet."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.test_cli import run_cli
from toontag.labelling.pool import add_to_pool
from toontag.labelling.project import Project

TRAIN = [
    "--model",
    "baseline",
    "--image-size",
    "32x48",
    "--epochs",
    "1",
    "--no-pretrained",
    "--val-fraction",
    "0.3",
]


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory):
    """A project of 40 train-split stills, and each pool frame's true characters."""
    folder = tmp_path_factory.mktemp("edges")
    stills = folder / "stills"
    stills.mkdir()
    truth = {}
    for i, sample in enumerate([s for s in dataset.samples if s.split == "train"][::330][:40]):
        shutil.copy(sample.path, stills / f"{i:03d}.jpg")
        truth[f"{i:03d}.jpg"] = sample.labels
    project = folder / "project"
    add_to_pool(project, [stills], max_distance=0)
    pool = Project.open(project).read_pool()
    return project, {f.path: truth[f.source.rsplit("/", 1)[-1]] for f in pool}


@pytest.fixture
def project(built, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(built[0], copy)
    return copy, built[1]


def write_labels(project, rows, classes):
    (project / "classes.txt").write_text("".join(f"{c}\n" for c in classes))
    lines = ["path,labels,audit,revision,updated"]
    lines += [f"{path},{';'.join(labels)},0,{i + 1}," for i, (path, labels) in enumerate(rows)]
    (project / "labels.csv").write_text("\n".join(lines) + "\n")


def test_a_hand_edited_unknown_name_is_one_line_naming_the_row(
    monkeypatch, capsys, project, tmp_path
):
    root, truth = project
    rows = [(path, ("remzi",) if "remzi" in labels else ()) for path, labels in truth.items()]
    rows[1] = (rows[1][0], ("remzzi",))
    write_labels(root, rows, ["remzi"])
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "--data", root, "--out", tmp_path / "run", *TRAIN
    )
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "labels.csv:3: unknown label 'remzzi' (did you mean 'remzi'?)" in err


def test_a_project_with_nothing_labelled_is_one_line(monkeypatch, capsys, project, tmp_path):
    root, _ = project
    code, _, err = run_cli(
        monkeypatch, capsys, "train", "--data", root, "--out", tmp_path / "run", *TRAIN
    )
    assert code == 1 and len(err.strip().splitlines()) == 1 and "labels.csv" in err


def test_one_character_and_one_never_seen_still_train(monkeypatch, capsys, project, tmp_path):
    """remzi is the only character seen; bulut is named but has no positive yet: training runs,
    and bulut keeps the default threshold (nothing to tune it on)."""
    root, truth = project
    rows = [(path, ("remzi",) if "remzi" in labels else ()) for path, labels in truth.items()]
    write_labels(root, rows, ["remzi", "bulut"])
    code, out, err = run_cli(
        monkeypatch, capsys, "train", "--data", root, "--out", tmp_path / "run", *TRAIN
    )
    assert code == 0, err
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    assert info["classes"] == ["remzi", "bulut"] and info["thresholds"][1] == 0.5
    write_labels(root, rows, ["remzi"])  # one character alone
    code, out, err = run_cli(
        monkeypatch, capsys, "train", "--data", root, "--out", tmp_path / "run1", *TRAIN
    )
    assert code == 0, err
    assert json.loads((tmp_path / "run1" / "model.json").read_text())["classes"] == ["remzi"]
