"""ONNX export: the graph takes uint8 pixels, carries its classes, and agrees with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

from toontag.config import TrainConfig
from toontag.errors import ModelError
from toontag.models import create_model
from toontag.models.onnx import OnnxModel, export_onnx
from toontag.training.rundir import TrainedModel

CLASSES = ("kral_sakir", "remzi", "fil_necati", "canan")


@pytest.mark.parametrize("name", ["baseline", "efficientnet_lite0"])
def test_export_agrees_with_pytorch_and_carries_its_metadata(name, tmp_path):
    model = create_model(name, 4).eval()
    trained = TrainedModel(model, CLASSES, (0.5, 0.4, 0.5, 0.3), (32, 48), TrainConfig(model=name))
    result = export_onnx(trained, tmp_path / "m.onnx")
    assert result["max_probability_difference"] < 1e-5 and result["images"] == 16
    onnx_model = OnnxModel(tmp_path / "m.onnx")
    assert onnx_model.classes == CLASSES and onnx_model.thresholds == (0.5, 0.4, 0.5, 0.3)
    assert onnx_model.image_size == (32, 48) and onnx_model.model == name
    probs = onnx_model.probabilities(np.zeros((3, 32, 48, 3), np.uint8))  # any batch size
    assert probs.shape == (3, 4) and ((probs >= 0) & (probs <= 1)).all()


def test_a_file_that_is_not_a_toontag_export_is_refused(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        OnnxModel(bad)
    with pytest.raises(ModelError, match="no such ONNX file"):
        OnnxModel(tmp_path / "missing.onnx")
