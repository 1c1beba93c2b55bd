"""A trained model as ONNX, for fast CPU inference with ONNX Runtime.

The graph takes uint8 pixels (N, H, W, 3), exactly as the cache and the loaders hold them,
and returns probabilities: normalisation and the sigmoid are inside it. Class names,
thresholds, input size and model name travel in the file's metadata, so an ``.onnx`` file
alone is enough to tag images.

An export is checked before it is put in place: ONNX Runtime and PyTorch must give the same
probabilities (within `TOLERANCE`) on real frames of the data the model was trained on, or on
random noise when that data is not at hand. Only then is the file written, through a
temporary file of its own and a rename, so processes exporting the same run at once each leave
a whole file.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from toontag.errors import BadImageError, ModelError
from toontag.io import write_bytes
from toontag.models.runtime import META_KEYS, OnnxModel  # noqa: F401  (its home before)

OPSET = 17
CHECK_FRAMES = 64  # images compared between ONNX Runtime and PyTorch after an export
TOLERANCE = 1e-4  # the largest probability difference an fp32 export may show (rounding only)


class _Probabilities(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.probabilities(pixels)


def check_images(
    size: tuple[int, int], data: Path | None = None, count: int = CHECK_FRAMES
) -> tuple[np.ndarray, str]:
    """`count` uint8 images at `size` to compare the engines on, and what they are: frames
    spread evenly over the dataset `data` (a folder or manifest), else random noise."""
    if data is not None:
        from toontag.data.dataset import load_dataset
        from toontag.data.images import load_resized

        samples = load_dataset(data).samples
        images = []
        for sample in samples[:: max(1, len(samples) // count)]:
            try:
                images.append(load_resized(sample.path, size)[0])
            except BadImageError:
                continue  # a broken frame is the data's problem, not the export's
            if len(images) == count:
                break
        if images:
            return np.stack(images), f"frames of {data}"
    noise = np.random.default_rng(0).integers(0, 256, (count, *size, 3), dtype=np.uint8)
    return noise, "images of random noise (the training data is not at hand)"


def export_onnx(trained, path: Path, *, data: Path | None = None) -> dict:
    """Write `trained` (a `TrainedModel`) to `path` once ONNX Runtime agrees with PyTorch
    within `TOLERANCE` on `check_images` (frames of `data` when given); return the check.
    A larger difference is a `ModelError` naming `path`, which is left as it was."""
    model = _Probabilities(trained.model.cpu()).eval()  # the exporter restores this mode
    graph = _graph(model, trained)
    images, source = check_images(trained.image_size, data)
    with torch.no_grad():
        expected = model(torch.from_numpy(images)).numpy()
    got = OnnxModel(graph).probabilities(images)
    difference = np.abs(got - expected)
    if not difference.max() <= TOLERANCE:  # NaN fails too
        raise ModelError(
            f"{path}: ONNX Runtime and PyTorch differ by {difference.max():.2e} in probability "
            f"on {len(images)} {source} (over {TOLERANCE:g} for fp32); not written"
        )
    # A temporary file of its own, renamed: processes exporting at once each leave a whole file.
    write_bytes(path, graph)
    thresholds = np.asarray(trained.thresholds)
    return {
        "path": str(path),
        "images": len(images),
        "source": source,
        "max_probability_difference": float(difference.max()),
        "mean_probability_difference": float(difference.mean()),
        "decision_agreement": float(((got >= thresholds) == (expected >= thresholds)).mean()),
    }


def _graph(model: nn.Module, trained) -> bytes:
    """The serialised ONNX model of `model`, with toontag's metadata."""
    import onnx

    height, width = trained.image_size
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on a fixed NHWC layout
        torch.onnx.export(
            model,
            torch.zeros(1, height, width, 3, dtype=torch.uint8),
            buffer,
            input_names=["pixels"],
            output_names=["probabilities"],
            dynamic_axes={"pixels": {0: "batch"}, "probabilities": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    meta = {
        "model": trained.config.model,
        "classes": list(trained.classes),
        "thresholds": [float(t) for t in trained.thresholds],
        "image_size": [height, width],
        "picture_aspect": trained.picture_aspect,
    }
    for key, value in meta.items():
        graph.metadata_props.add(key=f"toontag.{key}", value=json.dumps(value))
    return graph.SerializeToString()
