"""Enrolling a new character by fine-tuning the top of the backbone: an ordinary run with one
more output, the old outputs distilled (close to the base's), within a time budget, and answers
that cannot leave it worse than the examples alone."""

import csv
import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from tests.conftest import write_manifest, write_project
from toontag.config import TrainConfig
from toontag.data.dataset import Sample
from toontag.data.images import load_resized
from toontag.errors import DataError, RunError
from toontag.evaluation.metrics import micro_scores
from toontag.labelling.confirm import CONFIRM_FILE, Confirmed
from toontag.labelling.enrol import ENROL_FILE
from toontag.labelling.enrol_finetune import enrol_finetuned
from toontag.models.trained import load_trained
from toontag.training.run import train

OLD = ("kral_sakir", "remzi", "fil_necati")
STEPS = 10  # a short fine-tune: 32x48 maps, a few seconds


@pytest.fixture(scope="module")
def base_run(dataset, tmp_path_factory):
    """A tiny 3-class Lite0 run that never heard of canan (one epoch at 32x48 on every 80th
    frame): the fine-tune cuts an EfficientNet backbone, which the paper's CNN is not."""
    samples = [
        Sample(s.path, tuple(c for c in s.labels if c != "canan"), s.split, s.frame_id)
        for s in dataset.samples[::80]
    ]
    folder = tmp_path_factory.mktemp("base")
    manifest = write_manifest(folder / "no-canan.csv", samples)
    config = TrainConfig(model="efficientnet_lite0", image_size=(32, 48), max_epochs=1, lr=1e-3)
    train(config, data=manifest, run=folder / "run", progress=False, classes=OLD)
    return folder / "run"


@pytest.fixture(scope="module")
def frames(dataset):
    """Canan examples, frames without her (both from train) and held frames: test frames the
    enrolment never sees, with whether each shows her."""
    train_part = [s for s in dataset.samples if s.split == "train"]
    yes = [s.path for s in train_part if "canan" in s.labels][::300][:12]
    no = [s.path for s in train_part if "canan" not in s.labels][::700][:12]
    held = [s for s in dataset.samples if s.split == "test"][::50]
    return yes, no, held


def probabilities(run, paths) -> np.ndarray:
    trained = load_trained(run)
    with torch.no_grad():
        return trained.model.probabilities(pixels(tuple(paths), trained.image_size)).numpy()


@functools.cache
def pixels(paths: tuple, size: tuple) -> torch.Tensor:
    return torch.from_numpy(np.stack([load_resized(p, size)[0] for p in paths]))


