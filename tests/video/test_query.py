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


def test_deep_queries_are_bounded_or_flat():
    many_nots = parse_query("not " * 1001 + "remzi", CLASSES)
    assert many_nots.evaluate(PRESENT).tolist() == (~PRESENT[:, 1]).tolist()
    many_ands = parse_query(" and ".join(["remzi"] * 1000 + ["canan"]), CLASSES)
    assert not many_ands.evaluate(PRESENT).any()
    many_ors = parse_query(" or ".join(["canan"] * 2000), CLASSES)
    assert many_ors.evaluate(PRESENT).tolist() == PRESENT[:, 3].tolist()
    with pytest.raises(QueryError, match="nested deeper than 50 parentheses"):
        parse_query("(" * 200 + "remzi" + ")" * 200, CLASSES)
    assert parse_query("(" * 50 + "remzi" + ")" * 50, CLASSES).characters == ("remzi",)


def test_names_with_capitals_and_other_scripts_are_searchable():
    classes = ("Kral_Şakir", "Remzi", "Fil_Necati", "Canan")
    q = parse_query("şakir and REMZI and not fil_necati", classes)
    assert q.characters == ("Kral_Şakir", "Remzi", "Fil_Necati")
    assert q.evaluate(PRESENT).tolist() == [True, False, False, False, False]


# Property: any expression tree over the names, rendered as query text, parses to what a
# direct evaluation of the tree gives (never of the parsed string, never via eval).
NAMES = ("Kral_Şakir", "Remzi", "fil_necati", "canan")


def _trees():
    from hypothesis import strategies as st

    leaves = st.integers(0, len(NAMES) - 1).map(lambda k: ("name", k))
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            kids.map(lambda t: ("not", t)),
            st.tuples(st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=4)),
        ),
        max_leaves=24,
    )


def _render(tree, draw_case) -> str:
    kind = tree[0]
    if kind == "name":
        return draw_case(NAMES[tree[1]])
    if kind == "not":
        return f"{draw_case('not')} ({_render(tree[1], draw_case)})"
    return f" {draw_case(kind)} ".join(f"({_render(t, draw_case)})" for t in tree[1])


def _direct(tree, present: np.ndarray) -> np.ndarray:
    kind = tree[0]
    if kind == "name":
        return present[:, tree[1]]
    if kind == "not":
        return ~_direct(tree[1], present)
    parts = [_direct(t, present) for t in tree[1]]
    return np.all(parts, axis=0) if kind == "and" else np.any(parts, axis=0)


def test_parsed_queries_agree_with_their_expression_trees():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(
        _trees(),
        st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=12),
        st.sampled_from([str, str.upper, str.lower]),  # names and operators in any case
    )
    def check(tree, rows, case):
        present = np.array(rows, dtype=bool)
        query = parse_query(_render(tree, case), NAMES)
        assert query.evaluate(present).tolist() == _direct(tree, present).tolist()

    check()


# Names a person may give (data/names.py) that are words of the language, or start with a digit
WORDS = ("not", "or", "and", "2nd_guy", "1", "kral-sakir")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"not" and "or"', [1, 0, 1, 0, 0]),
        ('"AND" or 2nd_guy', [0, 1, 1, 0, 1]),
        ("not 1 and kral-sakir", [0, 0, 0, 1, 0]),
        ('not "not"', [0, 1, 0, 1, 0]),
        ("guy", [0, 0, 0, 0, 1]),  # a unique part, as for any name
    ],
)
def test_every_name_a_person_may_give_can_be_searched(text, expected):
    present = np.array(
        [
            [1, 1, 0, 0, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [1, 1, 1, 0, 1, 0],
            [0, 0, 0, 0, 0, 1],
            [1, 0, 0, 1, 1, 1],
        ],
        dtype=bool,
    )
    assert parse_query(text, WORDS).evaluate(present).astype(int).tolist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("and", "found 'and' \\(a character of that name is written \"and\"\\)"),
        ('"and', "a quote is never closed"),
        ("garfield", 'valid names: "not", "or", "and", 2nd_guy, 1, kral-sakir'),
    ],
)
def test_a_name_that_is_a_word_is_shown_quoted(text, message):
    with pytest.raises(QueryError, match=message):
        parse_query(text, WORDS)


def test_every_name_the_rule_admits_is_found_as_the_query_writes_it():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from toontag.data.names import NAME_PATTERN
    from toontag.video.query import quote_name

    names = st.from_regex(NAME_PATTERN, fullmatch=True) | st.sampled_from(WORDS)

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(names, min_size=1, max_size=5, unique_by=str.casefold))
    def check(classes):
        for name in classes:
            assert parse_query(quote_name(name), classes).characters == (name,)
            assert parse_query(f"not ({quote_name(name)})", classes).characters == (name,)

    check()
