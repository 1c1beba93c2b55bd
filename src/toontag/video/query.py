"""The search language: character names joined by and, or, not and parentheses.

    remzi and necati            both on screen
    sakir and not (remzi or canan)
    "and" or 2nd_guy            a name that is also a word of the language, quoted

A name is a class name or a unique part of one (``necati`` is ``fil_necati``), written bare
(letters, digits, '_' and '-' of any script) or between double quotes (any name; a quote
inside is doubled), so every name a person may give (data/names.py) can be searched; a quoted
word is always a name, never an operator. Precedence is not > and > or. A query compiles to a
function of a (time, character) presence matrix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toontag.errors import ToontagError

# A token: ( or ), a bare word (letters or digits of any script, _ and -: "Şakir", "2nd_guy"), a
# quoted name ("and", "Mr ""X"""), else a character that has no place in a query.
TOKEN = re.compile(r'\s*(?:(\()|(\))|([\w-]+)|"((?:[^"]|"")*)"|(\S))')
BARE = re.compile(r"[\w-]+")
OPERATORS = {"and", "or", "not"}
MAX_DEPTH = 50  # nested parentheses; deeper is an error, not a RecursionError


class QueryError(ToontagError):
    """A query that cannot be read, naming the problem and the valid names."""


@dataclass(frozen=True)
class Query:
    text: str
    characters: tuple[str, ...]  # the class names it mentions
    classes: tuple[str, ...]  # all names, in the order of the presence matrix's columns
    evaluate: Callable[[np.ndarray], np.ndarray]  # (T, C) bool -> (T,) bool


@dataclass(frozen=True, repr=False)
class Quoted:
    """A name given between quotes: never an operator."""

    name: str

    def __repr__(self) -> str:  # as the query wrote it, for messages
        return '"' + self.name.replace('"', '""') + '"'


def quote_name(name: str) -> str:
    """`name` as a query writes it: bare where it can be, else quoted."""
    if BARE.fullmatch(name) and name.casefold() not in OPERATORS:
        return name
    return repr(Quoted(name))


def resolve_name(word: str, classes: tuple[str, ...]) -> int:
    """The class `word` names: exactly, or as the one class with `word` as a part, ignoring
    case ("remzi" finds "Remzi", "şakir" finds "Kral_Şakir")."""
    folded = [c.casefold() for c in classes]
    word = word.casefold()
    if word in folded:
        return folded.index(word)
    matches = [i for i, c in enumerate(folded) if word in c.split("_")]
    if len(matches) == 1:
        return matches[0]
    what = "is ambiguous" if matches else "is not a character"
    valid = ", ".join(quote_name(c) for c in classes)
    raise QueryError(f"{word!r} {what}; valid names: {valid}")


def parse_query(text: str, classes) -> Query:
    classes = tuple(classes)
    tokens = []
    for m in TOKEN.finditer(text):
        if m.group(5) == '"':
            raise QueryError(f"{text!r}: a quote is never closed")
        if m.group(5):
            raise QueryError(f"unexpected {m.group(5)!r} in {text!r}; use and, or, not, ( )")
        if m.group(4) is not None:
            tokens.append(Quoted(m.group(4).replace('""', '"')))
            continue
        token = m.group(1) or m.group(2) or m.group(3)
        tokens.append(token.casefold() if token.casefold() in OPERATORS else token)
    if not tokens:
        raise QueryError("empty query; name one or more characters, e.g. 'remzi and necati'")
    pos = 0
    used: list[int] = []

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take(expected=None):
        nonlocal pos
        token = peek()
        if token is None or (expected and token != expected):
            want = repr(expected) if expected else "a name"
            raise QueryError(
                f"{text!r}: expected {want} at the end"
                if token is None
                else f"{text!r}: expected {want}, found {token!r}"
            )
        pos += 1
        return token

    def chain(word: str, operand, combine):
        """`operand (word operand)*`, combined in one reduction (no nesting, however long)."""
        operands = [operand()]
        while peek() == word:
            take()
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return lambda x: combine.reduce([f(x) for f in operands])

    def either(depth: int = 0):
        return chain("or", lambda: both(depth), np.logical_or)

    def both(depth: int):
        return chain("and", lambda: negation(depth), np.logical_and)

    def negation(depth: int):
        flips = 0
        while peek() == "not":  # a run of nots is a parity, not a recursion
            take()
            flips += 1
        inner = atom(depth)
        return (lambda x: ~inner(x)) if flips % 2 else inner

    def atom(depth: int):
        if peek() == "(":
            if depth >= MAX_DEPTH:
                raise QueryError(f"query nested deeper than {MAX_DEPTH} parentheses")
            take("(")
            inner = either(depth + 1)
            take(")")
            return inner
        word = take()
        if isinstance(word, Quoted):
            word = word.name
        elif word in OPERATORS or word == ")":
            hint = f" (a character of that name is written {repr(Quoted(word))})" * (word != ")")
            raise QueryError(f"{text!r}: expected a name, found {word!r}{hint}")
        k = resolve_name(word, classes)
        used.append(k)
        return lambda x: x[:, k].astype(bool)

    expression = either()
    if pos != len(tokens):
        raise QueryError(f"{text!r}: unexpected {tokens[pos]!r}")
    names = tuple(dict.fromkeys(classes[k] for k in used))
    return Query(text, names, tuple(classes), expression)
