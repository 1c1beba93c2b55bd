"""What may name a character: one rule for every place a person names one (the label page,
`enrol`, a labelling project's classes), each such name one that search can name back
(video/query.py: bare, or quoted where it is also a word of the search language, "and").
"""

from __future__ import annotations

import re

MAX_NAME = 40  # characters in a name: a checkbox label, not a sentence
NAME_PATTERN = rf"[^\W_][\w-]{{0,{MAX_NAME - 1}}}"  # letters or digits of any script, _ and -
NAME = re.compile(NAME_PATTERN)
NAME_RULE = (
    f"1 to {MAX_NAME} letters, digits, '_' or '-', starting with a letter or digit "
    "(e.g. remzi or kral_sakir)"
)
NO_CHARACTER = "none"  # the answer for a frame without a character: never a name


def is_name(text: str) -> bool:
    """Whether `text`, as it is, follows the rule (`NO_CHARACTER` aside)."""
    return NAME.fullmatch(text) is not None
