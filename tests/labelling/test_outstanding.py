"""Each tab's batch kept until it is answered: the same frames again, other tabs' avoided."""

import numpy as np

from toontag.labelling.outstanding import Outstanding


def test_a_tabs_batch_comes_again_less_its_answers_then_is_forgotten():
    served, answered = Outstanding(), np.zeros(10, bool)
    assert served.waiting("A", answered) == []
    served.keep("A", [4, 2, 7])
    served.keep(None, [1])
    assert served.waiting("A", answered) == [4, 2, 7]
    assert served.others("A", answered) == [1] and served.others(None, answered) == [4, 2, 7]
    answered[[2, 1]] = True
    assert served.waiting("A", answered) == [4, 7] and served.others("A", answered) == []
    answered[[4, 7]] = True
    assert served.waiting("A", answered) == [] and served.others(None, answered) == []


def test_only_the_latest_tabs_are_remembered():
    served, answered = Outstanding(tabs=2), np.zeros(10, bool)
    for tab, row in (("A", 1), ("B", 2), ("C", 3)):
        served.keep(tab, [row])
    assert served.waiting("A", answered) == [] and served.waiting("C", answered) == [3]
    served.keep("B", [])  # an empty batch keeps nothing
    assert served.waiting("B", answered) == []
