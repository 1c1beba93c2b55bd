"""A backbone cut in two: a frozen bottom whose feature maps are computed once and kept, and
a top that is trained on those maps.

Training the whole backbone on a 2-core CPU sees about 25-50 images a second; the top blocks
on cached maps see several hundred, because the bottom (stem and early blocks at high
resolution) holds most of the arithmetic and few of the weights. Self-supervised adaptation to
a show, fine-tuning while a person labels and enrolling a character all train the top only,
so they share this cut. Works for timm's EfficientNet family (``conv_stem``, ``bn1``,
``blocks``, ``conv_head``, ``bn2``), toontag's ImageNet backbones.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from toontag.errors import ModelError

CUT = 4  # the top starts at block 4 of 7: at 112x192 the maps are 80 x 7 x 12 (13 KB at fp16)


class Bottom(nn.Module):
    """uint8 pixels -> the feature map at the cut (normalisation included, always in eval)."""

    def __init__(self, model: nn.Module, cut: int = CUT):
        super().__init__()
        backbone = _efficientnet(model)
        self.normalize = model.normalize
        self.stem = nn.Sequential(backbone.conv_stem, backbone.bn1)
        self.blocks = nn.Sequential(*backbone.blocks[:cut])

    @torch.inference_mode()
    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.maps(self.normalize(pixels))

    @torch.inference_mode()
    def maps(self, x: torch.Tensor) -> torch.Tensor:
        """The map at the cut of a normalised float batch (N, 3, H, W)."""
        x = x.contiguous(memory_format=torch.channels_last)
        return self.blocks(self.stem(x)).contiguous()


class Top(nn.Module):
    """The feature map at the cut -> the backbone's final map (pool it for features)."""

    def __init__(self, model: nn.Module, cut: int = CUT):
        super().__init__()
        backbone = _efficientnet(model)
        self.blocks = nn.Sequential(*backbone.blocks[cut:], backbone.conv_head, backbone.bn2)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return self.blocks(maps)

    def pooled(self, maps: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features (N, C) of a batch of maps."""
        return self.blocks(maps).mean(dim=(2, 3))


@torch.inference_mode()
def top_features(top: Top, maps: np.ndarray, *, batch: int = 256) -> np.ndarray:
    """(N, D) float32 pooled features of `maps` (N, C, H, W; a float16 memmap included)
    through `top`, `batch` maps at a time, in eval mode: a whole pool's, after fine-tuning."""
    top.eval()
    out = [
        top.pooled(torch.from_numpy(np.asarray(maps[i : i + batch], np.float32))).numpy()
        for i in range(0, len(maps), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def split(model: nn.Module, cut: int = CUT) -> tuple[Bottom, Top]:
    """`model` (a `ToonNet`) as (bottom, top). Both share its weights: training the top trains
    the model's own blocks, so saving the model saves what the top learned."""
    return Bottom(model, cut), Top(model, cut)


def top_prefix(cut: int = CUT) -> tuple[str, ...]:
    """The backbone's state-dict key prefixes that the top owns (what adaptation changes)."""
    return tuple(f"blocks.{i}." for i in range(cut, 7)) + ("conv_head.", "bn2.")


def _efficientnet(model: nn.Module) -> nn.Module:
    backbone = getattr(model, "backbone", model)
    if not all(hasattr(backbone, a) for a in ("conv_stem", "bn1", "blocks", "conv_head", "bn2")):
        raise ModelError(
            f"{type(backbone).__name__}: only EfficientNet-style backbones (efficientnet_lite0-2) "
            "can be cut into a cached bottom and a trained top"
        )
    return backbone
