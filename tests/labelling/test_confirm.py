"""Old frames offered for confirmation: half nearest the threshold (diverse for the fine-tune),
half at random."""

import numpy as np

from toontag.labelling.confirm import offer_for_confirmation, offer_nearest


def test_offers_are_half_nearest_the_threshold_and_half_at_random():
    p = np.linspace(0, 1, 201)
    offered = offer_for_confirmation(p, 0.3, 20, seed=0)
    assert len(offered) == len(set(offered)) == 20
    nearest = set(np.argsort(np.abs(p - 0.3))[:10])
    assert nearest <= set(offered)
    assert len(set(offered) - nearest) == 10 and max(abs(p[offered] - 0.3)) > 0.1
    assert list(p[offered]) == sorted(p[offered], reverse=True)
    assert len(offer_for_confirmation(p[:7], 0.3, 20, seed=0)) == 7


def test_diverse_offers_take_one_frame_a_shot_and_keep_the_random_half():
    """With features and shots, the uncertain half is at most one frame per shot (the nearest
    alone would take a whole shot of near-identical frames) and the random half stays."""
    rng = np.random.default_rng(0)
    shots = np.repeat(np.arange(40), 5)  # 40 shots of 5 near-identical frames
    features = rng.normal(size=(40, 16))[shots] + rng.normal(scale=0.01, size=(200, 16))
    p = np.clip(0.3 + rng.normal(scale=0.2, size=40)[shots] + rng.normal(0, 0.01, 200), 0, 1)
    diverse = offer_for_confirmation(p, 0.3, 20, seed=0, features=features, groups=shots)
    assert len(diverse) == len(set(diverse)) == 20
    assert list(p[diverse]) == sorted(p[diverse], reverse=True)
    uncertain = offer_for_confirmation(
        p, 0.3, 10, seed=0, random_share=0.0, features=features, groups=shots
    )
    assert set(uncertain) <= set(diverse)  # the uncertain half, and 10 drawn at random
    assert len(np.unique(shots[uncertain])) == 10  # one frame a shot
    assert np.abs(p[uncertain] - 0.3).max() < np.abs(p - 0.3).max()
    nearest = offer_for_confirmation(p, 0.3, 10, seed=0, random_share=0.0)
    assert len(np.unique(shots[nearest])) < 10  # the nearest alone: frames of one shot


def test_offers_nearest_the_examples_take_one_frame_a_shot_first():
    rng = np.random.default_rng(1)
    features, examples = rng.normal(size=(30, 6)), rng.normal(size=(2, 6))
    features[[3, 4]] = examples[0] * [[1.0], [0.5]]  # on an example's line: cosine 1
    features[9] = examples[1] * 3 + rng.normal(scale=0.05, size=6)  # nearly
    assert list(offer_nearest(features, examples, 3)) == [3, 4, 9] or list(
        offer_nearest(features, examples, 3)
    ) == [4, 3, 9]
    shots = np.arange(30)
    shots[4] = 3  # frames 3 and 4 one shot: its second frame comes after the other shots'
    spread = set(offer_nearest(features, examples, 2, groups=shots))
    assert 9 in spread and len(spread & {3, 4}) == 1
