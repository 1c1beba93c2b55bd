"""The benchmark scripts are scripts over the library: they share code through
`toontag.benchmark`, never by editing `sys.path` or importing one another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
NAMES = {p.stem for p in SCRIPTS}


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) > 20


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_a_script_neither_edits_sys_path_nor_imports_another_script(path):
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr == "path":
            if isinstance(node.value, ast.Name) and node.value.id == "sys":
                found.append(f"line {node.lineno}: sys.path")
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").split(".")[0] in NAMES:
                found.append(f"line {node.lineno}: from {'.' * node.level}{node.module}")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] in NAMES
            ]
    assert found == []
