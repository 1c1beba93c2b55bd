"""ONNX export: the graph takes uint8 pixels, carries its classes, agrees with PyTorch on real
frames (or the export fails and leaves nothing), and concurrent exports each leave a whole file."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from toontag.config import TrainConfig
from toontag.errors import ModelError
from toontag.models.onnx import TOLERANCE, OnnxModel, check_images, export_onnx
from toontag.models.trained import load_trained
from toontag.runs import run_data


@pytest.fixture(scope="module")
def lite0_run(small_manifest, tmp_path_factory):
    """A trained Lite0 (ImageNet backbone frozen, head fitted for 2 epochs at 32x48, ~20 s):
    the deployed architecture, with probabilities that span 0 to 1 across frames, unlike an
    untrained net's, which all sit near 0.5 whatever the graph computes."""
    from toontag.training.run import train

    run = tmp_path_factory.mktemp("lite0") / "run"
    config = TrainConfig(
        model="efficientnet_lite0", freeze_backbone=True, image_size=(32, 48), max_epochs=2, lr=3e-3
    )
    train(config, data=small_manifest, run=run, progress=False)
    return run


def test_a_trained_run_exports_and_agrees_with_pytorch_on_its_own_frames(lite0_run, tmp_path):
    trained = load_trained(lite0_run)
    data = run_data(lite0_run)
    assert data is not None  # the run records the manifest it was trained on
    images, source = check_images(trained.image_size, data)
    assert len(images) == 64 and source == f"frames of {data}"
    with torch.no_grad():
        expected = trained.model.probabilities(torch.from_numpy(images)).numpy()
    assert expected.min() < 0.1 and expected.max() > 0.9 and expected.std(axis=0).min() > 0.1

    result = export_onnx(trained, tmp_path / "m.onnx", data=data)
    assert result["images"] == 64 and result["source"] == source
    assert result["max_probability_difference"] <= TOLERANCE
    assert result["decision_agreement"] == 1.0
    onnx_model = OnnxModel(tmp_path / "m.onnx")
    assert onnx_model.classes == trained.classes and onnx_model.thresholds == trained.thresholds
    assert onnx_model.image_size == (32, 48) and onnx_model.model == "efficientnet_lite0"
    probs = onnx_model.probabilities(images[:3])  # another batch size than the check's
    np.testing.assert_allclose(probs, expected[:3], atol=TOLERANCE)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left


def test_an_export_that_disagrees_with_pytorch_fails_and_leaves_nothing(
    tiny_run, tmp_path, monkeypatch
):
    honest = OnnxModel.probabilities
    monkeypatch.setattr(OnnxModel, "probabilities", lambda self, x: honest(self, x) + 2e-4)
    path = tmp_path / "m.onnx"
    with pytest.raises(ModelError) as failed:
        export_onnx(load_trained(tiny_run), path, data=run_data(tiny_run))
    message = str(failed.value)
    assert message.startswith(f"{path}: ONNX Runtime and PyTorch differ by 2.0")
    assert "on 64 frames of" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # neither the bad file nor its temporary


def test_without_the_training_data_the_check_says_it_used_noise(tiny_run, tmp_path):
    result = export_onnx(load_trained(tiny_run), tmp_path / "m.onnx")
    assert result["source"].startswith("images of random noise") and result["images"] == 64
    assert result["max_probability_difference"] <= TOLERANCE


EXPORT_WHEN_TOLD = """
import sys, time
from pathlib import Path
import onnx, onnxruntime  # imported before the start line, so both exports overlap
from toontag.models.engine import onnx_for
run, ready, go = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
ready.touch()
while not go.exists():
    time.sleep(0.001)
onnx_for(run)
"""


def test_two_processes_exporting_the_same_run_at_once_both_succeed(tiny_run, tmp_path):
    run = shutil.copytree(tiny_run, tmp_path / "run", ignore=shutil.ignore_patterns("*.onnx"))
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(2)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", EXPORT_WHEN_TOLD, str(run), str(r), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in ready
    ]
    deadline = time.monotonic() + 120
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trained = load_trained(run)
    images, _ = check_images(trained.image_size, run_data(run), count=8)
    with torch.no_grad():
        expected = trained.model.probabilities(torch.from_numpy(images)).numpy()
    got = OnnxModel(run / "model.onnx").probabilities(images)
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)
    assert not list(run.glob(".model.onnx*"))  # no temporary file left behind


def test_a_file_that_is_not_a_toontag_export_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        OnnxModel(bad)
    with pytest.raises(ModelError, match="no such ONNX file"):
        OnnxModel(tmp_path / "missing.onnx")


def test_indexing_with_onnx_runtime_never_imports_pytorch(tiny_run, tmp_path):
    """The `index` command's process loads the exported model and its id without torch
    (700 MB and seconds of start-up saved per process)."""
    from toontag.models.engine import onnx_for

    onnx_for(tiny_run)  # the export itself needs PyTorch: made here first
    script = (
        "import sys\n"
        "from toontag.cli import app\n"
        "from toontag.models.engine import load_engine\n"
        "import toontag.video.indexer, toontag.video.db\n"
        f"model = load_engine({str(tiny_run)!r}, 'onnx')\n"
        "print(model.model_id, 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(out[0]) == 16 and out[1] == "False"
