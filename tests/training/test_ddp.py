"""Scale-out: a 2-process DDP training on CPU (gloo) evaluates exactly as one process does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from toontag.evaluation.evaluate import evaluate_run


def test_two_process_ddp_metrics_equal_a_single_process_evaluation(small_manifest, tmp_path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "toontag",
        "train",
        "--data",
        small_manifest,
        "--out",
        run,
        "--model",
        "baseline",
        "--image-size",
        "32x48",
        "--epochs",
        "2",
        "--lr",
        "1e-3",
        "--devices",
        "2",
        "--strategy",
        "ddp",
        "--no-tune-thresholds",
    ]
    done = subprocess.run(
        list(map(str, cmd)), capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    assert report["processes"] == 2 and report["epochs_run"] == 2

    # The same checkpoint, evaluated by one process over the whole validation split.
    single = evaluate_run(run, data=small_manifest, split="val", resamples=10)
    assert single["images"] == report["val_images"]
    assert report["val_metrics"]["f1_micro"] == pytest.approx(single["f1_micro"], abs=1e-6)
    assert report["val_metrics"]["loss"] == pytest.approx(single["loss"], abs=1e-5)


def test_evaluation_shards_cover_every_image_once(small_manifest):
    """Lightning's default DistributedSampler pads a split to a multiple of the process count
    by repeating images; toontag's evaluation shards must not."""
    from types import SimpleNamespace

    from toontag.data.datamodule import ToonDataModule
    from toontag.data.dataset import load_dataset

    dm = ToonDataModule(load_dataset(small_manifest), image_size=(32, 48))
    dm.setup("fit")
    rows = dm.parts.train[:33]  # an odd count
    seen, train_seen = [], []
    for rank in (0, 1):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen += [int(i) for i in dm.loader(rows, shuffle=False).sampler]
        train_seen += [int(i) for i in dm.loader(rows, shuffle=True).sampler]
    assert sorted(seen) == list(range(33))
    assert len(train_seen) == 34 and set(train_seen) == set(range(33))  # training may pad
