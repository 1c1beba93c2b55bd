import os
from pathlib import Path

import pytest

from tests.conftest import write_project
from toontag.data.dataset import (
    FROM_LABELS,
    KRAL_SAKIR_CLASSES,
    likely_misspellings,
    load_dataset,
    parse_combination,
    read_class_list,
)
from toontag.data.groups import GROUP_COLUMN, POOL_SHOTS
from toontag.errors import DataError, FileError

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


def test_a_dataset_folder_passes_over_hidden_names_and_fifos(tmp_path):
    """`data.walk`'s rule: a Mac's `._1.jpg` and `.DS_Store`, a hidden folder, and a FIFO
    (which would block whoever opened it) are neither samples nor ignored files."""
    _image(tmp_path / "train" / "remzi" / "1.jpg")
    (tmp_path / "train" / "remzi" / "._1.jpg").write_bytes(b"\x00\x05\x16\x07")
    (tmp_path / "train" / "remzi" / ".DS_Store").write_bytes(b"\x00")
    _image(tmp_path / "train" / ".ipynb_checkpoints" / "2.jpg")
    os.mkfifo(tmp_path / "train" / "remzi" / "3.jpg")
    data = load_dataset(tmp_path)
    assert [s.path.name for s in data.samples] == ["1.jpg"] and data.ignored == ()


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


def _manifest(tmp_path: Path, rows: list[tuple[str, str]], name: str = "m.csv") -> Path:
    for image, _ in rows:
        if not (tmp_path / image).exists():
            _image(tmp_path / image)
    lines = ["path,labels", *(f"{image},{labels}" for image, labels in rows)]
    manifest = tmp_path / name
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def test_a_label_outside_classes_txt_is_one_line_naming_label_row_and_classes(tmp_path):
    (tmp_path / "classes.txt").write_text("kral_sakir\nremzi\nfil_necati\ncanan\n")
    manifest = _manifest(tmp_path, [("a.jpg", "kral_sakir"), ("b.jpg", "remzzi;canan")])
    with pytest.raises(DataError) as error:
        load_dataset(manifest)
    message = str(error.value)
    assert "\n" not in message
    assert f"{manifest}:3:" in message and "'remzzi'" in message
    assert "did you mean 'remzi'?" in message
    assert "kral_sakir, remzi, fil_necati, canan" in message and "classes.txt" in message


def test_classes_txt_beside_a_manifest_sets_the_classes_and_their_order(tmp_path):
    (tmp_path / "classes.txt").write_text("tom\njerry\nspike\n")
    data = load_dataset(_manifest(tmp_path, [("a.jpg", "jerry;tom"), ("b.jpg", "jerry")]))
    assert data.classes == ("tom", "jerry", "spike")  # spike: known, in no row
    assert data.targets.tolist() == [[1, 1, 0], [0, 1, 0]]


