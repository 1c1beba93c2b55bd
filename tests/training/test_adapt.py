import numpy as np
import pytest
import torch

from toontag.models.registry import create_model
from toontag.models.stages import split, top_prefix
from toontag.training.adapt import AdaptSettings, adapt_top, shot_pairs


def test_shot_pairs_take_one_pair_from_each_of_distinct_shots():
    members = [np.array([0, 1, 2]), np.array([3]), np.array([4, 5])]
    left, right = shot_pairs(members, 2, np.random.default_rng(0), batch=8)
    assert len(left) == len(right) == 3  # fewer shots than the batch: one pair a shot
    shot_of = {int(f): s for s, frames in enumerate(members) for f in frames}
    assert sorted(shot_of[int(f)] for f in left[:, 0]) == [0, 1, 2]
    for (i, vi), (j, vj) in zip(left, right, strict=True):
        assert shot_of[int(i)] == shot_of[int(j)]
        assert (i, vi) != (j, vj)  # never a map against itself
    single = [k for k in range(3) if shot_of[int(left[k, 0])] == 1][0]
    assert left[single, 1] != right[single, 1]  # a one-frame shot: its two views


def test_adapting_trains_the_top_only_and_lowers_the_loss():
    torch.manual_seed(0)
    model = create_model("efficientnet_lite0", 1, pretrained=True)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    _, top = split(model)
    rng = np.random.default_rng(0)
    shots = np.repeat(np.arange(8), 3)  # 8 shots of 3 frames: each shot its own pattern
    pattern = rng.normal(size=(8, 80, 4, 6)).astype(np.float32)
    maps = pattern[shots][:, None] + 0.3 * rng.normal(size=(24, 2, 80, 4, 6)).astype(np.float32)
    report = adapt_top(top, maps.astype(np.float16), shots, AdaptSettings(max_steps=12, batch=8))
    assert report.steps == 12 and report.shots == 8 and report.maps_seen == 12 * 16
    assert report.last_loss < report.first_loss
    after = model.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(top_prefix()) for k in changed)
    assert not top.training


def test_adapting_refuses_one_shot_and_a_single_view():
    _, top = split(create_model("efficientnet_lite0", 1, pretrained=False))
    maps = np.zeros((4, 2, 80, 4, 6), np.float16)
    with pytest.raises(ValueError, match="two shots"):
        adapt_top(top, maps, np.zeros(4), AdaptSettings(max_steps=1))
    with pytest.raises(ValueError, match="views >= 2"):
        adapt_top(top, maps[:, :1], np.arange(4), AdaptSettings(max_steps=1))
