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


def test_weights_ride_along_in_training_batches_only_where_some_row_is_weak(dataset, tmp_path):
    from types import SimpleNamespace

    from toontag.data.datamodule import ToonDataModule
    from toontag.data.dataset import load_dataset

    paths = [str(s.path) for s in dataset.samples[:6]]
    for name, weights in (("weak.csv", [1, 0.5] * 3), ("plain.csv", [1] * 6)):
        rows = "".join(f"{p},remzi,{w}\n" for p, w in zip(paths, weights, strict=True))
        (tmp_path / name).write_text("path,labels,weight\n" + rows)
        dm = ToonDataModule(load_dataset(tmp_path / name), image_size=(2, 2), batch_size=4)
        dm.cache = SimpleNamespace(images=np.zeros((6, 2, 2, 3), np.uint8))
        train = list(dm.loader(np.arange(6), shuffle=False, train=True))
        if name == "plain.csv":
            assert all(len(batch) == 2 for batch in train)  # as before: (pixels, targets)
        else:
            assert torch.cat([w for _, _, w in train]).tolist() == weights
        assert all(len(batch) == 2 for batch in dm.loader(np.arange(6), shuffle=False))  # val
    on_device = device_batches(np.arange(10, 16), shuffle=False)
    on_device.weights = torch.linspace(0, 1, 50)
    assert all(torch.allclose(w, t[:, 0] / 49) for _, t, w in on_device)  # each row's own
