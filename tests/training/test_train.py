"""Real training on a small slice of Kral Sakir at 32x48: run directory, resume, evaluation."""

import json
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from tests.conftest import crash_at_epoch
from toontag.config import TrainConfig
from toontag.data.images import load_resized
from toontag.data.predictions import read_predictions
from toontag.errors import RunError
from toontag.evaluation.evaluate import evaluate_run
from toontag.evaluation.predict import tag_images
from toontag.models.engine import load_engine
from toontag.models.trained import load_trained
from toontag.training.run import train

TINY = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)


class RecordValidation(L.Callback):
    """Notes the images training validates on, to hold evaluation's val split against."""

    def on_fit_start(self, trainer, module):
        dm = trainer.datamodule
        self.paths = sorted(str(dm.data.samples[row].path) for row in dm.parts.val)


@pytest.fixture(scope="module")
def trained_run(small_manifest, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    recorder = RecordValidation()
    report = train(TINY, data=small_manifest, run=run, progress=False, callbacks=[recorder])
    return run, report | {"val_paths": recorder.paths}


def test_run_directory_is_self_contained(trained_run):
    run, report = trained_run
    for name in (
        "config.json",
        "model.json",
        "model.safetensors",
        "metrics.csv",
        "split.json",
        "report.json",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
    ):
        assert (run / name).is_file(), name
    info = json.loads((run / "model.json").read_text())
    assert info["classes"] == ["canan", "fil_necati", "kral_sakir", "remzi"]
    assert info["image_size"] == [32, 48]
    # Per-class thresholds tuned on the validation split are stored with the model.
    assert info["thresholds"] == report["thresholds"] and len(info["thresholds"]) == 4
    assert all(0.05 <= t <= 0.95 for t in info["thresholds"])
    assert "validation split" in report["thresholds_from"]
    assert TrainConfig.load(run / "config.json") == TINY
    assert report["epochs_run"] == 2 and 1 <= report["best_epoch"] <= 2
    split = json.loads((run / "split.json").read_text())
    assert split["sizes"]["train"] + split["sizes"]["val"] == 335
    assert (run / "metrics.csv").read_text().startswith("epoch,")


def test_evaluate_writes_metrics_and_predictions(trained_run, small_manifest):
    run, _ = trained_run
    m = evaluate_run(run, data=small_manifest, split="test", resamples=100)
    assert m["images"] == 84 and 0 <= m["f1_micro"] <= 1
    assert m["ci95"]["f1_micro"][0] <= m["f1_micro"] <= m["ci95"]["f1_micro"][1]
    assert json.loads((run / "metrics-test.json").read_text())["f1_micro"] == m["f1_micro"]
    assert (run / "metrics-test.md").read_text().startswith("# baseline on test")
    rows = (run / "predictions-test.csv").read_text().splitlines()
    assert len(rows) == 85 and rows[0].startswith("path,labels,p_canan")


def evaluated_at(thresholds, trained_run, small_manifest, tmp_path) -> tuple[dict, list]:
    """Test metrics of a copy of the run whose model.json holds `thresholds`, and its classes
    (a look at test data the copied run may have seen: asked for)."""
    run = shutil.copytree(trained_run[0], tmp_path / "run", ignore=shutil.ignore_patterns("*.ckpt"))
    info = json.loads((run / "model.json").read_text())
    (run / "model.json").write_text(json.dumps(info | {"thresholds": thresholds}))
    m = evaluate_run(run, data=small_manifest, split="test", resamples=10, retest=True)
    return m, info["classes"]


def test_tuned_thresholds_decide_and_the_papers_0_5_is_reported_beside(
    trained_run, small_manifest, tmp_path
):
    m, classes = evaluated_at([0.3, 0.4, 0.5, 0.6], trained_run, small_manifest, tmp_path)
    assert [m["per_class"][c]["threshold"] for c in classes] == [0.3, 0.4, 0.5, 0.6]
    assert [m["at_0.5"]["per_class"][c]["threshold"] for c in classes] == [0.5] * 4


def test_thresholds_of_0_5_are_reported_once(trained_run, small_manifest, tmp_path):
    m, classes = evaluated_at([0.5] * 4, trained_run, small_manifest, tmp_path)
    assert [m["per_class"][c]["threshold"] for c in classes] == [0.5] * 4
    assert "at_0.5" not in m


def test_evaluation_validates_on_the_images_training_validated_on(trained_run, small_manifest):
    run, report = trained_run
    m = evaluate_run(run, data=small_manifest, split="val", resamples=10)
    paths, _, _, _ = read_predictions(run / "predictions-val.csv")
    assert sorted(paths) == report["val_paths"] and len(paths) == m["images"]
    assert m["loss"] == pytest.approx(report["val_metrics"]["loss"], abs=1e-4)


def test_predict_needs_only_the_run_directory(trained_run, dataset, tmp_path):
    run, _ = trained_run
    trained = load_trained(run)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    paths = [s.path for s in dataset.samples[::2000]]
    results = list(tag_images(load_engine(run, "torch"), [*paths, bad]))
    pixels = np.stack([load_resized(p, trained.image_size)[0] for p in paths])
    with torch.no_grad():
        expected = trained.model.probabilities(torch.from_numpy(pixels)).numpy()
    for result, probs in zip(results[:-1], expected, strict=True):
        assert list(result["probabilities"]) == list(trained.classes)
        assert np.allclose(list(result["probabilities"].values()), probs, atol=5e-5)
        rule = zip(trained.classes, probs, trained.thresholds, strict=True)
        assert result["characters"] == [c for c, p, t in rule if p >= t]
    assert results[-1] == {"path": str(bad), "error": "not a readable image"}


def test_a_killed_run_resumes_from_its_last_epoch(small_manifest, tmp_path):
    run = tmp_path / "killed"
    config = TINY.replace(max_epochs=3)
    with pytest.raises(SystemExit):
        train(config, data=small_manifest, run=run, progress=False, callbacks=[crash_at_epoch(2)])
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert not (run / "model.safetensors").exists()
    with pytest.raises(RunError, match="already holds a run"):
        train(config, data=small_manifest, run=run, progress=False)
    report = train(None, data=small_manifest, run=run, resume=True, progress=False)
    assert report["epochs_run"] == 3 and report["resumed"]
    epochs = {line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]}
    assert epochs == {"0", "1", "2"}  # the log of the epochs before the kill survives


