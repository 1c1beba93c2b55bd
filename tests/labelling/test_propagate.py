"""Answers extended within their shot: the rules of `propagate`, on small made-up pools."""

import numpy as np
import pytest

from toontag.labelling.propagate import propagate

# Two classes. Shot 0: rows 0-4, shot 1: rows 5-7, row 8 in no shot, shot 2: rows 9-10.
GROUPS = np.array([0, 0, 0, 0, 0, 1, 1, 1, -1, 2, 2])


def decided(*rows) -> np.ndarray:
    """Decisions of 11 rows: none of the two classes, except `rows` given as (row, [a, b])."""
    out = np.zeros((len(GROUPS), 2), bool)
    for row, value in rows:
        out[row] = value
    return out


def test_an_answer_extends_to_its_shot_where_the_model_agrees():
    # answered: row 1 (a), row 6 (b); the model says a on rows 0, 2 and 8, nothing on 3
    decisions = decided((0, [1, 0]), (1, [1, 0]), (2, [1, 0]), (8, [1, 0]), (5, [0, 1]))
    weak = propagate(GROUPS, [1, 6], [[1, 0], [0, 1]], np.ones((2, 2), bool), decisions)
    assert weak.rows.tolist() == [0, 2, 5]  # not 3, 4, 7 (disagree), nor 8 (no shot)
    assert weak.source_rows.tolist() == [1, 1, 6]
    assert weak.targets.tolist() == [[1, 0], [1, 0], [0, 1]]
    assert weak.known.all() and weak.weights.tolist() == [0.5] * 3 and not weak.still.any()
    assert weak.candidates == 6  # rows 0, 2, 3, 4 of shot 0 and 5, 7 of shot 1
    assert weak.summary(GROUPS) == {
        "weak_rows": 3,
        "from_answers": 2,
        "shots": 2,
        "candidates": 6,
        "by_agreement": 3,
        "by_still_copy": 0,
        "weights": [0.5],
    }


def test_a_row_is_never_both_answered_and_weak():
    everything = np.ones((len(GROUPS), 2), bool)
    rows = [0, 1, 2, 5]
    weak = propagate(GROUPS, rows, np.ones((4, 2)), np.ones((4, 2), bool), everything)
    assert not set(weak.rows) & set(rows)
    assert weak.rows.tolist() == [3, 4, 6, 7]


def test_unknown_classes_stay_unknown_and_the_model_is_not_asked_about_them():
    # the answer on row 1 knows class a only (b was added after it); the model says b on row 2
    decisions = decided((2, [0, 1]), (3, [1, 1]))
    weak = propagate(GROUPS, [1], [[0, 0]], [[True, False]], decisions)
    assert weak.rows.tolist() == [0, 2, 4]  # 3 says a: disagrees on the known class
    assert weak.known.tolist() == [[True, False]] * 3
    assert weak.targets.tolist() == [[0, 0]] * 3
    # an answer that knows no class says nothing
    assert len(propagate(GROUPS, [1], [[0, 0]], [[False, False]], decided()).rows) == 0


def test_excluded_shots_and_rows_without_a_shot_are_never_propagated_into():
    everything = np.ones((len(GROUPS), 2), bool)
    one = np.ones((3, 2), bool)
    weak = propagate(GROUPS, [1, 6, 9], one, one, everything, exclude_groups={1})
    assert weak.rows.tolist() == [0, 2, 3, 4, 10]
    weak = propagate(GROUPS, [8], one[:1], one[:1], everything)  # answered, in no shot
    assert len(weak.rows) == 0 and weak.candidates == 0


def test_the_nearest_answer_in_capture_order_is_taken_and_only_where_the_model_agrees():
    # shot 0 answered on rows 0 (a) and 4 (b): they disagree; the model says a everywhere
    decisions = np.tile([True, False], (len(GROUPS), 1))
    answers, known = [[1, 0], [0, 1]], np.ones((2, 2), bool)
    weak = propagate(GROUPS, [0, 4], answers, known, decisions)
    assert weak.rows.tolist() == [1, 2]  # 1 is nearer 0; 2 a tie: the earlier answer, 0
    assert weak.source_rows.tolist() == [0, 0]  # 3 is nearer 4 (b): the model disagrees
    # capture order is `times`, not the row number: rows 1 and 3 are nearest row 4 now
    times = np.array([0.0, 9.0, 2.0, 7.0, 8.0, 0, 0, 0, 0, 0, 0])
    weak = propagate(GROUPS, [0, 4], answers, known, decisions, times=times)
    assert weak.rows.tolist() == [2]


def test_a_still_copy_of_the_answered_frame_is_taken_though_the_model_disagrees():
    rng = np.random.default_rng(0)
    thumbs = rng.uniform(0, 255, (len(GROUPS), 14, 24)).astype(np.float32)
    thumbs[0] = thumbs[1] + 9  # 9 apart on average: a near-twin of the answered row 1
    thumbs[2] = thumbs[1] + 20  # within the sequence rule's 25, yet no copy
    thumbs[4] = thumbs[3] = thumbs[1] + 2  # a copy of the answer, but so is the model's view
    decisions = decided((4, [1, 0]))  # the model agrees on row 4 only
    weak = propagate(GROUPS, [1], [[1, 0]], [[True, True]], decisions, thumbs=thumbs)
    assert weak.rows.tolist() == [0, 3, 4]
    assert weak.still.tolist() == [True, True, False]  # 4: by agreement
    assert weak.summary(GROUPS)["by_still_copy"] == 2
    without = propagate(GROUPS, [1], [[1, 0]], [[True, True]], decisions)
    assert without.rows.tolist() == [4]
    # in a shot whose answers disagree, a still copy is not enough
    wrong = decided((0, [0, 1]), (2, [0, 1]), (3, [0, 1]))  # neither answer
    mixed = propagate(GROUPS, [1, 4], [[1, 0], [0, 0]], np.ones((2, 2), bool), wrong, thumbs=thumbs)
    assert mixed.candidates == 3 and mixed.rows.tolist() == []  # 0 and 3 are copies


def test_uint8_thumbnails_do_not_wrap_around():
    thumbs = np.zeros((len(GROUPS), 14, 24), np.uint8)
    thumbs[1] = 3  # 0 - 3 in uint8 would be 253
    weak = propagate(GROUPS, [1], [[1, 0]], [[True, True]], decided(), thumbs=thumbs)
    assert weak.rows.tolist() == [0, 2, 3, 4]


@pytest.mark.parametrize("weight", [0.0, 1.0, 1.5, float("nan")])
def test_a_weak_label_weighs_less_than_a_persons(weight):
    with pytest.raises(ValueError, match="must be in \\(0, 1\\)"):
        propagate(GROUPS, [1], [[1, 0]], [[True, True]], decided(), weight=weight)


def test_shapes_that_do_not_fit_are_named():
    with pytest.raises(ValueError, match="decisions"):
        propagate(GROUPS, [1], [[1, 0]], [[True, True]], np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="answers"):
        propagate(GROUPS, [1, 2], [[1, 0]], [[True, True]], decided())
    with pytest.raises(ValueError, match="twice"):
        propagate(GROUPS, [1, 1], [[1, 0]] * 2, [[True, True]] * 2, decided())
