"""The split audit on real frames with one planted near-twin: a test frame that is a copy of
a training frame under other labels."""

from __future__ import annotations

import csv
import json
import shutil
import sys

import numpy as np
import pytest

from tests.conftest import write_manifest
from toontag.cli import main
from toontag.data.audit import audit_split
from toontag.data.dataset import Sample, load_dataset


@pytest.fixture(scope="module")
def planted(dataset, tmp_path_factory):
    """30 train and 10 test frames far apart in id, plus a copy of train frame 0 in test."""
    tmp = tmp_path_factory.mktemp("audit")
    train = [s for s in dataset.samples if s.split == "train"][::400][:30]
    test = [s for s in dataset.samples if s.split == "test"][::300][:10]
    copy = tmp / "99999.jpg"
    shutil.copy(train[0].path, copy)
    other = tuple(c for c in dataset.classes if c not in train[0].labels)[:1] or ("canan",)
    twin = Sample(copy, other, "test", 99999)
    return load_dataset(write_manifest(tmp / "m.csv", [*train, *test, twin])), copy


def test_the_planted_copy_is_the_one_near_twin(planted):
    data, copy = planted
    audit = audit_split(data)
    assert len(audit.test_rows) == 11
    twin = [data.samples[r].path for r in audit.test_rows[audit.twins]]
    assert twin == [copy]
    i = int(np.flatnonzero(audit.twins)[0])
    assert audit.distance[i] == 0.0
    assert data.samples[audit.nearest[i]].split == "train"


def test_publish_scores_with_and_without_twins(planted, tmp_path, monkeypatch):
    data, copy = planted
    run = tmp_path / "run"
    run.mkdir()
    rows = [i for i, s in enumerate(data.samples) if s.split == "test"]
    with (run / "predictions-test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "labels", *(f"p_{c}" for c in data.classes)])
        for r in rows:  # perfect on every frame but the twin, which it gets wrong
            truth = data.targets[r]
            p = 1.0 - truth if data.samples[r].path == copy else truth
            w.writerow([data.samples[r].path, "", *p])
    out = tmp_path / "out"
    manifest = data.root / "m.csv"
    argv = ["toontag", "data", "audit", str(manifest), "--run", str(run), "--results", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 0
    result = json.loads((out / "split-audit.json").read_text())
    md = (out / "split-audit.md").read_text()
    assert result["git_commit"] and result["load_average_after"]  # stamped by the command
    assert result["near_twins"] == 1 and result["near_twins_with_other_labels"] == 1
    score = result["scores"][0]
    assert score["all"]["images"] == 11 and score["without_twins"]["images"] == 10
    assert score["without_twins"]["f1_micro"] == 1.0 > score["all"]["f1_micro"]
    assert score["twins_only"]["f1_micro"] == 0.0
    assert score["all"]["sequences"] <= 11 and score["twins_only"]["sequences"] == 1
    assert score["without_twins"]["f1_micro_ci95_by_sequence"] == [1.0, 1.0]
    assert "1.0000 [1.0000, 1.0000], by sequence [1.0000, 1.0000] (10)" in md
    assert "1 of 11 test frames" in md and (tmp_path / "out" / "split-audit.png").stat().st_size


def test_audit_cli_needs_a_test_split(monkeypatch, capsys, dataset, tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", dataset.samples[:20], split=False)
    monkeypatch.setattr(sys, "argv", ["toontag", "data", "audit", str(manifest)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 1
    assert "needs a train and a test split" in capsys.readouterr().err
