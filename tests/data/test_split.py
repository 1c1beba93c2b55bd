import numpy as np
import pytest

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
