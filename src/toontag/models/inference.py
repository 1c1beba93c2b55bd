"""Run a model over rows of a uint8 image array in batches, with a progress bar."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from toontag.progress import progress_bar


def default_device() -> str:
    """The first GPU where there is one, else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@torch.inference_mode()
def map_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: np.ndarray,
    rows: np.ndarray | None = None,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 64,
    description: str = "predicting",
) -> np.ndarray:
    """Concatenated `fn(uint8 batch)` over `rows` of (N, H, W, 3) `images`, as float32."""
    rows = np.arange(len(images)) if rows is None else np.asarray(rows)
    out = []
    with progress_bar() as bar:
        task = bar.add_task(description, total=len(rows))
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            pixels = torch.from_numpy(np.ascontiguousarray(images[chunk])).to(device)
            out.append(fn(pixels).float().cpu().numpy())
            bar.advance(task, len(chunk))
    return np.concatenate(out)


def predict_arrays(
    model: nn.Module,
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
