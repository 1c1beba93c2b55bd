"""Grad-CAM on a real (tiny) trained run: files, target layers, faithfulness, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from toontag.cli import main
from toontag.errors import ModelError
from toontag.explain.faithfulness import blob_scores, faithfulness, top_mask
from toontag.explain.gradcam import Explainer, default_target_layer
from toontag.explain.render import explain_files
from toontag.models import create_model
from toontag.models.trained import load_trained


@pytest.fixture(scope="module")
def run(small_manifest, tmp_path_factory):
    from toontag.config import TrainConfig
    from toontag.training.run import train

    out = tmp_path_factory.mktemp("explain") / "run"
    config = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=1, lr=1e-3)
    train(config, data=small_manifest, run=out, progress=False)
    return out


@pytest.mark.parametrize(
    ("model", "layer"),
    [("baseline", "features"), ("efficientnet_lite0", "bn2"), ("densenet121", "features")],
)
def test_the_target_layer_is_the_backbones_feature_map(model, layer):
    assert default_target_layer(create_model(model, 4), (64, 96)) == layer


def test_explain_writes_an_overlay_per_character_and_a_sheet(run, dataset, tmp_path):
    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    image = dataset.samples[0].path
    [result] = explain_files(
        explainer, [image], tmp_path, thresholds=trained.thresholds, character="remzi"
    )
    assert list(result["explained"]) == ["remzi"]
    assert result["files"] == [str(tmp_path / f"{image.stem}-remzi.png")]
    assert (tmp_path / "sheet.png").stat().st_size > 0
    cam = explainer.heatmaps(np.zeros((1, 32, 48, 3), np.uint8), ["canan"])
    assert cam.shape == (1, 32, 48) and cam.min() >= 0.0 and cam.max() <= 1.0


def test_masks_cover_exactly_the_fraction():
    rng = np.random.default_rng(0)
    assert top_mask(rng.random((32, 48)), 0.2).sum() == round(0.2 * 32 * 48)
    blobs = blob_scores((32, 48), (1, 2), rng)
    assert blobs.shape == (32, 48) and top_mask(blobs, 0.2).sum() == round(0.2 * 32 * 48)


def test_faithfulness_reports_each_character_it_gets_right(run, dataset):
    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    from toontag.data.images import load_resized

    samples = dataset.samples[::800][:20]
    images = np.stack([load_resized(s.path, trained.image_size)[0] for s in samples])
    targets = dataset.targets[[dataset.samples.index(s) for s in samples]]
    result = faithfulness(explainer, images, targets, [0.0] * 4)  # every positive is a hit
    assert result["pairs"] == int(targets.sum())
    for r in result["per_class"].values():
        assert r["pairs"] > 0 and set(r) >= {"mean_drop_gradcam", "mean_drop_random_blobs"}


class RegionModel:
    """A stand-in explainer whose one character is sure exactly while the leftmost 10 columns
    keep their texture (blurring them takes the probability from ~1 to ~0), with a heatmap
    that is told where to point: at those columns (`faithful`) or at the far side."""

    classes = ("left",)
    size = (32, 48)

    def __init__(self, faithful: bool):
        self.faithful = faithful

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        texture = images[:, :, :10].astype(np.float64).std(axis=(1, 2, 3)) / 73.9  # noise: ~1
        return 1 / (1 + np.exp(-12 * (texture - 0.5)))[:, None]

    def heatmaps(self, images: np.ndarray, names) -> np.ndarray:
        ramp = np.linspace(1, 0, 48) if self.faithful else np.linspace(0, 1, 48)
        return np.broadcast_to(ramp, (len(images), 32, 48)).copy()


def test_a_heatmap_on_what_the_model_uses_beats_random_masks_and_one_elsewhere_does_not():
    """Faithfulness tells a map that points at the evidence from one that does not: blurring
    the pixels it names lowers the probability far more than blurring random pixels or blobs
    (the evidence is 21% of the frame, the mask 20%), and the map pointing away does not."""
    images = np.random.default_rng(1).integers(0, 256, (12, 32, 48, 3), dtype=np.uint8)
    targets = np.ones((12, 1), int)
    good = faithfulness(RegionModel(True), images, targets, [0.5])["per_class"]["left"]
    assert good["pairs"] == 12 and good["faithful"]
    assert good["mean_drop_gradcam"] > 0.9  # the evidence blurred away: p ~1 -> ~0
    assert good["mean_drop_gradcam"] > 3 * good["mean_drop_random_blobs"]
    assert good["mean_drop_gradcam"] > 3 * good["mean_drop_random_pixels"]
    assert good["gradcam_beats_random_blobs"] == good["gradcam_beats_random_pixels"] == 1.0
    bad = faithfulness(RegionModel(False), images, targets, [0.5])["per_class"]["left"]
    assert not bad["faithful"] and abs(bad["mean_drop_gradcam"]) < 1e-6
    assert bad["mean_drop_random_blobs"] == pytest.approx(good["mean_drop_random_blobs"])


def cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["toontag", *map(str, args)])
    with pytest.raises(SystemExit) as e:
        main()
    return e.value.code, capsys.readouterr()


def test_bad_input_is_one_clear_line(run, dataset, monkeypatch, capsys, tmp_path):
    image = dataset.samples[0].path
    code, io = cli(
        monkeypatch, capsys, "explain", run, image, "--out", tmp_path, "--character", "garfield"
    )
    assert code == 1 and "unknown character 'garfield'" in io.err and len(io.err.splitlines()) == 1
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    code, io = cli(monkeypatch, capsys, "explain", run, bad, "--out", tmp_path)
    assert code == 1 and f"error: {bad}: not a readable image" in io.err
    code, io = cli(monkeypatch, capsys, "explain", tmp_path, image, "--out", tmp_path)
    assert code == 1 and "not a finished toontag run" in io.err


def test_an_ensemble_is_refused(run):
    from toontag.models.ensemble import Ensemble

    with pytest.raises(ModelError, match="ensemble"):
        Explainer(Ensemble([load_trained(run).model]), ["a"], (32, 48))
