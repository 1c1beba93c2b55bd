import json

import numpy as np
import pytest
import torch

from toontag.config import TrainConfig, parse_settings, preset
from toontag.errors import DataError, RunError
from toontag.training.module import CosineBudget, ToonTagModule, masked_bce
from toontag.training.run import train

TINY = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=1, lr=1e-3)


def test_settings_are_typed_and_checked():
    changes = parse_settings(
        [
            "lr=3e-4",
            "image_size=96x160",
            "augment=flip_crop",
            "tune_thresholds=false",
            "fold=2",
            "soft_labels=none",
            "max_epochs=7",
        ]
    )
    assert changes == {
        "lr": 3e-4,
        "image_size": (96, 160),
        "augment": "flip_crop",
        "tune_thresholds": False,
        "fold": 2,
        "soft_labels": None,
        "max_epochs": 7,
    }
    with pytest.raises(RunError, match="did you mean 'lr'"):
        parse_settings(["lrr=1"])
    with pytest.raises(RunError, match="'fast' is not a valid float"):
        parse_settings(["lr=fast"])
    with pytest.raises(RunError, match="augment must be one of none, flip_crop, affine"):
        TrainConfig().replace(**parse_settings(["augment=mixup"]))


def test_runs_written_with_a_boolean_augment_still_load():
    assert TrainConfig.from_dict({"augment": True}).augment == "affine"
    assert TrainConfig.from_dict({"augment": False}).augment == "none"


def test_cosine_warms_up_then_anneals_to_zero_over_the_steps():
    budget = CosineBudget(total_steps=100, warmup_steps=10, seconds=None)
    factors = [budget(step) for step in range(100)]
    assert factors[0] < factors[5] < factors[9] <= 1.0  # warm-up
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))
    assert factors[10] == pytest.approx(1.0, abs=0.01) and factors[99] < 0.01
    assert budget(100) == 0.0


def test_the_epochs_training_loss_is_the_mean_over_images_of_uneven_batches():
    module = ToonTagModule(TINY.replace(dropout=0.0).to_dict(), ["a", "b"]).eval()
    batches = [(torch.randn(n, 3, 32, 48), torch.randint(0, 2, (n, 2)).float()) for n in (3, 1)]
    losses = [module.training_step(batch, i).item() for i, batch in enumerate(batches)]
    logged = module.train_loss_sum.compute() / module.train_images.compute()
    expected = (3 * losses[0] + 1 * losses[1]) / 4  # per image, not the mean of the two batches
    assert logged.item() == pytest.approx(expected, rel=1e-5)
    assert masked_bce(module(batches[1][0]), batches[1][1]).item() == pytest.approx(losses[1])


def test_a_time_budget_ends_the_schedule_before_the_steps_do(monkeypatch):
    clock = iter([0.0, 0.0, 95.0])  # start and first step at t=0; the next at 95% of 100 s
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    budget = CosineBudget(total_steps=1000, warmup_steps=0, seconds=100)
    assert budget(0) == pytest.approx(1.0)
    assert budget(1) == pytest.approx(0.0)  # 1 step of 1000, but all the time


def test_a_fold_run_predicts_only_frames_it_never_trained_on(small_manifest, tmp_path):
    from toontag.data.predictions import read_predictions

    run = tmp_path / "fold1"
    train(TINY.replace(fold=1, folds=3), data=small_manifest, run=run, progress=False)
    held, _, classes, probs = read_predictions(run / "predictions-heldout.csv")
    test, *_ = read_predictions(run / "predictions-test.csv")
    split = json.loads((run / "split.json").read_text())
    assert split["sizes"]["heldout"] == len(held) > 0 and len(test) == split["sizes"]["test"]
    assert split["sizes"]["train"] + split["sizes"]["val"] + len(held) == 335  # all of train
    assert probs.shape == (len(held), len(classes)) and ((probs >= 0) & (probs <= 1)).all()


def test_distillation_blends_teacher_probabilities_into_the_labels(dataset, tmp_path):
    from toontag.data.predictions import predictions_csv
    from toontag.training.distill import distillation_targets

    rows = np.arange(0, 200, 10)
    teacher = np.full((len(rows), len(dataset.classes)), 0.5, np.float32)
    reordered = list(reversed(dataset.classes))  # the file's columns in another order
    teacher[:, 0] = 0.9  # for reordered[0], the data's last class
    path = tmp_path / "oof.csv"
    path.write_text(predictions_csv(dataset, rows, teacher, reordered))
    targets = distillation_targets(dataset, rows, path, weight=0.5)
    expected = dataset.targets[rows].astype(np.float32) * 0.5 + 0.25
    expected[:, -1] += 0.2  # 0.5 * 0.9 instead of 0.5 * 0.5 for the last class
    assert np.allclose(targets[rows], expected)
    untouched = np.setdiff1d(np.arange(300), rows)
    assert np.array_equal(targets[untouched], dataset.targets[untouched])
    with pytest.raises(DataError, match="no teacher probabilities for 1 training frames"):
        distillation_targets(dataset, np.append(rows, 5), path, weight=0.5)


@pytest.mark.parametrize("model", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_and_lite2_train_from_their_imagenet_weights(model, small_manifest, tmp_path):
    config = TrainConfig(
        model=model,
        image_size=(32, 56),
        max_epochs=1,
        batch_size=16,
        augment="flip_crop",
        schedule="cosine",
        optimizer="adamw",
    )
    report = train(config, data=small_manifest, run=tmp_path / model, progress=False)
    assert report["model"] == model and report["epochs_run"] == 1
    assert np.isfinite(report["best_val_loss"]) and report["best_val_loss"] < 0.7


def test_an_image_budget_sets_the_epochs_from_the_training_rows():
    labels = preset("labels")
    assert labels.for_rows(80).max_epochs == 60 and labels.for_rows(320).max_epochs == 15
    assert labels.for_rows(4000).max_epochs == 15  # never below min_epochs
    paper = preset("paper")
    assert paper.for_rows(10) == paper  # epochs as given


def test_the_cpu_preset_is_the_row_the_cpu_recipe_benchmark_kept():
    """`preset("cpu")` is results/cpu-recipe.md's kept row, as benchmarks/cpu_recipe.py
    builds it from its base settings and the row's own."""
    import runpy
    from pathlib import Path

    script = runpy.run_path(str(Path(__file__).parents[2] / "benchmarks" / "cpu_recipe.py"))
    kept = json.loads((Path(__file__).parents[2] / "results" / "cpu-recipe.json").read_text())
    row = kept["kept"]["row"]
    settings = parse_settings(script["BASE"] + script["ROWS"][row][1])
    assert preset(script["PRESET"]).replace(**settings) == preset("cpu")
