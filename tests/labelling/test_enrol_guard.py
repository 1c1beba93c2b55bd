"""Answers that must not make an enrolment worse: held out by shot, judged against the
examples-only fit, set aside when all of one kind, and said in one line."""

from pathlib import Path

import numpy as np

from toontag.labelling.enrol_guard import held_out, judged, next_offers, set_aside


def test_held_out_answers_are_whole_shots_and_at_least_one():
    shots = {Path(f"/p/{i}.jpg"): f"shot {i // 3}" for i in range(12)}  # 4 shots of 3
    answers = list(shots)
    held = held_out(answers, shots, seed=0)
    assert len(held) == 3 and len({shots[f] for f in held}) == 1  # a third of 4 shots: one
    assert len(held_out(answers[:1], shots, seed=0)) == 1
    assert held_out([], shots, seed=0) == []


def test_answers_are_kept_only_where_they_decide_the_held_out_ones_better():
    truth = np.array([True, True, False, False])
    better = judged(truth, truth, truth, ["a", "b", "c", "d"])  # a tie: the examples only
    assert better["kept"] == "examples only" and "did not decide the 4 held out" in better["said"]
    worse = judged(truth, truth, ~truth, ["a", "b", "c", "d"])
    assert worse["kept"] == "examples only" and worse["with_answers"] == 0.0
    assert "kept the fit from the examples only" in worse["said"]
    used = judged(truth, ~truth, truth, ["a", "b", "c", "d"])
    assert used["kept"] == "with answers" and "kept the fit with answers" in used["said"]


def test_answers_all_no_are_set_aside_and_the_offers_are_those_nearest_the_examples():
    guard = set_aside(0, 50)
    assert guard["kept"] == "examples only" and "\n" not in guard["said"]
    assert (
        guard["said"].startswith("answers: all 50 no") and "nearest the examples" in guard["said"]
    )
    assert set_aside(3, 0)["said"].startswith("answers: all 3 yes")
    rng = np.random.default_rng(0)
    features, examples = rng.normal(size=(100, 8)), rng.normal(size=(3, 8))
    features[[7, 40, 41]] = examples * 2  # the same direction: the nearest by cosine
    p = rng.uniform(size=100)
    nearest = next_offers(guard, p, 0.5, 3, 0, features=features, examples=examples)
    assert sorted(nearest) == [7, 40, 41]
    usual = next_offers(set_aside(3, 0), p, 0.5, 3, 0, features=features, examples=examples)
    assert sorted(usual) != [7, 40, 41]  # otherwise the usual offers
