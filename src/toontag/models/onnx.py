"""A trained model as ONNX, for fast CPU inference with ONNX Runtime.

The graph takes uint8 pixels (N, H, W, 3), exactly as the cache and the loaders hold them,
and returns probabilities: normalisation and the sigmoid are inside it. Class names,
thresholds, input size and model name travel in the file's metadata, so an ``.onnx`` file
alone is enough to tag images.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toontag.errors import ModelError

META_KEYS = ("model", "classes", "thresholds", "image_size")
OPSET = 17


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.probabilities(pixels)


def export_onnx(trained, path: Path, *, check: np.ndarray | None = None) -> dict:
    """Write `trained` (a `TrainedModel`) to `path`; return the largest probability difference
    between ONNX Runtime and PyTorch on `check` (uint8 images; random ones by default)."""
    import onnx

    height, width = trained.image_size
    model = _Probabilities(trained.model.cpu()).eval()  # the exporter restores this mode
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on a fixed NHWC layout
        torch.onnx.export(
            model,
            torch.zeros(1, height, width, 3, dtype=torch.uint8),
            str(tmp),
            input_names=["pixels"],
            output_names=["probabilities"],
            dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load(str(tmp))
    meta = {
        "model": trained.config.model,
        "classes": list(trained.classes),
        "thresholds": [float(t) for t in trained.thresholds],
        "image_size": [height, width],
    }
    for key, value in meta.items():
        graph.metadata_props.add(key=f"toontag.{key}", value=json.dumps(value))
    onnx.save(graph, str(tmp))
    tmp.replace(path)
    if check is None:
        check = np.random.default_rng(0).integers(0, 256, (16, height, width, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = model(torch.from_numpy(check)).numpy()
    got = OnnxModel(path).probabilities(check)
    return {"path": str(path), "images": len(check),
            "max_probability_difference": float(np.abs(got - expected).max())}  # fmt: skip


class OnnxModel:
    """An exported model under ONNX Runtime: `probabilities(uint8 images)`."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such ONNX file (toontag export RUN --format onnx)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, ["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own types for every kind of bad file
            raise ModelError(f"{path}: not a readable ONNX model ({type(e).__name__})") from e
        props = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in META_KEYS if f"toontag.{k}" not in props]
        if missing:
            raise ModelError(f"{path}: not a toontag export (metadata lacks {missing})")
        meta = {k: json.loads(props[f"toontag.{k}"]) for k in META_KEYS}
        self.model = meta["model"]
        self.classes = tuple(meta["classes"])
        self.thresholds = tuple(meta["thresholds"])
        self.image_size = tuple(meta["image_size"])

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, C) probabilities of uint8 (N, H, W, 3) images at `image_size`."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        return self.session.run(["probabilities"], {"pixels": images})[0]
