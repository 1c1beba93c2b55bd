"""Batch augmentation on the device (GPU where there is one), off by default (the paper uses
none). Two kinds: `flip_crop_batch` flips, shifts and zooms the uint8 batch with one gather
(cheap enough for CPU training); `affine_batch` resamples the normalised batch (bilinear
zoom/shift) and jitters colour, suited to flat-shaded cartoon frames but slower on a CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flip_crop_batch(
    pixels: torch.Tensor, generator: torch.Generator, *, shift: float = 0.1, zoom: float = 0.15
) -> torch.Tensor:
    """uint8 (N, H, W, 3) pixels, each image flipped at random, zoomed in by up to `zoom` and
    shifted by up to `shift` of its size (nearest pixel, edges repeated): one gather."""
    n, h, w, _ = pixels.shape
    device = pixels.device

    def draw(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, 1, generator=generator, device=device) * (high - low) + low

    scale = 1 / draw(1.0, 1 + zoom)  # share of the image the output shows
    flip = draw(0, 1) < 0.5
    axes = []
    for size in (h, w):
        centre = (size - 1) / 2 + draw(-shift, shift) * size
        grid = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
        axes.append((centre + grid * scale).round().clamp(0, size - 1).long())
    rows, cols = axes
    cols = torch.where(flip, cols.flip(1), cols)
    batch = torch.arange(n, device=device)[:, None, None]
    return pixels[batch, rows[:, :, None], cols[:, None, :]]


def affine_batch(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a normalised float batch (N, 3, H, W); each image draws its own parameters."""
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, device=x.device) * (high - low) + low

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
