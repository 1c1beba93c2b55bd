import shutil
import subprocess

import numpy as np
import pytest
import torch

from toontag.data.images import load_resized
from toontag.labelling import features as feats
from toontag.labelling.features import pool_features

SIZE = (56, 96)


class CountingNet:
    """A stand-in backbone: four colour statistics per frame, counting the frames it sees."""

    def __init__(self, fail_after: int | None = None):
        self.frames = 0
        self.fail_after = fail_after

    def pooled_features(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.fail_after is not None and self.frames >= self.fail_after:
            raise KeyboardInterrupt("killed")  # nothing after this point runs, as with kill -9
        self.frames += len(pixels)
        x = pixels.float()
        return torch.cat([x.mean((1, 2, 3))[:, None], x.mean((1, 2))], dim=1)


@pytest.fixture
def counting(monkeypatch):
    net = CountingNet()
    monkeypatch.setattr(feats, "_backbone", lambda model, device, weights=None: net)
    return net


@pytest.fixture(scope="module")
def frames(dataset):
    return [s.path for s in dataset.samples[::500][:12]]


def test_lite0_features_of_real_frames_with_a_corrupt_one(frames, tmp_path, monkeypatch):
    net = feats._backbone("efficientnet_lite0", "cpu", None)  # built once
    monkeypatch.setattr(feats, "_backbone", lambda model, device, weights=None: net)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(frames[0].read_bytes()[:300])
    paths = [*frames[:5], broken]
    found = pool_features(paths, tmp_path / "cache", image_size=SIZE)
    assert found.features.shape == (6, 1280) and found.features.dtype == np.float16
    assert isinstance(found.features, np.memmap) and not found.features.flags.writeable
    assert list(found.failed) == [5] and "cannot decode" in found.failed[5]
    assert not found.features[5].any() and found.features[:5].any(axis=1).all()
    with torch.inference_mode():
        direct = net.pooled_features(torch.from_numpy(load_resized(frames[2], SIZE)[0][None]))
    assert np.allclose(found.features[2], direct[0].numpy(), atol=2e-2, rtol=1e-2)
    assert found.computed == 6 and found.path.is_file()


def test_cached_features_are_reused_and_a_grown_pool_computes_only_new_rows(
    frames, tmp_path, counting
):
    first = pool_features(frames[:8], tmp_path, image_size=SIZE, batch_size=3, block_rows=5)
    assert first.computed == 8 and counting.frames == 8 and first.features.shape == (8, 4)
    again = pool_features(frames[:8], tmp_path, image_size=SIZE)
    assert again.computed == 0 and counting.frames == 8
    grown = pool_features(frames, tmp_path, image_size=SIZE, batch_size=3, block_rows=5)
    assert grown.computed == 4 and counting.frames == 12
    assert np.array_equal(grown.features[:8], first.features)
    shuffled = [frames[i] for i in (11, 0, 5, 3)]  # reordered and shrunk: nothing new
    subset = pool_features(shuffled, tmp_path, image_size=SIZE)
    assert subset.computed == 0 and np.array_equal(subset.features, grown.features[[11, 0, 5, 3]])
    other = pool_features(frames[:2], tmp_path, image_size=(28, 48))  # a new size: new rows
    assert other.computed == 2


def test_a_killed_build_keeps_its_finished_blocks(frames, tmp_path, monkeypatch):
    dying = CountingNet(fail_after=6)  # dies in the second block of 4
    monkeypatch.setattr(feats, "_backbone", lambda model, device, weights=None: dying)
    with pytest.raises(KeyboardInterrupt):
        pool_features(frames, tmp_path, image_size=SIZE, batch_size=2, block_rows=4)
    [folder] = tmp_path.iterdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / f".block-0123456789abcdef0123.{dead.pid}.tmp").write_bytes(b"half a block")
    fresh = CountingNet()
    monkeypatch.setattr(feats, "_backbone", lambda model, device, weights=None: fresh)
    found = pool_features(frames, tmp_path, image_size=SIZE, batch_size=2, block_rows=4)
    assert found.computed == 8 and fresh.frames == 8  # the first block of 4 was kept
    whole = pool_features(frames, tmp_path / "fresh", image_size=SIZE)
    assert np.array_equal(found.features, whole.features)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [found.path.name, found.path.with_suffix(".json").name]
    )  # the blocks gathered into the view, and the killed build's half-written file, are gone


def test_a_missing_file_is_a_listed_zero_row(frames, tmp_path, counting):
    found = pool_features([frames[0], tmp_path / "gone.jpg"], tmp_path, image_size=SIZE)
    assert found.failed == {1: "file not found"} and not found.features[1].any()
    assert found.features[0].any()


def test_a_moved_project_keeps_its_features(frames, tmp_path, counting):
    project = tmp_path / "project"
    (project / "frames").mkdir(parents=True)
    for path in frames[:4]:
        shutil.copy2(path, project / "frames" / path.name)  # mtime kept, as a move keeps it
    paths = sorted((project / "frames").iterdir())
    first = pool_features(paths, project / "cache", image_size=SIZE, root=project)
    moved = tmp_path / "moved"
    project.rename(moved)
    paths = [moved / "frames" / p.name for p in paths]
    again = pool_features(paths, moved / "cache", image_size=SIZE, root=moved)
    assert first.computed == 4 and again.computed == 0 and counting.frames == 4
