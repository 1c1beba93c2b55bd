"""Probabilities from a trained model: for cached uint8 arrays and for image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.images import load_resized
from toontag.errors import BadImageError
from toontag.models.ensemble import Ensemble
from toontag.models.inference import map_batches
from toontag.models.net import ToonNet
from toontag.training.rundir import TrainedModel


def predict_arrays(
    model: ToonNet | Ensemble,
    images: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    batch_size: int = 64,
    description: str = "predicting",
    flip: bool = False,
) -> np.ndarray:
    """Sigmoid probabilities (N, C) for uint8 (N, H, W, 3) `images` (or the given rows);
    `flip`: test-time augmentation, the mean over each image and its mirror image."""
    model.eval()

    def with_flip(pixels):
        return (model.probabilities(pixels) + model.probabilities(pixels.flip(2))) / 2

    return map_batches(
        with_flip if flip else model.probabilities,
        images,
        rows,
        device=next(model.parameters()).device,
        batch_size=batch_size,
        description=description,
    )


def predict_files(trained: TrainedModel, paths: list[Path]) -> list[dict]:
    """One result per path: the characters present with probabilities, or the decode error."""
    results, arrays, ok = [], [], []
    for path in paths:
        try:
            pixels, note = load_resized(path, trained.image_size)
        except BadImageError as e:
            results.append({"path": str(path), "error": e.reason})
            continue
        arrays.append(pixels)
        ok.append(len(results))
        results.append({"path": str(path), "note": note} if note else {"path": str(path)})
    if arrays:
        probs = predict_arrays(trained.model, np.stack(arrays), description="tagging")
        for i, p in zip(ok, probs, strict=True):
            results[i]["probabilities"] = {
                c: round(float(v), 4) for c, v in zip(trained.classes, p, strict=True)
            }
            results[i]["characters"] = [
                c for c, v, t in zip(trained.classes, p, trained.thresholds, strict=True) if v >= t
            ]
    return results
