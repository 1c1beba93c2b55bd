"""Several trained models as one: the mean of their probabilities.

An `Ensemble` looks like a `ToonNet` to prediction code: `normalize` passes the uint8 pixels
through (each member normalises them its own way) and `forward` returns the logit of the
mean probability, so ``sigmoid(forward(x))`` is exactly that mean.
"""

from __future__ import annotations

import torch
from torch import nn

from toontag.models.net import ToonNet

EPS = 1e-7  # keeps the logit finite where every member is certain


class Ensemble(nn.Module):
    def __init__(self, members: list[ToonNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        probs = torch.stack([m(m.normalize(pixels)).float().sigmoid() for m in self.members])
        return torch.logit(probs.mean(dim=0), eps=EPS)