def test_a_given_class_list_wins_and_is_checked(tmp_path):
    manifest = _manifest(tmp_path, [("a.jpg", "canan"), ("b.jpg", "remzi;canan")])
    data = load_dataset(manifest, classes=read_class_list("remzi,canan,kral_sakir"))
    assert data.classes == ("remzi", "canan", "kral_sakir")
    assert data.targets.tolist() == [[0, 1, 0], [1, 1, 0]]
    with pytest.raises(DataError, match=r"m.csv:2: unknown label 'canan'.*--classes.*: remzi$"):
        load_dataset(manifest, classes=("remzi",), classes_from="--classes")
    listing = tmp_path / "names.txt"
    listing.write_text("remzi\ncanan\n")
    assert read_class_list(str(listing)) == ("remzi", "canan")
    with pytest.raises(DataError, match="distinct class name"):
        read_class_list("remzi,remzi")


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_manifest_saved_by_excel_reads_like_a_clean_one(tmp_path, delimiter):
    """UTF-8 with a byte order mark, CRLF line ends, spaces after the label separator; a
    Turkish Excel also separates the fields with ';' (and quotes the labels then)."""
    rows = [("1.jpg", "remzi;canan", "train"), ("2.jpg", "kral_sakir", "test"), ("3.jpg", "", "")]
    for image, _, _ in rows:
        _image(tmp_path / image)
    clean = tmp_path / "clean.csv"
    clean.write_text("path,labels,split\n" + "".join(f"{p},{lab},{s}\n" for p, lab, s in rows))
    d = delimiter
    lines = [
        f"path{d}labels{d}split",
        *(f'{p}{d}"{lab.replace(";", "; ")}"{d}{s}' for p, lab, s in rows),
    ]
    excel = tmp_path / "excel.csv"
    excel.write_bytes("\r\n".join([*lines, ""]).encode("utf-8-sig"))
    assert (
        excel.read_bytes().startswith(b"\xef\xbb\xbfpath")
        and b'"remzi; canan"' in excel.read_bytes()
    )
    a, b = load_dataset(clean), load_dataset(excel)
    assert a.classes == b.classes == ("canan", "kral_sakir", "remzi")
    assert a.samples == b.samples
    assert b.targets.tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_a_manifest_not_in_utf8_says_how_to_save_it(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes("path,labels\nŞakir.jpg,kral_sakir\n".encode("cp1254"))
    with pytest.raises(DataError, match=r"m.csv: not UTF-8 .*CSV UTF-8"):
        load_dataset(manifest)


def test_labels_define_the_classes_and_likely_misspellings_are_flagged(tmp_path):
    rows = [(f"{i}.jpg", "remzi") for i in range(12)]
    rows += [(f"c{i}.jpg", "canan;remzi") for i in range(5)]
    rows += [("x.jpg", "remzzi"), ("y.jpg", "bob")]  # one typo, one rare but real character
    data = load_dataset(_manifest(tmp_path, rows))
    assert data.classes == ("bob", "canan", "remzi", "remzzi")
    assert data.classes_from == FROM_LABELS
    assert data.class_counts == {"bob": 1, "canan": 5, "remzi": 17, "remzzi": 1}
    assert likely_misspellings(data.class_counts) == {"remzzi": "remzi"}
    assert likely_misspellings({"tom": 10, "tim": 9}) == {}  # both common: two characters


def test_a_projects_audit_frames_are_never_trained_or_validated_on(dataset, tmp_path):
    """An audit frame (labels.csv's audit=1, written from the label server's record) is test
    data whatever a `split` column beside it says: training on the project never fits it nor
    chooses anything on it."""
    from toontag.data.cache import build_cache
    from toontag.data.datamodule import make_parts

    project = tmp_path / "myshow"
    project.mkdir()
    (project / "project.json").write_text('{"format": 1}')
    rows = [s for s in dataset.samples if s.split == "train"][:400:10]
    splits = ["train", "val", ""] * 14
    lines = ["path,labels,audit,split"] + [
        f"{s.path},{';'.join(s.labels)},{int(i % 4 == 0)},{splits[i]}" for i, s in enumerate(rows)
    ]
    (project / "labels.csv").write_text("\n".join(lines) + "\n")
    data = load_dataset(project)
    audit = [i for i in range(len(rows)) if i % 4 == 0]
    assert [i for i, s in enumerate(data.samples) if s.split == "test"] == audit
    cache = build_cache([s.path for s in data.samples], size=(36, 64))
    parts = make_parts(data, cache, val_fraction=0.1, seed=0)
    assert sorted(parts.test.tolist()) == audit
    assert not set(audit) & {*parts.train.tolist(), *parts.val.tolist()}


def test_a_labelling_project_folder_reads_as_its_labels(dataset, tmp_path):
    """`--data PROJECT` (a folder made by `toontag frames`) means the project's labels.csv."""
    project = tmp_path / "myshow"
    project.mkdir()
    (project / "project.json").write_text('{"format": 1}')
    rows = [s for s in dataset.samples if s.split == "train"][:3]
    lines = ["path,labels", *(f"{s.path},{';'.join(s.labels)}" for s in rows)]
    (project / "labels.csv").write_text("\n".join(lines) + "\n")
    data = load_dataset(project)
    assert [s.path for s in data.samples] == [s.path for s in rows]
    assert [s.labels for s in data.samples] == [s.labels for s in rows]


def test_groups_come_from_a_group_column_or_a_projects_pool_shots(tmp_path):
    """A manifest's `group` column (an empty one is the row's own group); a project's pool
    shots, its source where a shot is unknown, labels.csv's own group first; none otherwise."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,labels,group\na.jpg,tom,s1\nb.jpg,,\nc.jpg,tom,s1\n")
    data = load_dataset(manifest)
    assert data.groups == ("s1", "b.jpg", "s1") and data.groups_from == GROUP_COLUMN
    assert data.select([2, 1]).groups == ("s1", "b.jpg")
    assert load_dataset(_manifest(tmp_path, [("a.jpg", "tom")], "plain.csv")).groups is None
    project = write_project(
        tmp_path / "show",
        "path,labels,audit,group\nf/2.jpg,tom,0,\nf/4.jpg,,1,\nf/1.jpg,,0,\nf/5.jpg,tom,0,\n"
        "f/3.jpg,,0,mine\nf/9.jpg,tom,0,\n",
        "path,source,time,shot,reason,width,height\n"
        "f/1.jpg,ep1.mp4,1.0,3,shot,4,4\nf/2.jpg,ep1.mp4,2.0,3,shot,4,4\n"
        "f/3.jpg,ep1.mp4,9.0,,regular,4,4\nf/4.jpg,ep1.mp4,9.5,,regular,4,4\n"
        "f/5.jpg,still.png,,,image,4,4\n",
    )
    data = load_dataset(project)
    assert data.groups == (
        "ep1.mp4\tshot 3",
        "ep1.mp4",
        "ep1.mp4\tshot 3",
        "f/5.jpg",
        "mine",
        "f/9.jpg",
    )
    assert data.subset("test").groups == ("ep1.mp4",)
    assert data.groups_from == f"{GROUP_COLUMN}, else {POOL_SHOTS}"


def test_a_fifo_manifest_and_a_link_loop_in_a_dataset_folder_are_named(dataset, tmp_path):
    """A manifest that is a FIFO waited for a writer (or, not being a file, was listed as a
    folder: a crash); a link loop in a dataset folder stopped everything with an OSError."""
    from tests.conftest import within

    manifest = tmp_path / "m.csv"
    os.mkfifo(manifest)
    with pytest.raises(FileError, match=r"m.csv: not a regular file \(a FIFO\)$"):
        within(30, lambda: load_dataset(manifest), fifos=[manifest])
    folder = tmp_path / "data" / "train" / "remzi"
    folder.mkdir(parents=True)
    (folder / "1.jpg").write_bytes(dataset.samples[0].path.read_bytes())
    assert [s.path for s in load_dataset(tmp_path / "data").samples] == [folder / "1.jpg"]
    (folder / "3.jpg").symlink_to("3.jpg")
    with pytest.raises(DataError, match=r"3.jpg: a symlink loop \(it cannot be followed\)$"):
        load_dataset(tmp_path / "data")
