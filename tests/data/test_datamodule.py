import numpy as np
import pytest
import torch

from toontag.data.datamodule import DeviceBatches, fold_mask


def device_batches(rows, **kw):
    images = torch.arange(50).view(50, 1, 1, 1).expand(50, 2, 2, 3).contiguous()
    targets = torch.arange(50).float().view(50, 1)
    return DeviceBatches(images, targets, rows, batch_size=4, seed=0, **kw)


def rows_seen(batches) -> list[int]:
    return [int(t) for _, targets in batches for t in targets[:, 0]]


def test_evaluation_batches_cover_the_rows_once_in_order():
    rows = np.array([3, 7, 8, 20, 21, 22, 40, 49, 1])
    batches = device_batches(rows, shuffle=False)
    assert rows_seen(batches) == rows.tolist() and len(batches) == 3
    shards = [device_batches(rows, shuffle=False, rank=r, world=2) for r in (0, 1)]
    assert sorted(rows_seen(shards[0]) + rows_seen(shards[1])) == sorted(rows.tolist())


def test_training_batches_are_a_new_permutation_every_epoch():
    rows = np.arange(10, 30)
    batches = device_batches(rows, shuffle=True)
    first, second = rows_seen(batches), rows_seen(batches)
    assert sorted(first) == sorted(second) == rows.tolist()
    assert first != second and first != rows.tolist()
    shards = [rows_seen(device_batches(rows, shuffle=True, rank=r, world=3)) for r in (0, 1, 2)]
    assert all(len(s) == 6 for s in shards)  # equal shares, trimmed
    assert len(set(sum(shards, []))) == 18  # disjoint


@pytest.mark.parametrize("folds", [2, 5])
def test_folds_split_whole_sequences_into_disjoint_parts(folds):
    sequences = np.repeat(np.arange(60), np.random.default_rng(0).integers(1, 9, 60))
    masks = [fold_mask(sequences, k, folds, seed=0) for k in range(folds)]
    assert (np.sum(masks, axis=0) == 1).all()  # every frame in exactly one fold
    for mask in masks:
        held = set(sequences[mask])
        assert not held & set(sequences[~mask])  # whole sequences only
        assert abs(mask.mean() - 1 / folds) < 0.1
