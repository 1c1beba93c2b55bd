"""An exported model under ONNX Runtime, with nothing of PyTorch: what a process that only
predicts (a Ray worker, a server) loads in a second instead of importing torch."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from toontag.data.images import PICTURE_ASPECT
from toontag.errors import ModelError

META_KEYS = ("model", "classes", "thresholds", "image_size")


def default_threads() -> int:
    """PyTorch's thread count where it is loaded (OMP_NUM_THREADS, torch.set_num_threads
    govern both engines), else the CPUs this process may use."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    return int(os.environ.get("OMP_NUM_THREADS", 0)) or len(os.sched_getaffinity(0))


class OnnxModel:
    """An exported model under ONNX Runtime: `probabilities(uint8 images)`. `source` is an
    ``.onnx`` file, or an export's bytes while it is checked before being written."""

    def __init__(self, source: Path | bytes, threads: int | None = None):
        import onnxruntime as ort

        if isinstance(source, bytes):
            path, model = "the export", source
        else:
            path = Path(source)
            if not path.is_file():
                raise ModelError(f"{path}: no such ONNX file (toontag export RUN --format onnx)")
            model = str(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        try:
            self.session = ort.InferenceSession(model, options, ["CPUExecutionProvider"])
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
        aspect = props.get("toontag.picture_aspect")  # exports before it was recorded lack it
        self.picture_aspect = json.loads(aspect) if aspect else PICTURE_ASPECT

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, C) probabilities of uint8 (N, H, W, 3) images at `image_size`."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        return self.session.run(["probabilities"], {"pixels": images})[0]
