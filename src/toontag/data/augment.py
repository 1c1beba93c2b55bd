"""Batch augmentation on the device (GPU where there is one): flips, small zoom/shift and
colour jitter suited to flat-shaded cartoon frames. Off by default: the paper uses none."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a normalised float batch (N, 3, H, W); each image draws its own parameters."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator).to(x.device) * (high - low) + low

    flip = torch.where(uniform(0, 1) < 0.5, -1.0, 1.0)
    scale = uniform(0.8, 1.0)  # zoom in by up to 25%
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = uniform(-1, 1) * (1 - scale)  # shift within the zoomed margin
    theta[:, 1, 2] = uniform(-1, 1) * (1 - scale)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    brightness = uniform(-0.2, 0.2).view(n, 1, 1, 1)
    contrast = uniform(0.8, 1.2).view(n, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * contrast + mean + brightness
