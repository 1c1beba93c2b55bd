"""The benchmark runner on a tiny suite: rows train once, resume, and publish beside the
paper's figures; unavailable ImageNet weights are reported, never replaced."""

from __future__ import annotations

import json

import pytest

from toontag.benchmark.report import publish
from toontag.benchmark.runner import DONE, ROW, UNAVAILABLE, run_suite
from toontag.benchmark.suite import load_suite
from toontag.errors import RunError

TINY = """
[protocol.tiny]
summary = "32x48, one epoch"
image_size = [32, 48]

[[row]]
name = "cnn"
table = "5"
model = "baseline"
init = "random"
max_epochs = 1
paper = { f1 = 0.9545, loss = 0.1701 }

[[row]]
name = "densenet"
table = "5"
model = "densenet121"
init = "imagenet"

[[row]]
name = "gpu-only"
table = "7"
model = "baseline"
init = "random"
protocols = ["gpu"]

[[comparison]]
table = "5"
rows = ["densenet", "cnn"]
asks = "pretrained vs small CNN"
"""


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return load_suite(str(path))


def test_the_paper_suite_declares_every_row_of_tables_5_6_7():
    suite = load_suite("paper")
    names = {r.name for r in suite.rows}
    assert {"baseline", "baseline-no-dropout", "baseline-2conv", "densenet121-scratch"} <= names
    assert {"efficientnet_lite0", "efficientnet_lite0-scratch"} <= names
    assert len([r for r in suite.rows if "5" in r.table]) == 12
    cpu, gpu = suite.protocols["cpu"], suite.protocols["gpu"]
    ablation = {r.name: r for r in suite.rows}
    assert ablation["baseline-no-dropout"].config(cpu).dropout == 0.0
    assert ablation["baseline-2conv"].config(cpu).conv_channels == (16, 32)
    assert ablation["efficientnet_lite0-scratch"].config(gpu).pretrained is False
    assert ablation["densenet121"].config(gpu).image_size == (224, 224)
    assert ablation["densenet121"].config(gpu).max_epochs == 50


def test_a_bad_suite_names_the_file_and_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace("max_epochs = 1", "max_epoch = 1"))
    with pytest.raises(RunError, match="bad.toml.*'max_epoch'.*max_epochs"):
        load_suite(str(path))


