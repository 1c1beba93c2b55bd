import json
import shutil

import pytest

from toontag.config import TrainConfig
from toontag.data.dataset import load_dataset
from toontag.data.predictions import read_predictions
from toontag.evaluation.evaluate import evaluate_run
from toontag.evaluation.looks import RetestError, fingerprint, read_looks
from toontag.evaluation.predict import tag_images
from toontag.models.engine import load_engine
from toontag.models.trained import load_trained
from toontag.training.run import train


def test_prediction_columns_follow_the_model_not_the_data(kral_sakir, small_manifest, tmp_path):
    """Trained on the folder layout (classes in the paper's order), evaluated on a manifest
    (classes sorted): every probability column must hold the class its header names."""
    folder = tmp_path / "folder"
    for split in ("train", "test"):
        for path in sorted((kral_sakir / split).rglob("*.jpg"))[::60]:
            target = folder / path.relative_to(kral_sakir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    run = tmp_path / "run"
    config = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=1, lr=1e-3)
    train(config, data=folder, run=run, progress=False)
    trained = load_trained(run)
    assert list(trained.classes) == ["kral_sakir", "remzi", "fil_necati", "canan"]

    evaluate_run(run, data=small_manifest, split="test", resamples=10)
    paths, _, classes, probs = read_predictions(run / "predictions-test-small.csv")
    direct = list(tag_images(load_engine(run, "torch"), [paths[0], paths[1]]))
    for i in (0, 1):
        for c, p in zip(classes, probs[i], strict=True):
            assert p == pytest.approx(direct[i]["probabilities"][c], abs=1e-3)


def test_a_subset_without_one_class_is_evaluated_with_its_auc_undefined(
    tiny_run, small_manifest, tmp_path
):
    """The model knows canan, the data has none: scored with canan's AUC n/a, not refused."""
    from tests.conftest import write_manifest

    run = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run stays as it is
    test = load_dataset(small_manifest).subset("test").samples
    subset = write_manifest(tmp_path / "no_canan.csv", [s for s in test if "canan" not in s.labels])
    m = evaluate_run(run, data=subset, split="test", resamples=20)
    canan = m["per_class"]["canan"]
    assert canan["support"] == 0 and canan["auc"] is None and canan["ap"] is None
    assert all(m["per_class"][c]["auc"] is not None for c in ("kral_sakir", "remzi"))
    assert isinstance(m["auc_micro"], float) and isinstance(m["auc_macro"], float)
    assert "AUC n/a: undefined for canan" in (run / "metrics-test-no_canan.md").read_text()
    _, _, classes, _ = read_predictions(run / "predictions-test-no_canan.csv")
    assert classes == list(load_trained(run).classes)


def test_a_second_look_at_the_same_test_data_is_refused_unless_asked_for_and_recorded(
    tiny_run, small_manifest, tmp_path
):
    """The first test evaluation is recorded in the run; a second one at the same frames is
    refused naming the first, and with `retest` it is taken, counted and recorded."""
    run = shutil.copytree(tiny_run, tmp_path / "run")
    first = evaluate_run(run, data=small_manifest, split="test", resamples=10, commit="abc")
    assert first["test_look"] == 1
    [look] = read_looks(run)
    assert (look["look"], look["split"], look["data"], look["commit"]) == (
        1,
        "test",
        str(small_manifest),
        "abc",
    )
    assert look["frames"] == first["images"] and look["f1_micro"] == first["f1_micro"]
    assert look["fingerprint"] == fingerprint(
        [s.path for s in load_dataset(small_manifest).subset("test").samples]
    )
    written = (run / "metrics-test.json").read_text()
    with pytest.raises(RetestError) as refused:
        evaluate_run(run, data=small_manifest, split="test", resamples=10)
    assert str(refused.value) == (
        f"{run} was evaluated on this test data at {look['when']}; "
        "pass --retest to look again (recorded)"
    )
    assert (run / "metrics-test.json").read_text() == written  # nothing looked at, nothing kept
    second = evaluate_run(run, data=small_manifest, split="test", resamples=10, retest=True)
    assert second["test_look"] == 2 and second["f1_micro"] == first["f1_micro"]
    assert [x["look"] for x in read_looks(run)] == [1, 2]
    assert json.loads((run / "metrics-test.json").read_text())["test_look"] == 2


def test_validation_is_looked_at_freely_and_other_test_frames_are_a_first_look(
    tiny_run, small_manifest, tmp_path
):
    from tests.conftest import write_manifest

    run = shutil.copytree(tiny_run, tmp_path / "run")
    for _ in range(2):
        assert "test_look" not in evaluate_run(run, data=small_manifest, split="val", resamples=10)
    assert read_looks(run) == []
    evaluate_run(run, data=small_manifest, split="test", resamples=10)
    fewer = write_manifest(tmp_path / "fewer.csv", load_dataset(small_manifest).samples[:-1])
    assert evaluate_run(run, data=fewer, split="test", resamples=10)["test_look"] == 1
    assert len(read_looks(run)) == 2


