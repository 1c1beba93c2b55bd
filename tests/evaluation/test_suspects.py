import csv

import numpy as np
import pytest

from toontag.data.predictions import predictions_csv
from toontag.errors import DataError
from toontag.evaluation.suspects import corrected_manifest, find_suspects, suspects_result

WRONG = [3, 40, 77, 120, 160]  # rows whose out-of-fold prediction contradicts the label


@pytest.fixture(scope="module")
def oof(dataset, tmp_path_factory):
    """Confident out-of-fold probabilities that agree with every label except at WRONG."""
    splits = np.array([s.split for s in dataset.samples])
    train, test = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test")
    rows = np.concatenate([train[::30][:200], test[::30][:100]])
    probs = dataset.targets[rows].astype(np.float32) * 0.96 + 0.02
    for i in WRONG:
        probs[i] = 1 - probs[i]
    path = tmp_path_factory.mktemp("oof") / "oof.csv"
    path.write_text(predictions_csv(dataset, rows, probs, dataset.classes))
    return path, rows


def test_contradicted_labels_are_flagged_first(dataset, oof):
    path, rows = oof
    s = find_suspects(dataset, path)
    assert np.array_equal(s.rows, rows)
    assert set(np.flatnonzero(s.flagged)) == set(WRONG)
    assert set(np.argsort(s.quality)[: len(WRONG)]) == set(WRONG)


def test_publish_writes_a_reviewable_csv_sheet_and_scores(dataset, oof, tmp_path):
    path, rows = oof
    payload, text = suspects_result(dataset, path, [path], tmp_path, audit=None)
    # Frames 30 apart: a few still shots hold two of them, so a few fewer sequences than frames.
    official = payload["scores"][0]["official"]
    assert official["images"] == 300 and 250 < official["sequences"] < 300
    low, high = official["ci95_by_sequence"]
    assert low <= official["f1_micro"] <= high
    listed = list(csv.DictReader((tmp_path / "suspects.csv").open()))
    assert len(listed) == len(WRONG) and all(r["corrected"] == "" for r in listed)
    assert (tmp_path / "suspects.png").stat().st_size > 10_000
    assert "| train | 200 | 5 (2.5%) |" in text and "| test | 100 | 0 (0.0%) |" in text


def test_reviewed_corrections_become_a_training_manifest(dataset, tmp_path):
    first, second = dataset.samples[0], dataset.samples[1]
    reviewed = tmp_path / "reviewed.csv"
    reviewed.write_text(
        "\ufeffpath,split,labels,suggested,quality,corrected\r\n"  # as Excel saves it
        f"{first.path},train,x,y,0.1,remzi;canan\r\n{second.path},train,x,y,0.2,\r\n"
    )
    rows = list(csv.DictReader(corrected_manifest(dataset, reviewed).splitlines()))
    assert len(rows) == len(dataset.samples)
    assert rows[0]["labels"] == "remzi;canan" and rows[1]["labels"] == ";".join(second.labels)
    reviewed.write_text(f"path,corrected\n{first.path},remzzi\n")
    with pytest.raises(DataError, match="unknown label 'remzzi'"):
        corrected_manifest(dataset, reviewed)
