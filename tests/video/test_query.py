import numpy as np
import pytest

from toontag.video.query import QueryError, parse_query

CLASSES = ("kral_sakir", "remzi", "fil_necati", "canan")
# Five moments: who is on screen (columns in CLASSES order).
PRESENT = np.array(
    [[1, 1, 0, 0], [0, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 1], [1, 0, 1, 1]], dtype=bool
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("remzi and necati", [0, 1, 1, 0, 0]),
        ("Remzi AND fil_necati", [0, 1, 1, 0, 0]),
        ("sakir or canan", [1, 0, 1, 1, 1]),
        ("not remzi", [0, 0, 0, 1, 1]),
        ("sakir and not (remzi or canan)", [0, 0, 0, 0, 0]),
        ("necati and not remzi", [0, 0, 0, 0, 1]),
        ("canan or sakir and remzi", [1, 0, 1, 1, 1]),  # and binds tighter than or
        ("(canan or sakir) and remzi", [1, 0, 1, 0, 0]),
    ],
)
def test_queries_hold_where_expected(text, expected):
    q = parse_query(text, CLASSES)
    assert q.evaluate(PRESENT).astype(int).tolist() == expected


def test_a_query_lists_the_characters_it_names():
    assert parse_query("necati and not remzi", CLASSES).characters == ("fil_necati", "remzi")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("garfield", "'garfield' is not a character; valid names: kral_sakir, remzi"),
        ("remzi and", "expected a name at the end"),
        ("(remzi or canan", "expected ')' at the end"),
        ("remzi canan", "unexpected 'canan'"),
        ("remzi & canan", "unexpected '&'"),
        ("and remzi", "expected a name, found 'and'"),
        ("", "empty query"),
    ],
)
def test_bad_queries_say_what_is_wrong(text, message):
    with pytest.raises(QueryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_query(text, CLASSES)
