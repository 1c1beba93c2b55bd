"""Real training on a small slice of Kral Sakir at 32x48: run directory, resume, evaluation."""

import json

import numpy as np
import pytest
import torch
from conftest import crash_at_epoch

from toontag.config import TrainConfig
from toontag.errors import RunError
from toontag.evaluation.evaluate import evaluate_run
from toontag.evaluation.predict import predict_files
from toontag.training.run import train
from toontag.training.rundir import load_trained

TINY = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)


@pytest.fixture(scope="module")
def trained_run(small_manifest, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tiny"
    report = train(TINY, data=small_manifest, run=run, progress=False)
    return run, report


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
    if m["per_class"]["canan"]["threshold"] != 0.5 or "at_0.5" in m:  # tuned: both reported
        assert m["at_0.5"]["per_class"]["canan"]["threshold"] == 0.5
    rows = (run / "predictions-test.csv").read_text().splitlines()
    assert len(rows) == 85 and rows[0].startswith("path,labels,p_canan")


def test_validation_split_is_reproduced_from_the_run(trained_run, small_manifest):
    run, _ = trained_run
    m = evaluate_run(run, data=small_manifest, split="val", resamples=10)
    split = json.loads((run / "split.json").read_text())
    assert m["images"] == split["sizes"]["val"]


def test_predict_needs_only_the_run_directory(trained_run, dataset, tmp_path):
    run, _ = trained_run
    trained = load_trained(run)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    results = predict_files(trained, [dataset.samples[0].path, bad])
    assert set(results[0]["probabilities"]) == set(trained.classes)
    assert all(c in trained.classes for c in results[0]["characters"])
    assert results[1] == {"path": str(bad), "error": "not a readable image"}


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
    from conftest import write_manifest

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
    assert all(
        torch.equal(v, imagenet[k])
        for k, v in trained.model.backbone.state_dict().items()
        if k in imagenet
    )
    val = evaluate_run(run, data=small_manifest, split="val", resamples=10)
    assert val["loss"] == pytest.approx(report["best_val_loss"], abs=1e-4)


def test_an_ensemble_is_evaluated_and_predicts_like_a_run(trained_run, small_manifest, tmp_path):
    from toontag.training.rundir import write_ensemble

    run, _ = trained_run
    single = evaluate_run(run, data=small_manifest, split="test", resamples=10)
    ens = tmp_path / "ens"
    write_ensemble(ens, [run, run])  # the mean of one model twice is that model
    m = evaluate_run(ens, data=small_manifest, split="test", resamples=10)
    assert m["model"] == "ensemble(baseline, baseline)"
    assert m["f1_micro"] == pytest.approx(single.get("at_0.5", single)["f1_micro"])
    assert m["loss"] == pytest.approx(single["loss"], abs=1e-5)
    with pytest.raises(RunError, match="at least two"):
        write_ensemble(tmp_path / "one", [run])
