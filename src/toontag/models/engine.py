"""One interface over the two inference engines: ONNX Runtime (the CPU default) and PyTorch.

`load_engine(run)` gives an object with `classes`, `thresholds`, `image_size`, `model_id`,
`model` (its name) and `probabilities(uint8 (N, H, W, 3)) -> (N, C)`. The ONNX engine uses
``RUN/model.onnx``, exporting it first when it is missing or older than the run's weights
(checked on frames of the data the run was trained on, when that data is still there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.errors import ModelError
from toontag.models.runtime import OnnxModel
from toontag.runs import MODEL_INFO, ONNX_FILE, WEIGHTS, model_id, run_data

ENGINES = ("onnx", "torch")


class TorchEngine:
    """PyTorch, imported only for this engine (ONNX Runtime indexing never loads it)."""

    def __init__(self, run: Path, device: str | None = None):
        from toontag.models.inference import default_device
        from toontag.models.trained import load_trained

        self.device = device or default_device()
        trained = load_trained(run, self.device)
        self.net, self.model = trained.model, trained.config.model
        self.classes, self.thresholds = trained.classes, trained.thresholds
        self.image_size, self.picture_aspect = trained.image_size, trained.picture_aspect

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            pixels = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
            return self.net.probabilities(pixels).cpu().numpy()


def onnx_for(run: Path) -> Path:
    """``RUN/model.onnx``, (re)exported when absent or older than the run's model. Processes
    that export the same run at once each rename a whole file into place."""
    path = run / ONNX_FILE
    sources = [p for p in (run / MODEL_INFO, run / WEIGHTS) if p.is_file()]
    stale = not path.is_file() or any(p.stat().st_mtime > path.stat().st_mtime for p in sources)
    if stale:
        from toontag.models.onnx import export_onnx
        from toontag.models.trained import load_trained

        export_onnx(load_trained(run), path, data=run_data(run))
    return path


def engine_probabilities(engine, images: np.ndarray, rows, chunk: int = 256) -> np.ndarray:
    """(len(rows), C) probabilities of `images[rows]` (a uint8 cache, memory-mapped), a chunk
    at a time."""
    rows = np.asarray(rows)
    out = np.empty((len(rows), len(engine.classes)), np.float32)
    for start in range(0, len(rows), chunk):
        out[start : start + chunk] = engine.probabilities(images[rows[start : start + chunk]])
    return out


def load_engine(run: Path | str, engine: str = "onnx", threads: int | None = None):
    """The run's model under `engine` ("onnx" or "torch"), with its `model_id`."""
    run = Path(run)
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    loaded = OnnxModel(onnx_for(run), threads=threads) if engine == "onnx" else TorchEngine(run)
    loaded.model_id = model_id(run)  # after loading, which names what a bad run lacks
    return loaded
