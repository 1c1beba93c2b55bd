"""The package's shape: imports run down the data flow, no private name crosses a module, and
every module reads in one sitting. Each test reads the source with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "toontag"

# Lowest first. A module may import its own layer and those below it, never one above. The
# names are toontag's top-level modules and packages; `__init__` and `__main__` are the root.
LAYERS = (
    ("errors", "io", "progress", "palette", "parallel"),  # small helpers under everything
    ("config", "runs"),  # the recipe, and what a trained run is on disk
    ("data",),
    ("models",),
    ("training",),
    ("evaluation", "video"),
    ("labelling", "explain"),
    ("serve", "benchmark"),
    ("demo",),
    ("cli", "__init__", "__main__"),
)
RANK = {name: level for level, names in enumerate(LAYERS) for name in names}
MAX_LINES = 350  # a module you can read in one sitting


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def unit(path: Path) -> str:
    """The top-level name a module belongs to: `data` for data/cache.py, `runs` for runs.py."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imports(path: Path):
    """(line, module imported, names) of every toontag import in `path`, at any depth."""
    package = ["toontag", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names = [a.name for a in node.names]
            if target == "toontag":  # `from toontag import data`: each name is a module
                for name in names:
                    yield node.lineno, f"toontag.{name}", []
            elif target.startswith("toontag."):
                yield node.lineno, target, names
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("toontag."):
                    yield node.lineno, alias.name, []


def test_the_layer_list_names_every_top_level_module():
    assert {unit(p) for p in modules()} <= set(RANK)


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in modules():
        mine = RANK[unit(path)]
        for line, target, _ in imports(path):
            other = target.split(".")[1]
            if other in RANK and RANK[other] > mine:
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert upward == []


def test_no_private_name_is_imported_from_another_module():
    crossing = []
    for path in modules():
        for line, target, names in imports(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                crossing.append(f"{path.relative_to(PACKAGE)}:{line} {target}: {private}")
    assert crossing == []


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_reads_in_one_sitting(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{lines} lines"
