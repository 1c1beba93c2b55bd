"""The paper's network: a feature extractor, global average pooling and a small dense head."""

from __future__ import annotations

import torch
from torch import nn


class BaselineCNN(nn.Module):
    """The paper's CNN trained from scratch: 3x3 conv + ReLU layers (16-32-64-64 by default)
    with a 2x2 max-pool between each pair, i.e. three pools for four convolutions."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64)):
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for i, out_ch in enumerate(channels):
            if i > 0:
                layers.append(nn.MaxPool2d(2))
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.num_features = in_ch

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def paper_head(in_features: int, num_classes: int, hidden: int, dropout: float) -> nn.Sequential:
    """GAP -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes); logits out."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


class ToonNet(nn.Module):
    """Backbone feature map -> paper head. Outputs logits; a sigmoid gives probabilities."""

    def __init__(
        self,
        backbone: nn.Module,
        num_features: int,
        num_classes: int,
        *,
        hidden: int = 128,
        dropout: float = 0.1,
        mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        std: tuple[float, ...] = (0.5, 0.5, 0.5),
    ):
        super().__init__()
        self.backbone = backbone
        self.head = paper_head(num_features, num_classes, hidden, dropout)
        # Normalisation travels with the weights, so a batch of uint8 pixels is all it needs.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255, persistent=False)
        self.frozen = False

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) or (N, 3, H, W) pixels -> normalised float (N, 3, H, W)."""
        if images.shape[-1] == 3 and images.shape[1] != 3:
            images = images.permute(0, 3, 1, 2)
        return (images.float() - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x))

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Per-character probabilities (N, C), float32, of a uint8 batch."""
        return self(self.normalize(pixels)).float().sigmoid()

    def pooled_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """The backbone's globally average-pooled features of a uint8 batch: (N, C)."""
        return self.backbone.forward_features(self.normalize(pixels)).mean(dim=(2, 3))

    def freeze_backbone(self) -> None:
        """Train only the head: backbone weights fixed, its batch-norm statistics too."""
        self.frozen = True
        self.backbone.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> ToonNet:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self
