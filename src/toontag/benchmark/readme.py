"""README's figures, rendered from the result files so that they cannot drift.

README marks every passage that holds a measured figure or a claim resting on one:

    <!-- figures:NAME -->...<!-- /figures:NAME -->

and `render_readme` rewrites each passage from results/ with the renderer of that NAME
(`RENDERERS`). A marker that opens a line holds a block (a table, paragraphs), set apart by
blank lines; a marker inside a line holds a phrase of the sentence around it, wrapped to the
README's width. A passage named `source-FILE` holds who computed results/FILE.json (its
command, commit and device). `stale_blocks` names the passages that differ from what would be
rendered: `benchmarks/readme_figures.py --check` fails on them."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from toontag.benchmark import readme_labelling, readme_models, readme_project, readme_video
from toontag.benchmark.figures import read_result, source
from toontag.errors import RunError

WIDTH = 95  # README's prose width
SOURCE = "source-"  # passage `source-FILE`: who computed results/FILE.json
RENDERERS: dict[str, Callable[[Path], str]] = {
    **readme_models.RENDERERS,
    **readme_video.RENDERERS,
    **readme_labelling.RENDERERS,
    **readme_project.RENDERERS,
}
BLOCK = re.compile(
    r"<!-- figures:(?P<name>[\w-]+) -->(?P<body>.*?)<!-- /figures:(?P=name) -->", re.S
)
MARKER = re.compile(r"<!-- (/?)figures:([\w-]+) -->")
LIST_ITEM = re.compile(r"\s*([-*+] |\d+[.)] )?")  # a line's indent, with a list item's marker
# A wrapped line must not open a Markdown block of its own (a list, a heading, a quote...).
STARTS_A_BLOCK = re.compile(r"^(([-+*>#|<]|\d+[.)])(\s|$)|[=-]+\s*$)")


def render_readme(text: str, *, results: Path, renderers=RENDERERS) -> str:
    """`text` with every marked passage rendered anew from the result files in `results`."""
    _check_markers(text, renderers)
    out, last = [], 0
    for match in BLOCK.finditer(text):
        name = match["name"]
        out.append(text[last : match.start()])
        line_so_far = "".join(out).rsplit("\n", 1)[-1]
        rendered = renderer(name, renderers)(Path(results))
        if line_so_far == "":
            body = "\n\n" + "\n\n".join(_wrap(p) for p in rendered.strip().split("\n\n")) + "\n\n"
        else:
            column = len(line_so_far) + len(f"<!-- figures:{name} -->")
            indent = " " * len(LIST_ITEM.match(line_so_far)[0])  # where its lines start
            body = _wrap(
                rendered, column=column, indent=indent, tail=len(f"<!-- /figures:{name} -->")
            )
        out.append(f"<!-- figures:{name} -->{body}<!-- /figures:{name} -->")
        last = match.end()
    return "".join(out) + text[last:]


def stale_blocks(text: str, *, results: Path, renderers=RENDERERS) -> list[str]:
    """The names of the marked passages of `text` that differ from their rendering."""
    now = {m["name"]: m["body"] for m in BLOCK.finditer(text)}
    fresh = render_readme(text, results=results, renderers=renderers)
    return [m["name"] for m in BLOCK.finditer(fresh) if now[m["name"]] != m["body"]]


def renderer(name: str, renderers) -> Callable[[Path], str] | None:
    """The renderer of passage `name`: a listed one, or the source of a result file."""
    if name in renderers:
        return renderers[name]
    if name.startswith(SOURCE):
        return lambda results: source(read_result(results, name.removeprefix(SOURCE)))
    return None


def _check_markers(text: str, renderers) -> None:
    """Every marker paired, every name known and used once, and placed where Markdown keeps
    it invisible: a typo must not leave a passage silently unrendered, and a comment opening
    a line inside a paragraph would end the paragraph there."""
    markers, blocks = list(MARKER.finditer(text)), list(BLOCK.finditer(text))
    names = [m["name"] for m in blocks]
    problems = []
    paired = {b.start() for b in blocks} | {
        b.end() - len(f"<!-- /figures:{b['name']} -->") for b in blocks
    }
    alone = sorted({m[2] for m in markers if m.start() not in paired})
    if alone:
        problems.append(f"markers without a partner: {', '.join(alone)}")
    twice = sorted({n for n in names if names.count(n) > 1})
    unknown = sorted(n for n in set(names) if renderer(n, renderers) is None)
    if twice:
        problems.append(f"passages named twice: {', '.join(twice)}")
    if unknown:
        problems.append(f"no renderer for {', '.join(unknown)} (known: {', '.join(renderers)})")
    for m in blocks:
        before = text[: m.start()]
        line = before.rsplit("\n", 1)[-1]
        block = line == "" and (before == "" or before.endswith("\n\n"))
        if line.strip() == "" and not (block and m["body"].startswith("\n")):
            problems.append(
                f"{m['name']} opens a line inside a paragraph (put it after a word there, or "
                "alone between blank lines for a block)"
            )
    if problems:
        raise RunError("README: " + "; ".join(problems))


def _wrap(text: str, *, column: int = 0, indent: str = "", tail: int = 0) -> str:
    """`text` wrapped to `WIDTH` as prose whose first line starts at `column`, whose other
    lines start with `indent` (a list item's) and whose last line leaves room for `tail`
    characters (the closing marker); tables and list items are left as they are. Prose that
    would start near the right margin starts on the next line instead."""
    if text.lstrip().startswith(("|", "- ")):
        return text
    words = " ".join(text.split())
    if column > WIDTH - 30:
        return "\n" + indent + _wrap(words, column=len(indent), indent=indent, tail=tail)
    room = "\0" * tail  # stands for the closing marker while wrapping
    lines = textwrap.wrap(
        words + room,  # glued to the last word, which moves with it
        WIDTH,
        initial_indent="x" * column,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )
    lines[0] = lines[0][column:]
    lines[-1] = lines[-1].removesuffix(room)
    kept = lines[:1]
    for line in lines[1:]:
        if STARTS_A_BLOCK.match(line.lstrip()):
            kept[-1] += " " + line.lstrip()
        else:
            kept.append(line)
    return "\n".join(kept)
