"""Several trained models as one: the mean of their probabilities.

An `Ensemble` answers `probabilities(pixels)` like a `ToonNet`, so prediction, evaluation and
ONNX export take it as they take one network; each member normalises the uint8 pixels its
own way.
"""

from __future__ import annotations

import torch
from torch import nn

from toontag.models.net import ToonNet


class Ensemble(nn.Module):
    def __init__(self, members: list[ToonNet]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.stack([m.probabilities(pixels) for m in self.members]).mean(dim=0)
