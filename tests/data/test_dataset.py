from pathlib import Path

import pytest

from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset, parse_combination
from toontag.errors import DataError

# The dataset README's table: images and images per character, per split.
README_COUNTS = {
    "train": (13381, [7464, 6701, 6561, 4317], [5319, 5063, 2398, 601]),
    "test": (3344, [1866, 1674, 1640, 1078], [1329, 1266, 599, 150]),
}


def test_kral_sakir_counts_match_the_readme(dataset):
    assert dataset.classes == KRAL_SAKIR_CLASSES
    assert len(dataset) == 16725
    for split, (images, per_class, per_count) in README_COUNTS.items():
        part = dataset.subset(split)
        assert len(part) == images
        assert part.targets.sum(axis=0).astype(int).tolist() == per_class
        sizes = part.targets.sum(axis=1).astype(int)
        assert [int((sizes == n).sum()) for n in (1, 2, 3, 4)] == per_count


def test_samples_are_in_capture_order_with_unique_ids(dataset):
    ids = [s.frame_id for s in dataset.samples]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 16725


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kral_sakir", ("kral_sakir",)),
        ("fil_necati_canan", ("fil_necati", "canan")),
        ("kral_sakir_remzi_fil_necati_canan", KRAL_SAKIR_CLASSES),
        ("canan_kral_sakir", ("kral_sakir", "canan")),  # any order, returned in class order
        ("kral_sakir_bob", None),
        ("fil", None),
        ("remzi_remzi", None),
    ],
)
def test_parse_combination(name, expected):
    assert parse_combination(name, KRAL_SAKIR_CLASSES) == expected


def _image(path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 18), (200, 100, 50)).save(path)


def test_unknown_combination_folder_is_named(tmp_path):
    _image(tmp_path / "train" / "kral_sakir" / "1.jpg")
    _image(tmp_path / "train" / "kral_sakir_bob" / "2.jpg")
    with pytest.raises(DataError, match=r"kral_sakir_bob: folder name is not a combination"):
        load_dataset(tmp_path)


def test_missing_and_empty_data(tmp_path):
    with pytest.raises(DataError, match="no such dataset"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DataError, match="no images found"):
        load_dataset(tmp_path)


def test_classes_txt_declares_a_users_own_characters(tmp_path):
    (tmp_path / "classes.txt").write_text("tom\njerry\n")
    _image(tmp_path / "tom_jerry" / "1.jpg")
    _image(tmp_path / "jerry" / "2.jpg")
    (tmp_path / "jerry" / "notes.txt").write_text("not an image")
    data = load_dataset(tmp_path)
    assert data.classes == ("tom", "jerry")
    assert data.splits == [None]
    assert data.targets.tolist() == [[1, 1], [0, 1]]
    assert [p.name for p in data.ignored] == ["notes.txt"]


def test_csv_manifest(tmp_path):
    _image(tmp_path / "a.jpg")
    _image(tmp_path / "b.jpg")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,labels\na.jpg,tom;jerry\nb.jpg,\n")
    data = load_dataset(manifest)
    assert data.classes == ("jerry", "tom")
    assert data.targets.tolist() == [[1, 1], [0, 0]]
    assert [s.frame_id for s in data.samples] == [0, 1]


def test_csv_manifest_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("file,tags\na.jpg,tom\n")
    with pytest.raises(DataError, match=r"bad.csv: the header must be path,labels"):
        load_dataset(bad)
    split = tmp_path / "split.csv"
    split.write_text("path,labels,split\na.jpg,tom,holdout\n")
    with pytest.raises(DataError, match=r"split.csv:2: split 'holdout'"):
        load_dataset(split)