def test_nothing_to_resume(tmp_path, small_manifest):
    with pytest.raises(RunError, match="nothing to resume"):
        train(None, data=small_manifest, run=tmp_path, resume=True)


def test_unreadable_training_images_are_skipped_and_listed(dataset, tmp_path):
    from tests.conftest import write_manifest

    samples = list(dataset.subset("train").samples[::60])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(samples[0].path.read_bytes()[:400])
    manifest = write_manifest(tmp_path / "m.csv", samples)
    with manifest.open("a") as f:
        f.write(f"{broken},remzi,train\n")
    report = train(TINY.replace(max_epochs=1), data=manifest, run=tmp_path / "run", progress=False)
    assert [s["path"] for s in report["skipped_images"]] == [str(broken)]
    assert report["train_images"] + report["val_images"] == len(samples)
    assert np.isfinite(report["best_val_loss"])


def test_frozen_backbone_trains_the_head_on_cached_features(small_manifest, tmp_path):
    """The feature route must give the same model as the pixel route: the val loss logged
    during training equals the val loss of evaluating the exported model on pixels."""
    from toontag.models.lite import lite_imagenet

    config = TINY.replace(model="efficientnet_lite0", freeze_backbone=True, max_epochs=2)
    run = tmp_path / "frozen"
    report = train(config, data=small_manifest, run=run, progress=False)
    trained = load_trained(run)
    imagenet = lite_imagenet("tf_efficientnet_lite0").state_dict()
    backbone = trained.model.backbone.state_dict()
    assert len(backbone) > 200 and set(backbone) <= set(imagenet)  # every tensor is compared
    assert [k for k, v in backbone.items() if not torch.equal(v, imagenet[k])] == []
    val = evaluate_run(run, data=small_manifest, split="val", resamples=10)
    assert val["loss"] == pytest.approx(report["best_val_loss"], abs=1e-4)


