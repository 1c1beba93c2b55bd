"""benchmarks/new_character.py at a tiny size (a smoke test, not a measurement): base runs
trained elsewhere taken with --base-runs, the fine-tune method's row beside the linear
read-out's, the old characters' change with its paired interval by whole sequences; and
benchmarks/enrol_choice.py's fine-tune candidate scored on the same validation frames."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_manifest
from toontag.benchmark.enrolment import base_run
from toontag.config import TrainConfig, preset
from toontag.data.dataset import Sample, load_dataset
from toontag.errors import RunError
from toontag.training.run import train

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "new_character.py"
CHOICE = SCRIPT.with_name("enrol_choice.py")
OLD = ("kral_sakir", "remzi", "fil_necati")


@pytest.fixture(scope="module")
def bases(small_manifest, tmp_path_factory) -> Path:
    """DIR/canan: a tiny 3-class Lite0 run without canan, as a GPU session would leave it."""
    data = load_dataset(small_manifest)
    folder = tmp_path_factory.mktemp("bases")
    samples = [
        Sample(s.path, tuple(c for c in s.labels if c != "canan"), s.split, s.frame_id)
        for s in data.samples[::2]
    ]
    manifest = write_manifest(folder / "no-canan.csv", samples)
    config = TrainConfig(model="efficientnet_lite0", image_size=(32, 48), max_epochs=1, lr=1e-3)
    train(config, data=manifest, run=folder / "canan", progress=False, classes=OLD)
    return folder


def test_the_fine_tune_row_stands_beside_the_linear_read_out(bases, small_manifest, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["--data", small_manifest, "--base-runs", bases, "--characters", "canan"]
    args += ["--pool", "150", "--ks", "20", "--seeds", "1", "--test-stride", "2"]
    args += ["--finetune-steps", "2", "--work", work, "--out", out]
    subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], check=True, capture_output=True, timeout=600
    )
    payload = json.loads((out / "new-character.json").read_text())
    assert payload["settings"]["base_runs"] == str(bases)
    tuned = payload["finetune"]["canan"]
    assert tuned["base"]["run"] == str(bases / "canan") and tuned["k"] == 20
    run = tuned["runs"][0]
    for stage in ("alone", "confirmed"):
        old = run[stage]["old"]
        assert len(old["ci95_by_sequence"]) == 2 and "change" in old
        assert 0 <= run[stage]["new_f1"] <= 1 and run[stage]["seconds"] > 0
        enrolled = work / "canan" / "finetune-k20-seed0" / stage
        assert json.loads((enrolled / "model.json").read_text())["classes"] == [*OLD, "canan"]
    markdown = (out / "new-character.md").read_text()
    assert "| canan | linear read-out |" in markdown and "| canan | fine-tune |" in markdown
    assert "by-sequence 95% CI" in markdown


def test_a_base_that_knew_the_character_is_refused(bases, small_manifest, tmp_path):
    (tmp_path / "remzi").symlink_to(bases / "canan")  # a base that has remzi among its classes
    args = argparse.Namespace(base_runs=tmp_path)
    with pytest.raises(RunError, match="a base without remzi"):
        base_run(args, load_dataset(small_manifest), "remzi")


def test_a_full_recipe_base_trains_on_every_train_frame_with_the_cpu_preset(
    small_manifest, tmp_path
):
    """--base-recipe cpu: the `cpu` preset (here cut to a few seconds of fitting) on every
    train frame, the character's labels withheld; the fast base takes every other frame."""
    data = load_dataset(small_manifest)
    args = argparse.Namespace(
        base_runs=None, base_recipe="cpu", base_stride=2, base_minutes=0.02, work=tmp_path
    )
    base = base_run(args, data, "canan")
    config = json.loads((base / "config.json").read_text())
    wanted = preset("cpu").replace(seed=0, max_minutes=0.02)
    assert config["label_smoothing"] == 0.1 and config["image_size"] == [112, 192]
    assert {k: config[k] for k in ("lr", "max_minutes", "schedule", "augment")} == {
        "lr": wanted.lr, "max_minutes": 0.02, "schedule": "cosine", "augment": "flip_crop"
    }  # fmt: skip
    rows = load_dataset(tmp_path / "canan" / "base.csv").samples
    assert len(rows) == len(data.subset("train")) and not any("canan" in s.labels for s in rows)
    assert json.loads((base / "model.json").read_text())["classes"] == list(OLD)
    args.base_recipe = "fast"  # the work folder's bases, features and records are cpu ones
    with pytest.raises(RunError, match="holds bases of --base-recipe cpu; use another --work"):
        base_run(args, data, "remzi")


def test_the_enrolment_choice_weighs_the_fine_tune_on_validation(bases, small_manifest, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["--data", small_manifest, "--base-runs", bases, "--characters", "canan"]
    args += ["--pool", "150", "--validation", "60", "--seeds", "2", "--finetune-seeds", "1"]
    args += ["--finetune-steps", "2", "--work", work, "--out", out]
    subprocess.run(
        [sys.executable, CHOICE, *map(str, args)], check=True, capture_output=True, timeout=600
    )
    payload = json.loads((out / "enrol-choice.json").read_text())
    tuned = [r for r in payload["rows"] if r["candidate"].startswith("fine-tune")]
    assert len(tuned) == 1 and len(tuned[0]["val_f1_answered_by_seed"]) == 1
    assert payload["seeds_compared"] == 1  # the read-outs' second seed is not weighed
    readout = next(r for r in payload["rows"] if r["candidate"] == "answers alone, nearest")
    first = payload["mean_val_f1_answered"]["answers alone, nearest"]
    assert first == pytest.approx(readout["val_f1_answered_by_seed"][0])
    assert payload["chosen"] in payload["mean_val_f1_answered"]
    assert (work / "canan" / "choice-finetune-seed0" / "confirmed" / "model.json").is_file()
