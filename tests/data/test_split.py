from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_project
from toontag.data.cache import build_cache
from toontag.data.datamodule import make_parts
from toontag.data.split import (
    CUT_THRESHOLD,
    frame_jumps,
    hold_out_sequences,
    sequence_ids,
    thumbnails,
)


@pytest.fixture(scope="module")
def train_slice(dataset):
    """The first 2,000 training frames in capture order, decoded small."""
    part = dataset.subset("train").select(range(2000))
    cache = build_cache([s.path for s in part.samples], size=(56, 96))
    ids = np.array([s.frame_id for s in part.samples])
    return part, cache, ids


def test_no_sequence_straddles_train_and_validation(train_slice):
    _, cache, ids = train_slice
    thumbs = thumbnails(cache.images)
    seqs = sequence_ids(ids, thumbs)
    held = hold_out_sequences(seqs, 0.1, seed=0)
    # Every pair of continuous neighbours (consecutive ids, small jump) stays on one side.
    continuous = frame_jumps(ids, thumbs) <= CUT_THRESHOLD
    assert continuous.sum() > 500  # the slice has real sequences to keep together
    assert np.array_equal(held[:-1][continuous], held[1:][continuous])
    for seq in np.unique(seqs):
        assert len(set(held[seqs == seq])) == 1
    assert 0.1 <= held.mean() < 0.13
    assert 1 < len(np.unique(seqs)) < len(ids)


def test_split_is_seeded(train_slice):
    _, cache, ids = train_slice
    seqs = sequence_ids(ids, thumbnails(cache.images))
    a, b = hold_out_sequences(seqs, 0.1, 0), hold_out_sequences(seqs, 0.1, 0)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, hold_out_sequences(seqs, 0.1, 1))


def test_gaps_in_frame_ids_always_cut():
    ids = np.array([1, 2, 3, 10, 11])
    thumbs = np.zeros((5, 14, 24), np.float32)  # identical pictures
    assert sequence_ids(ids, thumbs).tolist() == [0, 0, 0, 1, 1]


def test_make_parts_keeps_test_and_holds_out_val(dataset, small_manifest):
    from toontag.data.dataset import load_dataset

    data = load_dataset(small_manifest)
    cache = build_cache([s.path for s in data.samples], size=(36, 64))
    parts = make_parts(data, cache, val_fraction=0.1, seed=0)
    splits = np.array([s.split for s in data.samples])
    assert set(splits[parts.test]) == {"test"} and len(parts.test) == 84
    assert set(splits[parts.val]) == {"train"} and set(splits[parts.train]) == {"train"}
    assert len(parts.train) + len(parts.val) == 335
    assert not set(parts.train) & set(parts.val)


def test_paper_80_20_split_when_the_dataset_has_none(dataset, tmp_path):
    from tests.conftest import write_manifest
    from toontag.data.dataset import load_dataset

    samples = dataset.subset("train").samples[:600]
    data = load_dataset(write_manifest(tmp_path / "nosplit.csv", samples, split=False))
    cache = build_cache([s.path for s in data.samples], size=(36, 64))
    parts = make_parts(data, cache, val_fraction=0.1, seed=0)
    assert 0.2 <= len(parts.test) / 600 < 0.25
    assert len(parts.train) + len(parts.val) + len(parts.test) == 600


def test_the_split_does_not_depend_on_the_training_size(small_manifest):
    from toontag.data.dataset import load_dataset

    data = load_dataset(small_manifest)
    small, large = (
        build_cache([s.path for s in data.samples], size=size) for size in [(36, 64), (64, 64)]
    )
    a = make_parts(data, small, val_fraction=0.1, seed=0)
    b = make_parts(data, large, val_fraction=0.1, seed=0)
    assert np.array_equal(a.val, b.val) and np.array_equal(a.train, b.train)


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """A labelling project of 400 frames from 100 shots of 4 (each shot one flat colour), its
    labels.csv in shuffled order (the order frames happen to be answered in)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("shots") / "project"
    (root / "frames" / "show").mkdir(parents=True)
    rng = np.random.default_rng(0)
    pool, labels = ["path,source,time,shot,reason,width,height"], []
    for shot in range(100):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        for k in range(4):
            path = f"frames/show/{shot * 4 + k:04d}.jpg"
            Image.new("RGB", (40, 24), colour).save(root / path)
            pool.append(f"{path},show.mp4,{shot * 4 + k},{shot},shot,40,24")
            labels.append(f"{path},{'remzi' if shot % 2 else ''},0")
    order = rng.permutation(len(labels))
    lines = ["path,labels,audit", *(labels[i] for i in order)]
    return write_project(root, "\n".join(lines) + "\n", "\n".join(pool) + "\n")


def shot_of(data) -> np.ndarray:
    return np.array([int(s.path.stem) // 4 for s in data.samples])


def test_a_projects_validation_frames_have_no_shot_mate_in_training(shots):
    """Row order of labels.csv is answer order, not capture order: validation is drawn by
    pool.csv's shots, so no validation frame has a shot-mate in training."""
    from toontag.data.dataset import load_dataset

    data = load_dataset(shots)
    cache = build_cache([s.path for s in data.samples], size=(24, 40))
    parts = make_parts(data, cache, val_fraction=0.2, seed=0)
    shot = shot_of(data)
    assert len(parts.train) + len(parts.val) == 400 and len(parts.val) >= 80
    assert not set(shot[parts.val]) & set(shot[parts.train])
    assert len(set(data.groups)) == 100
    assert parts.how["val_groups_total"] == 100 and "shots" in parts.how["grouped_by"]


def test_a_manifests_group_column_is_honoured_by_every_split(shots, tmp_path):
    """Without a split: the 80/20 test part, the cross-fitting fold and validation all deal
    whole groups of the manifest's `group` column."""
    from toontag.data.dataset import load_dataset

    rows = (shots / "labels.csv").read_text().splitlines()[1:]
    lines = ["path,labels,group"]
    for row in rows:
        path, label, _ = row.split(",")
        lines.append(f"{shots / path},{label},shot {int(Path(path).stem) // 4}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    data = load_dataset(tmp_path / "m.csv")
    cache = build_cache([s.path for s in data.samples], size=(24, 40))
    shot = shot_of(data)
    for k in range(3):
        parts = make_parts(data, cache, val_fraction=0.1, seed=1, fold=(k, 3))
        sides = [set(shot[rows]) for rows in (parts.train, parts.val, parts.test, parts.heldout)]
        assert all(len(side) > 0 for side in sides)
        assert sum(len(side) for side in sides) == 100  # no shot on two sides
    assert data.groups_from == "the manifest's group column"
