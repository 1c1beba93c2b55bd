"""A manifest's weight column, and weak rows (weight < 1) that only ever train."""

import csv
from types import SimpleNamespace

import numpy as np
import pytest

from toontag.data.datamodule import assign_parts, make_parts
from toontag.data.dataset import load_dataset
from toontag.errors import DataError
from toontag.evaluation.evaluate import split_rows

HEADER = ("path", "labels", "split", "group", "weight")


def write(path, rows, header=HEADER):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def shots(dataset):
    """40 shots of 3 real training frames each: (path, labels, shot) per frame."""
    train = dataset.subset("train").samples[:1200:10]
    return [(str(s.path), ";".join(s.labels), f"shot {i // 3}") for i, s in enumerate(train)]


def manifest(tmp_path, shots, *, weak=lambda i: i % 3 == 1, split="train", name="m.csv"):
    """The shots' frames, those whose index is `weak` weak rows (weight 0.5), all in `split`."""
    rows = [
        [path, labels, split, shot, "0.5" if weak(i) else ""]
        for i, (path, labels, shot) in enumerate(shots)
    ]
    return write(tmp_path / name, rows)


@pytest.mark.parametrize("bad", ["heavy", "0", "-0.5", "1.5", "nan", "inf"])
def test_a_bad_weight_is_one_line_naming_the_file_and_line(dataset, tmp_path, bad):
    a, b = (str(s.path) for s in dataset.samples[:2])
    path = write(tmp_path / "m.csv", [[a, "remzi", "", "", ""], [b, "canan", "", "", bad]])
    with pytest.raises(DataError) as e:
        load_dataset(path)
    assert str(e.value).startswith(f"{path}:3: weight {bad!r} is not a number in (0, 1]")
    assert "\n" not in str(e.value)


def test_a_weight_column_reads_with_one_as_the_default(dataset, tmp_path):
    a, b, c = (str(s.path) for s in dataset.samples[:3])
    data = load_dataset(write(tmp_path / "m.csv", [[a, "remzi", "", "", "0.25"], [b, "", "", ""]]))
    assert data.weights.tolist() == [0.25, 1.0]
    assert load_dataset(write(tmp_path / "n.csv", [[c, "remzi"]], ("path", "labels"))).weights == 1


@pytest.mark.parametrize(
    "split",
    [
        {"val_fraction": 0.25, "seed": 0},
        {"val_fraction": 0.1, "seed": 3, "fold": (1, 3)},
    ],
)
@pytest.mark.parametrize("given", ["train", ""])  # "": no split in the data (80/20 first)
def test_weak_rows_never_validate_test_or_fold_and_never_move_the_split(
    shots, tmp_path, split, given
):
    data = load_dataset(manifest(tmp_path, shots, split=given))
    weak = data.weights < 1
    assert 0 < weak.sum() < len(data)
    parts, how = assign_parts(data, **split)
    assert set(parts[weak]) <= {"train", ""}  # never val, test or heldout
    human = load_dataset(manifest(tmp_path, shots, weak=lambda i: False, split=given, name="h.csv"))
    alone, _ = assign_parts(human.select(np.flatnonzero(~weak)), **split)
    assert parts[~weak].tolist() == alone.tolist()  # the same hold-outs as without them
    held = set(np.array(data.groups)[np.isin(parts, ["val", "test", "heldout"])])
    left_out = weak & np.isin(np.array(data.groups), list(held))
    assert (parts[left_out] == "").all() and (parts[weak & ~left_out] == "train").all()
    assert how["weak"]["rows"] == weak.sum() and how["weak"]["left_out"] == left_out.sum() > 0
    assert how["weak"]["train"] == weak.sum() - left_out.sum()
    assert how["weak"]["weights"] == [0.5] and "train only" in how["weak"]["how"]
    cache = SimpleNamespace(ok=np.arange(len(data)))
    made = make_parts(data, cache, **split)
    for name in ("val", "test", "heldout"):
        assert not weak[getattr(made, name)].any()
    # never scored either, whichever split evaluation asks for
    for name in ("train", "val", "test"):
        rows = split_rows(data, cache, name, val_fraction=split["val_fraction"], seed=0)
        assert not weak[rows].any()


def test_a_weak_row_a_manifest_puts_in_val_or_test_is_left_out(shots, tmp_path):
    rows = [[path, labels, "train", shot, ""] for path, labels, shot in shots]
    rows[0][2], rows[1][2], rows[2][2] = "val", "test", "val"
    rows[0][4] = rows[1][4] = "0.5"  # weak: left out; row 2 is a person's val frame
    data = load_dataset(write(tmp_path / "m.csv", rows))
    parts, how = assign_parts(data, val_fraction=0.1, seed=0)
    assert parts[:3].tolist() == ["", "", "val"]
    assert how["val"] == "the dataset's own val split" and how["weak"]["left_out"] == 2


def test_data_of_weak_rows_alone_has_nothing_to_validate(shots, tmp_path):
    data = load_dataset(manifest(tmp_path, shots[:3], weak=lambda i: True))
    with pytest.raises(DataError, match="every row is a weak label"):
        assign_parts(data, val_fraction=0.1, seed=0)


def test_data_without_weak_rows_splits_and_reports_as_before(shots, tmp_path):
    data = load_dataset(manifest(tmp_path, shots, weak=lambda i: False))
    parts, how = assign_parts(data, val_fraction=0.25, seed=0)
    assert "weak" not in how and set(parts) == {"train", "val"}
