"""Per-row loss weights reach the loss: a weak row of weight 0.5 counts half a person's label."""

import pytest
import torch
import torch.nn.functional as F

from toontag.config import TrainConfig
from toontag.training.module import ToonTagModule, masked_bce

TINY = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=1, lr=1e-3, dropout=0.0)


def test_a_half_weight_row_contributes_half_its_loss_and_half_its_gradient():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0], [-2.0, 1.0]], requires_grad=True)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]])  # the last row: one class unknown
    weights = torch.tensor([1.0, 0.5, 0.5])
    each = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0), reduction="none")
    expected = (each[0].sum() + 0.5 * each[1].sum() + 0.5 * each[2, 0]) / 5  # 5 known entries
    loss = masked_bce(logits, y, weights)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert masked_bce(logits, y, torch.ones(3)).item() == pytest.approx(
        masked_bce(logits, y).item()
    )
    loss.backward()
    full = torch.autograd.grad(masked_bce(logits, y), logits)[0]
    assert torch.allclose(logits.grad[1:], 0.5 * full[1:]) and torch.equal(logits.grad[0], full[0])
    assert logits.grad[2, 1] == 0  # unknown stays out, whatever the weight


def test_the_training_step_weights_each_row_of_a_batch_that_carries_weights():
    module = ToonTagModule(TINY.to_dict(), ["a", "b"]).train()
    pixels = torch.randint(0, 255, (3, 32, 48, 3), dtype=torch.uint8)
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    weights = torch.tensor([1.0, 0.5, 0.25])
    x, y, w = module.on_after_batch_transfer((pixels, targets, weights), 0)
    assert torch.equal(w, weights)
    loss = module.training_step((x, y, w), 0)
    assert loss.item() == pytest.approx(masked_bce(module(x).float(), y, w).item(), rel=1e-5)
    assert loss.item() != pytest.approx(module.training_step((x, y), 1).item(), rel=1e-3)


def test_weights_and_the_consistency_views_travel_together():
    config = TINY.replace(consistency=1.0, consistency_confidence=0.9)
    module = ToonTagModule(config.to_dict(), ["a", "b"]).train()
    pixels = torch.randint(0, 255, (3, 32, 48, 3), dtype=torch.uint8)
    targets = torch.tensor([[1.0, 0.0], [-1.0, -1.0], [0.0, 1.0]])  # row 1: unlabelled
    weights = torch.tensor([1.0, 1.0, 0.5])
    batch = module.on_after_batch_transfer((pixels, targets, weights), 0)
    x, y, strong, rows, w = batch
    assert rows.tolist() == [False, True, False] and len(strong) == 1 and torch.equal(w, weights)
    logits = module(x).float()
    expected = masked_bce(logits, y, w) + module.consistency_loss(logits[rows].detach(), strong)
    assert module.training_step(batch, 0).item() == pytest.approx(expected.item(), rel=1e-5)
