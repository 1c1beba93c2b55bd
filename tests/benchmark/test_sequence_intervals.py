"""benchmarks/sequence_intervals.py on a small results folder: committed predictions scored
by frame and by sequence, intervals without predictions marked "interval by frame only",
a paired change with no decision changed given [0, 0]; keys only added; run twice, the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from toontag.data.dataset import load_dataset
from toontag.data.predictions import predictions_csv

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "sequence_intervals.py"
CLAIM = {  # as gpu_job wrote it: the paper's 0.9890 inside the frame interval
    "command": "benchmarks/gpu_job.py",
    "git_commit": "ad00a02",
    "test": {"images": 3344, "f1_micro": 0.99, "ci95": {"f1_micro": [0.9882, 0.9918]}},
    "singles_test_not_used_for_choice": {"lite0": {"f1_micro": 0.98, "ci95": [0.97, 0.99]}},
}
CHANGE = {"change": 0.0, "ci95": [0.0, 0.0], "decisions_changed": 0}


def flat(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from flat(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from flat(v, f"{path}[{i}]")
    else:
        yield path, node


def test_republishing_adds_sequence_intervals_and_marks_the_rest(small_manifest, tmp_path):
    data = load_dataset(small_manifest)
    results = tmp_path / "results"
    results.mkdir()
    rows = np.arange(len(data))
    probs = np.clip(
        data.targets + np.random.default_rng(0).normal(0, 0.3, data.targets.shape), 0, 1
    )
    (results / "oof-lite0.csv").write_text(predictions_csv(data, rows, probs, data.classes))
    (results / "oof-lite0.json").write_text(json.dumps({"what": "out-of-fold", "command": "x"}))
    (results / "beat-paper-gpu.json").write_text(json.dumps(CLAIM))
    (results / "beat-paper-gpu.md").write_text("# Against the paper\n\n---\nComputed by: `x`\n")
    (results / "new-character.json").write_text(json.dumps({"table": [{"old_change": CHANGE}]}))
    (results / "no-interval.json").write_text(json.dumps({"figure": 1.0}))
    before = {p.name: p.read_text() for p in results.iterdir()}

    def run() -> None:
        command = [sys.executable, str(SCRIPT), "--data", str(small_manifest), "--results"]
        subprocess.run([*command, str(results)], check=True, capture_output=True)

    run()
    after = {p.name: p.read_text() for p in results.iterdir()}
    for name in ("oof-lite0.json", "beat-paper-gpu.json", "new-character.json"):
        old, new = json.loads(before[name]), json.loads(after[name])
        assert set(flat(old)) <= set(flat(new)), name  # every key and figure kept as it was
        assert new["sequence_intervals"]["git_commit"]  # the additions' own provenance
    assert after["no-interval.json"] == before["no-interval.json"]

    oof = json.loads(after["oof-lite0.json"])["scores_at_0.5"]
    assert oof["test"]["images"] == 84 and oof["train"]["images"] == 335
    for m in oof.values():
        assert m["ci95_by_sequence"]["unit"] == "sequence"
        assert m["ci95_by_sequence"]["sequences"] <= m["images"]
    assert "| test | 84 |" in after["oof-lite0.md"] and "\nComputed by: `" in after["oof-lite0.md"]

    claim = json.loads(after["beat-paper-gpu.json"])
    assert claim["test"]["interval"] == "interval by frame only"
    assert (
        claim["singles_test_not_used_for_choice"]["lite0"]["interval"] == "interval by frame only"
    )
    assert claim["sequence_intervals"]["by_frame_only"] == [
        "test",
        "singles_test_not_used_for_choice.lite0",
    ]
    md = after["beat-paper-gpu.md"]
    assert md.startswith("# Against the paper\n\n---\nComputed by: `x`\n\n## Intervals by sequence")
    assert "2 interval(s) in this file resample single frames: interval by frame only" in md
    assert "the paper's 0.9890 lies inside even this frame interval" in md
    assert "intervals by sequence are wider still" in md and "matched, not beaten" in md
    change = json.loads(after["new-character.json"])["table"][0]["old_change"]
    assert change["ci95_by_sequence"] == [0.0, 0.0] and "interval" not in change

    run()  # again: the same keys, one section
    again = {p.name: p.read_text() for p in results.iterdir()}
    assert again["beat-paper-gpu.md"].count("## Intervals by sequence") == 1
    for name in (n for n in after if n.endswith(".json")):
        a, b = json.loads(after[name]), json.loads(again[name])
        a.pop("sequence_intervals", None), b.pop("sequence_intervals", None)
        assert a == b, name
