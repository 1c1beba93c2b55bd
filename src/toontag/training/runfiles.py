"""A run directory's file names and its model's identity, without PyTorch: what indexing
with ONNX Runtime needs of a run (the driver process never imports torch for it)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from toontag.io import hash_file

CONFIG, MODEL_INFO, WEIGHTS = "config.json", "model.json", "model.safetensors"
ENSEMBLE = "ensemble.json"
CHECKPOINTS, LAST, BEST = "checkpoints", "last.ckpt", "best.ckpt"


def model_id(run: Path | str) -> str:
    """A short content hash of what decides a run's predictions: its model.json and weights
    (an ensemble's: its members' ids). Indexes record it to refuse mixing models."""
    run = Path(run)
    digest = hashlib.sha256((run / MODEL_INFO).read_bytes())
    if (run / ENSEMBLE).is_file():
        for member in json.loads((run / ENSEMBLE).read_text())["members"]:
            digest.update(model_id(member).encode())
    else:
        hash_file(run / WEIGHTS, digest)
    return digest.hexdigest()[:16]