@pytest.fixture(scope="module")
def tuned(base_run, frames, tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned") / "run"
    done = enrol_finetuned(base_run, character="canan", examples=frames[0], out=out, steps=STEPS)
    return out, done


def test_old_outputs_stay_close_to_the_base_run_on_held_frames(base_run, tuned, frames):
    """Learning without forgetting keeps the old outputs close, not equal (the linear method's
    are equal): the top's features move and the distillation holds them. Tolerance: a mean
    change of 0.05 in probability, about half of what two seeds of this tiny base differ by on
    these frames (0.11; train it with seed=1 and compare), and at most 0.3 on any frame; the
    old micro-F1 on them within 0.05 of the base's."""
    out, done = tuned
    held = frames[2]
    base, new = load_trained(base_run), load_trained(out)
    assert new.classes == (*OLD, "canan") and new.thresholds[:3] == base.thresholds
    before = probabilities(base_run, [s.path for s in held])
    after = probabilities(out, [s.path for s in held])[:, :3]
    change = np.abs(after - before)
    assert change.mean() <= 0.05 and change.max() <= 0.3, (change.mean(), change.max())
    truth = np.array([[c in s.labels for c in OLD] for s in held])
    f1_before = micro_scores(truth, before >= np.asarray(base.thresholds))[2]
    f1_after = micro_scores(truth, after >= np.asarray(base.thresholds))[2]
    assert abs(f1_after - f1_before) <= 0.05
    record = json.loads((out / ENROL_FILE).read_text())
    assert record["method"] == "finetune" and record["settings"]["steps"] == STEPS
    assert record["phases"][0]["steps"] == STEPS and record["phases"][0]["stopped_by"] == "steps"
    assert len(record["frames"]["examples"]) == len(frames[0]) and record["seconds"] > 0
    assert json.loads((out / "model.json").read_text())["enrolled"] == ["canan"]


def test_the_new_class_separates_her_from_frames_without_her(tuned, frames):
    out, _ = tuned
    yes, no, held = frames
    p_yes = probabilities(out, yes)[:, 3]
    p_no = probabilities(out, no)[:, 3]
    assert (p_yes >= 0.5).mean() >= 0.9  # the examples, at the run's threshold (0.5)
    assert roc_auc_score(np.r_[np.ones(len(yes)), np.zeros(len(no))], np.r_[p_yes, p_no]) > 0.9
    truth = np.array(["canan" in s.labels for s in held])
    assert roc_auc_score(truth, probabilities(out, [s.path for s in held])[:, 3]) > 0.6


def test_a_budget_the_clock_ends_stops_the_training_and_the_run_is_the_linear_read_out(
    base_run, frames, tmp_path
):
    """With no time to train, the fine-tune is its start, the linear read-out: the same ranking
    of frames as ``enrol --method linear``, and the old outputs the base's."""
    from toontag.labelling.enrol import enrol

    done = enrol_finetuned(
        base_run, character="canan", examples=frames[0], out=tmp_path / "ft", seconds=0.5,
    )  # fmt: skip
    phase = done["phases"][0]
    assert phase["stopped_by"] == "time" and phase["steps"] < STEPS
    held = [s.path for s in frames[2]]
    enrol(
        base_run, character="canan", examples=frames[0], out=tmp_path / "linear",
    )  # fmt: skip
    tuned_p, linear_p = (
        probabilities(tmp_path / "ft", held),
        probabilities(tmp_path / "linear", held),
    )
    if phase["steps"] == 0:
        assert spearmanr(tuned_p[:, 3], linear_p[:, 3]).statistic > 0.999  # the same order
        np.testing.assert_allclose(tuned_p[:, :3], linear_p[:, :3], atol=1e-5)


def answered(out, dataset, kinds) -> Confirmed:
    """A person's truthful answers to the frames `out` offered: those `kinds` ("yes", "no")."""
    labels = {s.path.resolve(): s.labels for s in dataset.samples}
    offered = [Path(r["path"]) for r in csv.DictReader((out / CONFIRM_FILE).open())]
    yes = [p for p in offered if "canan" in labels[p.resolve()]]
    no = [p for p in offered if "canan" not in labels[p.resolve()]]
    return Confirmed(yes if "yes" in kinds else [], no if "no" in kinds else [])


def test_no_only_answers_leave_the_examples_only_fit_as_it_was(base_run, tuned, frames, dataset):
    """A person answering "no" to every offered frame without her: nothing shows whether
    recall was lost, so the answers are set aside and the result is the examples-only fine-tune
    itself (never worse), and no answered frame is offered again."""
    out, _ = tuned
    answers = answered(out, dataset, ("no",))
    assert len(answers.no) >= 5
    done = enrol_finetuned(
        base_run, character="canan", examples=frames[0], out=out.parent / "no",
        confirmed=answers, steps=STEPS,
    )  # fmt: skip
    assert done["guard"]["kept"] == "examples only" and len(done["phases"]) == 1
    alone = tuned[1]["phases"][0]  # the same seed: the same steps, to the last loss
    assert done["phases"][0]["loss"] == alone["loss"] and done["threshold"] == tuned[1]["threshold"]
    paths = [s.path for s in frames[2]]
    np.testing.assert_allclose(
        probabilities(out.parent / "no", paths), probabilities(out, paths), atol=1e-4
    )
    offered = {r["path"] for r in csv.DictReader((out.parent / "no" / CONFIRM_FILE).open())}
    assert not offered & {str(p.resolve()) for p in answers.no}
    # Said in one line, and the next offers are those nearest the examples: likelier yes.
    said = done["guard"]["said"]
    assert said.startswith(f"answers: all {len(answers.no)} no") and "nearest the ex" in said
    labels = {s.path.resolve(): s.labels for s in dataset.samples}
    first = [r["path"] for r in csv.DictReader((out / CONFIRM_FILE).open())]
    rate = [np.mean(["canan" in labels[Path(p)] for p in paths]) for paths in (first, offered)]
    print(f"canan among the offers: {rate[0]:.2f} first, {rate[1]:.2f} after all no")
    assert rate[1] > rate[0]


def test_mixed_answers_are_kept_only_where_they_decide_held_out_answers_better(
    base_run, tuned, frames, dataset
):
    """Yes and no answers: a third of each held out; the fine-tune with the rest is kept only
    if it decides those better than the examples-only one, else the result is that one."""
    out, _ = tuned
    answers = answered(out, dataset, ("yes", "no"))
    assert answers.yes and answers.no
    done = enrol_finetuned(
        base_run, character="canan", examples=frames[0], out=out.parent / "mixed",
        confirmed=answers, steps=STEPS,
    )  # fmt: skip
    guard = done["guard"]
    held = set(done["frames"]["held_out"])
    assert held & {str(p.resolve()) for p in answers.yes}  # both kinds held out
    assert held & {str(p.resolve()) for p in answers.no}
    assert len(done["phases"]) == 2 and done["phases"][1]["positives"] < len(frames[0]) + len(
        answers.yes
    )
    paths = [s.path for s in frames[2]]
    if guard["kept"] == "examples only":
        assert guard["with_answers"] <= guard["examples_only"]
        np.testing.assert_allclose(
            probabilities(out.parent / "mixed", paths), probabilities(out, paths), atol=1e-4
        )
    else:
        assert guard["with_answers"] > guard["examples_only"]


def test_a_projects_shots_lend_their_frames_and_its_pool_is_unlabelled(base_run, dataset, tmp_path):
    """With --project, the other frames of an example's shot are weak positives and the pool's
    frames are among the unlabelled."""
    train_part = [s for s in dataset.samples if s.split == "train"]
    canan = [s for s in train_part if "canan" in s.labels][::400][:4]
    others = [s for s in train_part if "canan" not in s.labels][::900][:8]
    project = tmp_path / "show"
    (project / "frames" / "ep").mkdir(parents=True)
    pool, labels = ["path,source,time,shot,reason,width,height"], ["path,labels"]
    for shot, sample in enumerate([*canan, *others]):
        for k in range(3):  # each frame three times over: a still shot
            name = f"frames/ep/{shot:02d}{k}.jpg"
            shutil.copy(sample.path, project / name)
            pool.append(f"{name},ep.mp4,{shot * 3 + k},{shot},regular,48,32")
    for shot in range(len(canan)):
        labels.append(f"frames/ep/{shot:02d}0.jpg,canan")
    write_project(project, "\n".join(labels) + "\n", "\n".join(pool) + "\n")
    examples = [project / f"frames/ep/{shot:02d}0.jpg" for shot in range(len(canan))]
    done = enrol_finetuned(
        base_run, character="canan", examples=examples, out=tmp_path / "run", project=project,
        steps=2,
    )  # fmt: skip
    mates = done["frames"]["shot_mates"]
    assert len(mates) == 2 * len(canan)  # the two other frames of each example's shot
    assert all(str(project) in m for m in mates)
    assert done["phases"][0]["shot_mates"] == len(mates)
    assert done["frames"]["unlabelled_from_project"] == 3 * 12 - len(canan) - len(mates)
    assert done["unlabelled"] > done["frames"]["unlabelled_from_project"]  # and the run's own


def test_bad_input_gets_the_one_line_errors(base_run, frames, tmp_path):
    with pytest.raises(DataError, match="at least 2 example images"):
        enrol_finetuned(base_run, character="canan", examples=frames[0][:1], out=tmp_path / "a")
    with pytest.raises(RunError):
        enrol_finetuned(tmp_path, character="canan", examples=frames[0], out=tmp_path / "b")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    with pytest.raises(DataError, match="broken.jpg: cannot be read as an image"):
        enrol_finetuned(
            base_run, character="canan", examples=[*frames[0], broken], out=tmp_path / "c"
        )


def test_enrol_method_finetune_on_the_command_line(monkeypatch, capsys, base_run, frames, tmp_path):
    from tests.test_cli import run_cli

    examples = [a for p in frames[0] for a in ("--examples", str(p))]
    out = tmp_path / "new"
    code, text, _ = run_cli(
        monkeypatch, capsys, "enrol", str(base_run), "--character", "canan", "--out", str(out),
        *examples, "--method", "finetune", "--seconds", "2", "--confirm", "4",
    )  # fmt: skip
    assert code == 0, text
    assert "enrolled canan" in text and "by fine-tuning" in text and "confirm.csv (4 frames" in text
    code, text, _ = run_cli(monkeypatch, capsys, "export", str(out))
    assert code == 0 and "agree 100.00%" in text, text
    code, text, err = run_cli(monkeypatch, capsys, "enrol", str(base_run), "--character", "x",
                              "--out", str(tmp_path / "x"), "--method", "deep")  # fmt: skip
    assert code == 2 and "--method is linear or finetune" in text + err
