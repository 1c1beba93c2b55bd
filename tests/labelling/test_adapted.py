import json
import time

import numpy as np
import torch

from toontag.labelling.adapted import INFO, adapt_pool, adapted_weights
from toontag.labelling.features import pool_features, pool_maps
from toontag.models.registry import create_model
from toontag.models.stages import top_prefix
from toontag.training.adapt import AdaptSettings

SIZE = (56, 96)


def test_a_pool_adapts_and_its_features_come_from_the_adapted_backbone(dataset, tmp_path):
    samples = dataset.subset("train").samples[:30]
    paths = [s.path for s in samples]
    groups = [s.frame_id // 5 for s in samples]  # shots of about five frames
    out = tmp_path / "adapted"
    info = adapt_pool(
        paths,
        groups,
        cache=tmp_path / "features",
        out=out,
        image_size=SIZE,
        settings=AdaptSettings(max_steps=2, batch=4),
    )
    assert info["steps"] == 2 and info["frames"] == 30 and info["shots"] == len(set(groups))
    assert json.loads((out / INFO).read_text())["settings"]["max_steps"] == 2
    weights = adapted_weights(out)
    assert weights is not None and weights.is_file()
    # The saved backbone is ImageNet's but for the top, and loads as a backbone checkpoint.
    imagenet = create_model("efficientnet_lite0", 1, pretrained=True).backbone.state_dict()
    adapted = create_model("efficientnet_lite0", 1, weights=weights).backbone.state_dict()
    changed = {k for k in imagenet if not torch.equal(imagenet[k], adapted[k])}
    assert changed and all(k.startswith(top_prefix()) for k in changed)
    plain = pool_features(paths, tmp_path / "features", image_size=SIZE)
    shown = pool_features(paths, tmp_path / "features", image_size=SIZE, weights=weights)
    assert shown.path.parent != plain.path.parent and shown.features.shape == (30, 1280)
    assert not np.allclose(shown.features, plain.features, atol=1e-2)
    maps = pool_maps(paths, tmp_path / "features", image_size=SIZE)
    assert maps.computed == 0 and maps.features.shape[:2] == (30, 2)  # cached by the adaptation
    assert not np.array_equal(maps.features[:, 0], maps.features[:, 1])  # two views


def test_an_unfinished_adaptation_is_not_used(tmp_path):
    out = tmp_path / "adapted"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"half")
    assert adapted_weights(out) is None  # adapted.json is written last
    (out / INFO).write_text("{}")
    assert adapted_weights(out) == out / "model.safetensors"


def page_features(root) -> tuple[str, np.ndarray]:
    """The label page's named backbone and the pool features its learner computed."""
    from toontag.labelling.session import Session

    session = Session.open(root)
    try:
        session.learner.start()
        deadline = time.monotonic() + 120
        while session.learner.features is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return session.state()["model"]["backbone"], np.array(session.learner.features)
    finally:
        session.close()


def test_the_label_page_suggests_from_the_adapted_backbone_once_there_is_one(project):
    from toontag.labelling.adapted import adapt_project

    root, _ = project
    backbone, imagenet = page_features(root)
    assert backbone == "ImageNet"
    adapt_project(root, settings=AdaptSettings(max_steps=1, batch=8))
    backbone, adapted = page_features(root)
    assert backbone == "adapted to this show"
    assert not np.allclose(adapted, imagenet, atol=1e-2)


def test_train_on_a_project_starts_from_its_adapted_backbone_when_asked(project, tmp_path):
    from tests.test_cli_sweep import cli
    from toontag.labelling.adapted import adapt_project, project_backbone

    root, truth = project
    rows = "".join(f"{path},{';'.join(labels)}\n" for path, labels in list(truth.items())[:40])
    (root / "labels.csv").write_text("path,labels\n" + rows)
    assert project_backbone(root, "efficientnet_lite0") is None  # not adapted yet
    adapt_project(root, settings=AdaptSettings(max_steps=1, batch=8), image_size=SIZE)
    weights = project_backbone(root, "efficientnet_lite0")
    assert weights is not None and project_backbone(root / "labels.csv", "baseline") is None
    tiny = ["--model", "efficientnet_lite0", "--image-size", "32x48", "--epochs", "1"]
    code, out, err = cli(["train", "--data", root, "--out", tmp_path / "a", "--adapted", *tiny])
    assert code == 0, err
    assert "show-adapted backbone" in out
    assert json.loads((tmp_path / "a" / "config.json").read_text())["weights"] == str(weights)
    code, out, err = cli(["train", "--data", root, "--out", tmp_path / "b", *tiny])  # default
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "config.json").read_text())["weights"] is None
