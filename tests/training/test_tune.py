"""The supervised fine-tune of the backbone's top on the cached maps of real frames."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from toontag.labelling.features import pool_maps
from toontag.models.registry import create_model
from toontag.models.stages import split, top_prefix
from toontag.training.tune import TuneSettings, masked_bce, tune_top

SIZE = (56, 96)
FAST = TuneSettings(epochs=4, batch=8, probe_iterations=20)


@pytest.fixture(scope="module")
def answered(dataset, tmp_path_factory):
    """24 real train frames' maps (two views) and their labels, one class unknown on some."""
    samples = dataset.subset("train").samples[::400][:24]
    maps = pool_maps([s.path for s in samples], tmp_path_factory.mktemp("maps"), image_size=SIZE)
    targets = np.array([[c in s.labels for c in dataset.classes] for s in samples], np.float32)
    known = np.ones_like(targets, dtype=bool)
    known[:6, -1] = False  # a character added after these answers: never looked for
    return np.asarray(maps.features), targets, known


def fresh_top():
    model = create_model("efficientnet_lite0", 1, pretrained=True)
    return model, split(model)[1]


def test_tuning_lowers_the_loss_and_changes_the_top_only(answered):
    maps, targets, known = answered
    model, top = fresh_top()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    report = tune_top(top, maps, targets, known, FAST)
    assert report.steps == 12 and report.frames == 24 and report.maps_seen == 12 * 8  # 4 x 24 / 8
    assert report.stopped is None
    assert report.loss < report.probe_loss  # the read-out's on every answered map, before and after
    after = model.backbone.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(top_prefix()) for k in changed)
    assert not top.training


def test_tuning_is_the_same_for_a_seed_and_stops_when_asked(answered):
    maps, targets, known = answered
    settings = TuneSettings(max_steps=3, batch=8, probe_iterations=5)
    tops = [fresh_top()[1] for _ in range(3)]
    for top in tops[:2]:
        tune_top(top, maps, targets, known, settings)
    first, second = (t.state_dict() for t in tops[:2])
    assert all(torch.equal(first[k], second[k]) for k in first)
    calls = []
    report = tune_top(tops[2], maps, targets, known, settings, stop=lambda: calls.append(1) or 1)
    assert report.steps == 1 and report.stopped == "asked" and calls == [1]
    timed = tune_top(tops[2], maps, targets, known, replace(settings, max_steps=None, seconds=0))
    assert timed.steps == 0 and timed.stopped == "time"


def test_masked_entries_count_for_nothing_and_shapes_are_checked(answered):
    logits = torch.tensor([[5.0, -5.0]])
    assert float(masked_bce(logits, torch.tensor([[0.0, 1.0]]), torch.tensor([[0.0, 0.0]]))) == 0
    maps, targets, _ = answered
    with pytest.raises(ValueError, match="targets"):
        tune_top(fresh_top()[1], maps, targets[:5], None, TuneSettings(max_steps=1))
