import numpy as np
import pytest

from toontag.labelling.queue import next_batch, uncertainty


def blobs(count: int = 20, per: int = 30, dims: int = 16, seed: int = 0):
    """`count` tight, far-apart clusters of `per` rows each, and each row's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(count, dims)) * 20
    which = np.repeat(np.arange(count), per)
    features = (centres[which] + rng.normal(size=(len(which), dims))).astype(np.float16)
    return features, which


@pytest.fixture(scope="module")
def pool():
    features, which = blobs()
    rng = np.random.default_rng(1)
    probabilities = rng.uniform(size=(len(features), 3)).astype(np.float32)
    return features, which, probabilities


@pytest.mark.parametrize("policy", ["random", "coverage", "active"])
def test_a_batch_is_distinct_unlabelled_rows_and_deterministic(pool, policy):
    features, _, probabilities = pool
    labelled = np.arange(0, 600, 7)
    batch = next_batch(features, probabilities, (0.5, 0.3, 0.7), labelled, size=20, policy=policy)
    assert len(batch) == 20 and len(set(batch.tolist())) == 20
    assert not np.isin(batch, labelled).any() and batch.min() >= 0 and batch.max() < 600
    again = next_batch(features, probabilities, (0.5, 0.3, 0.7), labelled, size=20, policy=policy)
    assert np.array_equal(batch, again)


def test_random_depends_on_the_seed_and_not_on_the_model(pool):
    features, _, probabilities = pool
    a = next_batch(features, probabilities, (0.5,) * 3, [], policy="random", seed=0)
    b = next_batch(features, None, (0.5,) * 3, [], policy="random", seed=0)
    c = next_batch(features, None, (0.5,) * 3, [], policy="random", seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_coverage_takes_one_frame_of_each_cluster(pool):
    features, which, _ = pool
    batch = next_batch(features, None, (0.5,) * 3, [], size=20, policy="coverage")
    assert len(set(which[batch].tolist())) == 20
    # Later batches go to the clusters nobody has labelled yet.
    labelled = np.flatnonzero(which < 15)[::30]
    batch = next_batch(features, None, (0.5,) * 3, labelled, size=5, policy="coverage")
    assert sorted(which[batch].tolist()) == [15, 16, 17, 18, 19]


def test_active_without_a_model_is_coverage(pool):
    features, _, _ = pool
    active = next_batch(features, None, (0.5,) * 3, [3, 4], policy="active")
    coverage = next_batch(features, None, (0.5,) * 3, [3, 4], policy="coverage")
    assert np.array_equal(active, coverage)


def test_active_asks_about_frames_near_a_threshold_one_per_group():
    features, which = blobs(count=20, per=60)
    thresholds = (0.5, 0.2, 0.8)
    probabilities = np.tile([0.99, 0.01, 0.99], (len(features), 1)).astype(np.float32)
    doubtful = np.flatnonzero(which < 14)  # near class 1's threshold: 14 clusters of 60
    probabilities[doubtful, 1] = np.random.default_rng(0).uniform(0.18, 0.22, len(doubtful))
    assert np.array_equal(np.flatnonzero(uncertainty(probabilities, thresholds) < 0.2), doubtful)
    groups = np.arange(len(features)) // 2  # shots of two frames
    batch = next_batch(
        features, probabilities, thresholds, [0], size=20, policy="active", groups=groups
    )
    assert set(batch.tolist()) <= set(doubtful[1:].tolist())
    assert len(set(groups[batch].tolist())) == 20  # never two of one group
    assert len(set(which[batch].tolist())) == 14  # spread over every cluster the doubt is in


def test_a_class_the_head_cannot_tell_apart_is_left_out(pool):
    features, which, probabilities = pool
    constant = probabilities.copy()
    constant[:, 1] = 0.5  # exactly at its threshold everywhere: no frame more doubtful than another
    informative = next_batch(features, probabilities[:, [0, 2]], (0.5, 0.7), [], policy="active")
    assert np.array_equal(
        next_batch(features, constant, (0.5, 0.5, 0.7), [], policy="active"), informative
    )
    constant[:] = 0.2  # nothing to go by: the cold start's coverage
    coverage = next_batch(features, None, (0.5,) * 3, [], policy="coverage")
    assert np.array_equal(next_batch(features, constant, (0.5,) * 3, [], policy="active"), coverage)


def test_bad_arguments_name_the_fix(pool):
    features, _, probabilities = pool
    with pytest.raises(ValueError, match="choose one of active, coverage, random"):
        next_batch(features, probabilities, (0.5,) * 3, [], policy="uncertain")
    with pytest.raises(ValueError, match="do not fit"):
        next_batch(features, probabilities[:10], (0.5,) * 3, [], policy="active")


def test_a_batch_larger_than_what_is_left_is_all_that_is_left(pool):
    features, _, probabilities = pool
    labelled = np.arange(590)
    batch = next_batch(features, probabilities, (0.5,) * 3, labelled, size=20)
    assert batch.tolist() == list(range(590, 600))
