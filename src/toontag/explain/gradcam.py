"""Grad-CAM heatmaps for any toontag model, through the `grad-cam` package.

The target layer defaults to the backbone's final feature map, found by running the backbone
once: the last module to finish inside ``forward_features`` whose output has the feature
map's shape. That is the paper CNN's last conv block, DenseNet's ``features``, EfficientNet's
``bn2`` and so on, without a table per architecture; ``layer=`` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from toontag.errors import ModelError
from toontag.models.net import ToonNet


@dataclass(frozen=True)
class Heatmap:
    character: str
    probability: float
    cam: np.ndarray  # (H, W) in [0, 1] at the model's input size


def default_target_layer(model: ToonNet, size: tuple[int, int]) -> str:
    """The dotted name (inside the backbone) of the module whose output is its feature map."""
    names = {m: n for n, m in model.backbone.named_modules() if n}
    finished: list[tuple[nn.Module, object]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, out: finished.append((mod, out))) for m in names
    ]
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            features = model.backbone.forward_features(torch.zeros(1, 3, *size, device=device))
    finally:
        for h in hooks:
            h.remove()
    for module, out in reversed(finished):
        if isinstance(out, torch.Tensor) and out.shape == features.shape:
            return names[module]
    raise ModelError("no module of the backbone outputs its feature map; pass a layer name")


def target_layer(model: ToonNet, size: tuple[int, int], layer: str | None) -> nn.Module:
    name = default_target_layer(model, size) if layer is None else layer
    try:
        if not name.strip():  # "" would name the whole backbone
            raise AttributeError(name)
        return model.backbone.get_submodule(name)
    except AttributeError as e:
        hint = ", ".join(n for n, _ in list(model.backbone.named_children())[:8])
        raise ModelError(f"the backbone has no layer {name!r} (top-level: {hint})") from e


class Explainer:
    """Grad-CAM of one model: heatmaps of uint8 images for chosen characters."""

    def __init__(self, model: ToonNet, classes, size: tuple[int, int], layer: str | None = None):
        if not isinstance(model, ToonNet):
            raise ModelError("Grad-CAM explains one network; explain an ensemble's members")
        self.model, self.classes, self.size = model.eval(), list(classes), tuple(size)
        self.layer = default_target_layer(model, self.size) if layer is None else layer
        self.cam = GradCAM(model=model, target_layers=[target_layer(model, self.size, layer)])

    def index(self, character: str) -> int:
        if character not in self.classes:
            raise ModelError(f"unknown character {character!r}; the model knows {self.classes}")
        return self.classes.index(character)

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """(N, C) probabilities of uint8 (N, H, W, 3) images."""
        with torch.no_grad():
            return self.model.probabilities(self._tensor(pixels)).cpu().numpy()

    def heatmaps(self, pixels: np.ndarray, characters: list[str]) -> np.ndarray:
        """(N, H, W) Grad-CAM maps in [0, 1], image i explained for characters[i]."""
        targets = [ClassifierOutputTarget(self.index(c)) for c in characters]
        return self.cam(input_tensor=self.model.normalize(self._tensor(pixels)), targets=targets)

    def explain(self, pixels: np.ndarray, character: str | None, thresholds) -> list[Heatmap]:
        """One image's heatmaps: for `character`, or for every character predicted present
        (the most likely one when none is)."""
        probs = self.probabilities(pixels[None])[0]
        if character is not None:
            chosen = [self.index(character)]
        else:
            chosen = [k for k, (p, t) in enumerate(zip(probs, thresholds, strict=True)) if p >= t]
            chosen = chosen or [int(np.argmax(probs))]
        names = [self.classes[k] for k in chosen]
        maps = self.heatmaps(np.repeat(pixels[None], len(names), axis=0), names)
        return [Heatmap(n, float(probs[k]), m) for n, k, m in zip(names, chosen, maps, strict=True)]

    def _tensor(self, pixels: np.ndarray) -> torch.Tensor:
        device = next(self.model.parameters()).device
        return torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