def test_rows_run_once_and_publish_beside_the_paper(suite, small_manifest, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    protocol = suite.protocols["tiny"]
    results = run_suite(suite, protocol, data=small_manifest, runs=runs, progress=False)
    assert results["cnn"]["status"] == DONE
    assert results["densenet"]["status"] == UNAVAILABLE  # the hub is offline in tests
    assert not (runs / "tiny" / "densenet").exists()  # nothing trained from random weights
    assert results["gpu-only"]["status"] == "not in this protocol"
    cnn = results["cnn"]
    assert cnn["test"]["images"] == 84 and 0.0 <= cnn["test"]["f1_micro"] <= 1.0
    assert cnn["parameters"] > 0 and cnn["training"]["epochs_run"] == 1
    assert cnn["test"]["ci95_by_sequence"]["unit"] == "sequence"  # evaluate's, as it wrote it

    # A finished row is read back, not trained again.
    row_file = runs / "tiny" / "cnn" / ROW
    stamp = row_file.stat().st_mtime_ns
    again = run_suite(suite, protocol, data=small_manifest, runs=runs, progress=False)
    assert again["cnn"] == json.loads(row_file.read_text()) and row_file.stat().st_mtime_ns == stamp

    md = publish(suite, protocol, again, out, seconds=1.0).read_text()
    assert "| cnn | 5 | random | 32x48 |" in md
    assert "0.9545" in md and "weights unavailable offline" in md
    low, high = cnn["test"].get("at_0.5", cnn["test"])["ci95_by_sequence"]["f1_micro"]
    assert f", by sequence [{low:.4f}, {high:.4f}] |" in md
    # A row evaluated before intervals by sequence existed says so.
    test = {k: v for k, v in cnn["test"].items() if k not in ("ci95_by_sequence", "at_0.5")}
    old = publish(
        suite, protocol, {**again, "cnn": {**cnn, "test": test}}, tmp_path / "old", seconds=1.0
    )
    row = next(line for line in old.read_text().splitlines() if line.startswith("| cnn | 5 |"))
    assert "(interval by frame only)" in row and "by sequence" not in row
    assert "densenet vs cnn" in md and "not measured under this protocol" in md
    payload = json.loads((out / "benchmark-tiny.json").read_text())
    assert payload["git_commit"] and payload["rows"][0]["name"] == "cnn"
    assert "rendered_only" not in payload and "\nComputed by: `" in md


def test_a_re_rendered_file_keeps_each_rows_own_provenance(suite, small_manifest, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "results"
    protocol = suite.protocols["tiny"]
    results = run_suite(
        suite, protocol, data=small_manifest, runs=runs, only=["cnn"], progress=False
    )
    trained = results["cnn"]["provenance"]
    assert trained["git_commit"] and trained["machine"]["cpu_cores"] and trained["finished"]
    # A row recorded before rows kept their provenance (as the H100 rows were).
    legacy = {**results["cnn"], "name": "legacy"}
    del legacy["provenance"]
    read_back = run_suite(suite, protocol, data=small_manifest, runs=runs, train_missing=False)
    md = publish(
        suite, protocol, {**read_back, "legacy": legacy}, out, seconds=0.0, rendered=True
    ).read_text()
    assert f"| cnn | {results['cnn']['training']['device']} | `{trained['git_commit']}` |" in md
    assert "| legacy | " in md and "`not recorded` | not recorded | not recorded |" in md
    assert "\nRe-rendered (figures computed by the runs named in the file) by: `" in md
    assert json.loads((out / "benchmark-tiny.json").read_text())["rendered_only"] is True


def test_a_changed_declaration_refuses_the_old_run_directory(suite, small_manifest, tmp_path):
    runs = tmp_path / "runs"
    protocol = suite.protocols["tiny"]
    run_suite(suite, protocol, data=small_manifest, runs=runs, only=["cnn"], progress=False)
    changed = tmp_path / "changed.toml"
    changed.write_text(TINY.replace("max_epochs = 1", "max_epochs = 2"))
    with pytest.raises(RunError, match="different experiment"):
        run_suite(load_suite(str(changed)), protocol, data=small_manifest, runs=runs)


def test_a_killed_row_resumes(suite, small_manifest, tmp_path):
    from tests.conftest import crash_at_epoch
    from toontag.benchmark.runner import row_dir
    from toontag.training.run import train

    runs, protocol = tmp_path / "runs", suite.protocols["tiny"]
    [cnn] = suite.select(["cnn"])
    config = cnn.config(protocol).replace(max_epochs=2)
    killed = row_dir(runs, protocol, cnn)
    with pytest.raises(SystemExit):
        train(
            config, data=small_manifest, run=killed, progress=False, callbacks=[crash_at_epoch(1)]
        )
    longer = tmp_path / "two.toml"
    longer.write_text(TINY.replace("max_epochs = 1", "max_epochs = 2"))
    result = run_suite(
        load_suite(str(longer)),
        protocol,
        data=small_manifest,
        runs=runs,
        only=["cnn"],
        progress=False,
    )["cnn"]
    assert result["status"] == DONE
    assert result["training"]["resumed"] and result["training"]["epochs_run"] == 2


def test_each_row_is_announced_with_its_budget_and_the_time_left(small_manifest, tmp_path, capsys):
    path = tmp_path / "two.toml"
    path.write_text(
        TINY.replace("max_epochs = 1\npaper", "max_epochs = 1\nmax_minutes = 2\npaper")
        + '\n[[row]]\nname = "cnn2"\ntable = "6"\nmodel = "baseline"\n'
        'init = "random"\nmax_epochs = 1\nmax_minutes = 3\n'
    )
    suite = load_suite(str(path))
    run_suite(
        suite, suite.protocols["tiny"], data=small_manifest, runs=tmp_path / "runs", progress=True
    )
    said = " ".join(capsys.readouterr().err.split())
    # two rows run (the unavailable ImageNet row and the GPU-only row are not counted)
    assert (
        "row 1/2: cnn (5): baseline, random init, 32x48, tiny; budget at most 1 epochs or 2 min"
        in said
    )
    assert "0/2 done, at most 5 min left (time caps)" in said
    assert "row 2/2: cnn2 (6)" in said and "1/2 done, about" in said
    assert "row 3/" not in said
