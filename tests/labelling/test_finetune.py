"""The fine-tune on cached maps: only the new output's head weights and the top learn, a
deadline stops it, and the cut that keeps a share of frames over it."""

import time

import numpy as np
import torch

from toontag.labelling import finetune
from toontag.labelling.finetune import Targets, fine_tune, matched_cut, top_outputs
from toontag.models import create_model
from toontag.models.stages import split


def tiny(seed: int = 0):
    """A 4-output Lite0 (random weights) shaped as enrolment widens one: the old outputs have
    no weight on the last two hidden units, the new output's; and the maps of 40 random 32x48
    pictures."""
    torch.manual_seed(seed)
    model = create_model("efficientnet_lite0", 4, pretrained=False).eval()
    with torch.no_grad():
        model.head[5].weight[:3, -2:] = 0
    pixels = torch.randint(0, 255, (40, 32, 48, 3), dtype=torch.uint8)
    maps = split(model)[0](pixels).numpy()
    n = len(maps)
    targets = Targets(
        teacher=np.full((n, 3), 0.3, np.float32),
        new=(np.arange(n) < 8).astype(np.float32),
        weight=np.r_[np.ones(8), np.full(n - 8, 0.3)],
        labelled=np.arange(n) < 8,
    )
    return model, maps, targets


def test_with_the_top_held_still_the_old_outputs_do_not_move(monkeypatch):
    """The old outputs' own head weights never learn: with the top's rate at 0, their logits
    are the same to the bit, while the new output learnt."""
    model, maps, targets = tiny()
    before = top_outputs(model, maps)[0]
    hidden = model.head[2].weight.detach().clone()
    monkeypatch.setattr(finetune, "LR_TOP", 0.0)
    record = fine_tune(model, maps, targets, steps=3, seed=0)
    after = top_outputs(model, maps)[0]
    assert record.steps == 3 and record.stopped_by == "steps"
    np.testing.assert_array_equal(after[:, :3], before[:, :3])
    assert not np.allclose(after[:, 3], before[:, 3])
    assert torch.equal(model.head[2].weight[:-2], hidden[:-2])  # old hidden units as they were


def test_the_same_seed_trains_the_same_and_a_past_deadline_trains_nothing():
    runs = []
    for _ in range(2):
        model, maps, targets = tiny()
        fine_tune(model, maps, targets, steps=2, seed=3)
        runs.append(top_outputs(model, maps)[0])
    np.testing.assert_array_equal(*runs)
    model, maps, targets = tiny()
    record = fine_tune(model, maps, targets, steps=5, deadline=time.perf_counter() - 1)
    assert record.steps == 0 and record.stopped_by == "time" and record.loss is None


def test_the_cut_keeps_the_share_over_it():
    z = np.array([3.0, -1.0, 0.5, 2.0, -4.0])
    assert (z > matched_cut(z, 0.4)).sum() == 2 and matched_cut(z, 0.4) == 1.25
    assert (z > matched_cut(z, 0.0)).sum() == 0 and (z > matched_cut(z, 1.0)).sum() == 5