def test_evaluate_resamples_whole_sequences_too(tiny_run, dataset, tmp_path):
    """On 240 consecutive test frames the metrics carry a second interval resampling whole
    sequences: fewer sequences than frames, drawn as groups (the same figures as the one
    bootstrap over the data's groups, which no frame-level resampling gives), wider than the
    frame interval, and both shown in the Markdown."""
    import numpy as np

    from tests.conftest import write_manifest
    from toontag.data.groups import frame_groups
    from toontag.data.predictions import predictions_for
    from toontag.evaluation.bootstrap import bootstrap
    from toontag.evaluation.metrics import micro_scores

    run = shutil.copytree(tiny_run, tmp_path / "run")
    manifest = write_manifest(tmp_path / "seq.csv", dataset.subset("test").samples[:240])
    m = evaluate_run(run, data=manifest, split="test", resamples=200)
    frames, sequences = m["ci95"], m["ci95_by_sequence"]
    assert sequences["unit"] == "sequence" and set(frames) < set(sequences)
    assert 20 < sequences["sequences"] < m["images"] == 240
    data = load_dataset(manifest, classes=load_trained(run).classes)
    rows, probs = predictions_for(data, run / "predictions-test-seq.csv")
    decided = probs >= np.array(load_trained(run).thresholds)

    def f1(y, d):
        return micro_scores(y, d)[2]

    groups = frame_groups(data, rows)
    assert len(np.unique(groups)) == sequences["sequences"]
    seed = load_trained(run).config.seed
    for by, interval in ((None, frames), (groups, sequences)):
        low, high = bootstrap(f1, data.targets[rows], decided, resamples=200, seed=seed, groups=by)
        assert interval["f1_micro"] == pytest.approx([low, high])
    width = {
        k: ci["f1_micro"][1] - ci["f1_micro"][0] for k, ci in (("f", frames), ("s", sequences))
    }
    assert width["s"] >= width["f"]
    text = (run / "metrics-test-seq.md").read_text()
    low, high = sequences["f1_micro"]
    assert (
        f"by sequence [{low:.4f}, {high:.4f}]" in text
        and f"{sequences['sequences']} sequences" in text
    )


def test_evaluations_on_other_data_keep_their_own_files(tiny_run, small_manifest, tmp_path):
    """The run's own data keeps ``metrics-test.json``; other data gets files named after it, so
    neither evaluation overwrites the other; other data of the same name replaces the earlier
    files and says so (``replaces``)."""
    from tests.conftest import write_manifest

    run = shutil.copytree(tiny_run, tmp_path / "run")
    test = load_dataset(small_manifest).subset("test").samples
    other = write_manifest(tmp_path / "other.csv", test[::2])
    own = evaluate_run(run, data=small_manifest, split="test", resamples=10)
    theirs = evaluate_run(run, data=other, split="test", resamples=10)
    first = json.loads((run / "metrics-test.json").read_text())
    second = json.loads((run / "metrics-test-other.json").read_text())
    assert (first["data"], first["images"]) == (str(small_manifest), own["images"])
    assert (second["data"], second["images"]) == (str(other), len(test[::2]))
    assert "replaces" not in first and "replaces" not in second
    assert len(read_predictions(run / "predictions-test.csv")[0]) == own["images"]
    assert len(read_predictions(run / "predictions-test-other.csv")[0]) == theirs["images"]
    assert (run / "metrics-test-other.md").is_file()
    from toontag.runs import evaluation_files

    assert evaluation_files(run, other, "test").metrics == run / "metrics-test-other.json"
    (tmp_path / "elsewhere").mkdir()
    namesake = write_manifest(tmp_path / "elsewhere" / "other.csv", test[1::2])
    again = evaluate_run(run, data=namesake, split="test", resamples=10)
    assert again["replaces"] == str(other)
    assert json.loads((run / "metrics-test-other.json").read_text())["data"] == str(namesake)


def test_entries_marked_unknown_are_left_out_and_counted(tiny_run, small_manifest, tmp_path):
    """A split with classes nobody answered (as a labelling project's validation frames have)
    is evaluated, not refused: the metrics count the unknown entries and equal those of the
    known entries alone."""
    from dataclasses import replace

    import numpy as np
    from sklearn import metrics as skm

    from tests.conftest import write_manifest
    from toontag.data.predictions import predictions_for

    def unknown(i, _):
        return ["remzi"] * (i % 3 == 0) + ["canan", "kral_sakir"] * (i % 5 == 0)

    run = shutil.copytree(tiny_run, tmp_path / "run")
    val = [replace(s, split="val") for s in load_dataset(small_manifest).subset("test").samples]
    manifest = write_manifest(tmp_path / "unsure.csv", val, unknown=unknown)
    m = evaluate_run(run, data=manifest, split="val", resamples=20)
    trained = load_trained(run)
    data = load_dataset(manifest, classes=trained.classes)
    rows, probs = predictions_for(data, run / "predictions-val-unsure.csv")
    y, known = data.targets[rows].astype(int), data.known[rows]
    decided = probs >= np.array(trained.thresholds)
    assert m["unknown_entries"] == int((~known).sum()) == 28 + 2 * 17
    assert m["f1_micro"] == pytest.approx(skm.f1_score(y[known], decided[known]))
    for k, name in enumerate(trained.classes):
        column = known[:, k]
        f1 = skm.f1_score(y[column, k], decided[column, k], zero_division=0)
        assert m["per_class"][name]["f1"] == pytest.approx(f1)
    text = (run / "metrics-val-unsure.md").read_text()
    assert f"{m['unknown_entries']} entries (an image's class) marked unknown" in text
