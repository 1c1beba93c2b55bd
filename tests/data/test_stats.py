import os
import shutil

from toontag.data.dataset import LabelledData, Sample, load_dataset
from toontag.data.stats import dataset_stats


def test_stats_reproduce_the_readme_table(dataset):
    stats = dataset_stats(dataset, check=False)
    train, test = stats["splits"]["train"], stats["splits"]["test"]
    assert train["characters"] == {
        "kral_sakir": 7464,
        "remzi": 6701,
        "fil_necati": 6561,
        "canan": 4317,
    }
    assert test["by_count"] == {1: 1329, 2: 1266, 3: 599, 4: 150}
    assert len(train["combinations"]) == 15 and all(train["combinations"].values())
    assert list(train["combinations"])[0] == "kral_sakir"
    assert list(train["combinations"])[-1] == "kral_sakir_remzi_fil_necati_canan"
    assert sum(test["combinations"].values()) == 3344


def test_stats_find_unreadable_files_and_duplicates(dataset, tmp_path):
    src = [s.path for s in dataset.samples[:3]]
    folder = tmp_path / "train" / "remzi"
    folder.mkdir(parents=True)
    shutil.copy(src[0], folder / "1.jpg")
    shutil.copy(src[0], folder / "2.jpg")  # the same bytes twice
    shutil.copy(src[1], folder / "3.jpg")
    (folder / "4.jpg").write_bytes(src[2].read_bytes()[:300])
    stats = dataset_stats(load_dataset(tmp_path))
    problems = stats["problems"]
    assert [p["path"].split("/")[-1] for p in problems["unreadable"]] == ["4.jpg"]
    assert [[p.split("/")[-1] for p in group] for group in problems["duplicates"]] == [
        ["1.jpg", "2.jpg"]
    ]


def test_stats_name_a_fifo_among_the_images_without_waiting(dataset, tmp_path):
    """`data stats` hashes each file's bytes before decoding it: a FIFO waited there."""
    from tests.conftest import within

    folder = tmp_path / "train" / "remzi"
    folder.mkdir(parents=True)
    shutil.copy(dataset.samples[0].path, folder / "1.jpg")
    fifo = folder / "2.jpg"
    os.mkfifo(fifo)
    named = [folder / "1.jpg", fifo]  # as a manifest names them
    samples = tuple(Sample(p, ("remzi",), "train", i) for i, p in enumerate(named))
    data = LabelledData(tmp_path, ("remzi",), samples)
    stats = within(60, lambda: dataset_stats(data), fifos=[fifo])
    assert stats["problems"]["unreadable"] == [
        {"path": str(fifo), "reason": "not a regular file (a FIFO)"}
    ]