def test_an_ensemble_is_evaluated_and_predicts_like_a_run(trained_run, small_manifest, tmp_path):
    from toontag.models.trained import write_ensemble

    run, _ = trained_run
    # The module's run may have been evaluated on test already: a look asked for again.
    single = evaluate_run(run, data=small_manifest, split="test", resamples=10, retest=True)
    ens = tmp_path / "ens"
    write_ensemble(ens, [run, run])  # the mean of one model twice is that model
    m = evaluate_run(ens, data=small_manifest, split="test", resamples=10)
    assert m["model"] == "ensemble(baseline, baseline)"
    assert m["f1_micro"] == pytest.approx(single.get("at_0.5", single)["f1_micro"])
    assert m["loss"] == pytest.approx(single["loss"], abs=1e-5)
    with pytest.raises(RunError, match="at least two"):
        write_ensemble(tmp_path / "one", [run])


def test_a_run_on_a_relative_manifest_is_evaluated_and_enrolled_from_another_folder(
    monkeypatch, capsys, small_manifest, tmp_path
):
    """`--data frames.csv` (its image paths relative to it too) is recorded as an absolute
    path, and so are the frames it validated on: `evaluate` (which says the data it took)
    and `enrol` work from another folder."""
    import csv
    import os

    from tests.test_cli import run_cli
    from toontag.data.dataset import load_dataset
    from toontag.labelling.enrol import enrol

    project = tmp_path / "project"
    project.mkdir()
    samples = load_dataset(small_manifest).samples[::3]
    with (project / "frames.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "labels", "split"])
        for s in samples:
            writer.writerow([os.path.relpath(s.path, project), ";".join(s.labels), s.split])
    monkeypatch.chdir(project)
    monkeypatch.delenv("TOONTAG_DATA", raising=False)
    train(TINY.replace(max_epochs=1), data=Path("frames.csv"), run=Path("run"), progress=False)
    run, manifest = project / "run", project / "frames.csv"
    recorded = json.loads((run / "split.json").read_text())
    assert recorded["data"] == str(manifest) and json.loads((run / "report.json").read_text())[
        "data"
    ] == str(manifest)
    assert recorded["val_images"] and all(Path(p).is_absolute() for p in recorded["val_images"])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()  # training's progress
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", run, "--resamples", "10")
    assert code == 0, err
    assert err.startswith(f"data: {manifest} (recorded by {run})\n")  # then progress bars
    examples = [s.path for s in samples if "canan" in s.labels][:4]
    done = enrol(run, character="newcomer", examples=examples, out=Path("enrolled"), confirm=0)
    assert done["unlabelled"] > 0 and (elsewhere / "enrolled" / "model.json").is_file()


def test_train_refuses_a_folder_of_the_users_and_retrains_one_it_made(
    monkeypatch, capsys, small_manifest, tmp_path
):
    """Before: `train --out DIR` wrote its config.json over the user's own; now a folder that
    holds files toontag did not write is refused before any work. A run killed before its
    first checkpoint left a folder toontag made: training into it again goes ahead."""
    from tests.test_cli import run_cli

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("the user's own")
    args = ["--data", small_manifest, "--out", mine, "--model", "baseline", "--epochs", "1"]
    code, out, err = run_cli(monkeypatch, capsys, "train", *args, "--image-size", "32x48")
    assert code == 1 and "Epoch" not in err
    assert err.strip() == (
        f"error: {mine}: holds files toontag did not write (config.json); choose another "
        "--out (a new or empty folder)"
    )
    assert (mine / "config.json").read_text() == "the user's own"
    killed = tmp_path / "killed"
    config = TINY.replace(max_epochs=1)
    with pytest.raises(SystemExit):
        train(
            config, data=small_manifest, run=killed, progress=False, callbacks=[crash_at_epoch(0)]
        )
    assert (killed / "config.json").is_file() and not (killed / "checkpoints").exists()
    report = train(config, data=small_manifest, run=killed, progress=False)
    assert report["epochs_run"] == 1
