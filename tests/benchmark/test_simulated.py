"""The common validation sample of the label-efficiency benchmark: the same frames for every
variant and policy, counted inside every budget, no shot-mate among the frames trained on."""

from __future__ import annotations

import numpy as np
import pytest

from toontag.benchmark.simulated import (
    common_validation,
    pick_order,
    validation_size,
)

BUDGETS = (25, 50, 100, 200)


@pytest.fixture(scope="module")
def pool():
    """A fake pool: 600 frames in shots of 1 to 9 frames, two classes learnable from features."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(120), rng.integers(1, 10, 120))[:600]
    features = rng.normal(size=(len(groups), 8)).astype(np.float32)
    targets = (features[:, :2] > 0).astype(np.float32)
    return features, targets, groups


def test_every_policy_is_validated_on_the_same_frames_counted_inside_its_budget(pool):
    features, targets, groups = pool
    largest = max(BUDGETS)
    for seed in (0, 1):
        validation = common_validation(groups, largest_budget=largest, seed=seed)
        again = common_validation(groups, largest_budget=largest, seed=seed)  # another variant
        assert validation.frames.tolist() == again.frames.tolist()
        allowed, picks = ~validation.reserved, largest - validation_size(largest)
        orders = {
            p: pick_order(p, *pool, allowed=allowed, budget=picks, batch=25, seed=seed)
            for p in ("random", "active")
        }
        assert orders["random"].tolist() != orders["active"].tolist()
        smaller = []
        for budget in BUDGETS:
            splits = {policy: validation.split(order, budget) for policy, order in orders.items()}
            (val, random_rows), (active_val, active_rows) = splits["random"], splits["active"]
            assert val.tolist() == active_val.tolist() and len(val) == validation_size(budget)
            for rows in (random_rows, active_rows):
                assert len(val) + len(rows) == budget  # the validation frames are labels too
                assert not set(groups[rows]) & set(groups[val])  # no shot-mate trains
            assert len(set(groups[val])) == len(val)  # one frame a shot
            assert val[: len(smaller)].tolist() == smaller  # a larger budget holds a smaller's
            smaller = val.tolist()
    first, second = (common_validation(groups, largest_budget=largest, seed=s) for s in (0, 1))
    assert first.frames.tolist() != second.frames.tolist()  # a sample per seed


def test_a_budget_the_picked_frames_cannot_fill_is_refused(pool):
    _, _, groups = pool
    validation = common_validation(groups, largest_budget=100, seed=0)
    with pytest.raises(ValueError, match="do not fill a budget of 100"):
        validation.split(np.arange(10), 100)
