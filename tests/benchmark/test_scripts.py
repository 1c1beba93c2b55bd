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


def test_label_efficiency_renders_its_published_runs_by_device_and_commit(kral_sakir, tmp_path):
    """The published runs, re-rendered: no cell mixes devices or commits, runs validated on
    their own frames are never chosen, and the file's admission is rendered."""
    import json
    import subprocess
    import sys

    root = BENCHMARKS.parent
    published = json.loads((root / "results" / "label-efficiency.json").read_text())
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in published["runs"]))
    args = ["--render", "--data", kral_sakir, "--work", tmp_path / "work", "--out", tmp_path]
    subprocess.run(
        [sys.executable, BENCHMARKS / "label_efficiency.py", *args, "--records", records],
        cwd=root,
        check=True,
        capture_output=True,
    )
    rendered = json.loads((tmp_path / "label-efficiency.json").read_text())
    assert rendered["designed_after_test"]
    for budget, (variant, policy) in rendered["chosen"].items():  # common-sample cells only
        [cell] = [s for s in rendered["summary"] if s["chosen"] and s["budget"] == int(budget)]
        assert (cell["variant"], cell["policy"]) == (variant, policy)
        assert cell["own_val_f1"] is None and cell["val_f1"] is not None and cell["seeds"] == 3
    assert sum(s["seeds"] for s in rendered["summary"]) == len(published["runs"])
    for cell in rendered["summary"]:
        runs = [
            r
            for r in published["runs"]
            if (r["variant"], r["policy"], r["budget"], r.get("commit"))
            == (cell["variant"], cell["policy"], cell["budget"], cell["commit"])
        ]
        assert len({r.get("device", "CPU") for r in runs}) == 1
    page = (tmp_path / "label-efficiency.md").read_text()
    assert "**Designed after a test figure was seen.**" in page and "CPU, H200" not in page
