"""`toontag train --data PROJECT --propagate` end to end, on a project of 40 real frames in 8
shots (runs of consecutive Kral Sakir frames), one epoch of the paper's CNN at 32x48."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli_sweep import cli
from toontag.config import preset
from toontag.data.datamodule import assign_parts
from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset
from toontag.data.images import load_resized
from toontag.data.split import SOURCE_SIZE
from toontag.labelling.candidates import uint8_thumbnails
from toontag.labelling.weak_manifest import PROPAGATED, weak_recipe

SHOTS, FRAMES = 8, 5  # frames a shot: 0 and 4 answered in shots 0-5
AUDITED, OFFERED = 6, 7  # shot 6: frame 2 answered as an audit frame; 7: one only offered


@pytest.fixture(scope="module")
def built(dataset, tmp_path_factory) -> Path:
    """The project: pool.csv (one video, its shots), thumbs.npy, labels.csv, audit.csv."""
    train = dataset.subset("train").samples
    ids = np.array([s.frame_id for s in train])
    starts = [i for i in range(len(ids) - FRAMES) if ids[i + FRAMES - 1] - ids[i] == FRAMES - 1]
    spread = np.linspace(0, len(starts) - 1, SHOTS).astype(int)  # across the episodes
    picked = [train[starts[i] : starts[i] + FRAMES] for i in spread]
    root = tmp_path_factory.mktemp("propagate") / "project"
    (root / "frames" / "ep").mkdir(parents=True)
    (root / "project.json").write_text('{"format": 1, "sources": []}')
    (root / "classes.txt").write_text("\n".join(KRAL_SAKIR_CLASSES) + "\n")
    pool, labels, pixels = [], [], []
    for shot, frames in enumerate(picked):
        for k, sample in enumerate(frames):
            path = f"frames/ep/{sample.frame_id:06d}.jpg"
            shutil.copy(sample.path, root / path)
            pixels.append(load_resized(root / path, SOURCE_SIZE)[0])
            pool.append([path, "ep.mp4", f"{sample.frame_id / 25:.3f}", shot, "regular", 1, 1])
            if (shot < AUDITED and k in (0, 4)) or (shot == AUDITED and k == 2):
                labels.append([path, ";".join(sample.labels), int(shot == AUDITED)])
    write(root / "pool.csv", ["path", "source", "time", "shot", "reason", "width", "height"], pool)
    write(root / "labels.csv", ["path", "labels", "audit"], labels)
    offered = [pool[AUDITED * FRAMES + 2][0], pool[OFFERED * FRAMES + 1][0]]
    write(
        root / "audit.csv", ["path", "offered"], [[p, "2024-01-01T00:00:00+00:00"] for p in offered]
    )
    np.save(root / "thumbs.npy", uint8_thumbnails(pixels))
    return root


def write(path: Path, header, rows) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def test_propagate_trains_on_weak_shot_mates_outside_validation_and_audit_shots(built, tmp_path):
    before = (built / "labels.csv").read_bytes()
    run = tmp_path / "run"
    args = ["train", "--data", built, "--out", run, "--propagate", "--model", "baseline"]
    args += ["--image-size", "32x48", "--epochs", "1", "--no-pretrained"]
    code, out, err = cli(args)
    assert code == 0, err
    assert (built / "labels.csv").read_bytes() == before  # the project's labels are untouched
    report = json.loads((run / "report.json").read_text())
    split = json.loads((run / "split.json").read_text())
    how = report["propagation"]
    with (run / PROPAGATED).open() as f:
        rows = list(csv.DictReader(f))
    weak = [r for r in rows if float(r["weight"]) < 1]
    assert len(rows) - len(weak) == 13 and 0 < len(weak) == how["weak_rows"]
    assert {r["weight"] for r in weak} == {"0.5"} and how["weights"] == [0.5]
    assert split["weak"]["rows"] == split["weak"]["train"] == how["trained"] == len(weak)
    assert split["weak"]["left_out"] == 0  # validation's shots were never propagated into
    assert f"weak labels: {len(weak)} frames of {how['shots']} shots from" in out
    # The split is the one the project's labels get without --propagate: drawn first.
    project = load_dataset(built)
    parts, _ = assign_parts(project, val_fraction=0.1, seed=0)
    val = {str(s.path.resolve()) for s, p in zip(project.samples, parts, strict=True) if p == "val"}
    assert val and {str(Path(p).resolve()) for p in split["val_images"]} == val
    assert how["answers"] == (parts == "train").sum() == 12 - len(val)
    # Weak rows: only in training answers' shots, never an answered or audit frame, each with
    # the group and the labels of an answer of its shot.
    shot_of = {r["path"]: r["group"] for r in rows}
    samples = zip(project.samples, parts, strict=True)
    closed = {shot_of[str(s.path.absolute())] for s, p in samples if p != "train"}
    answered = {r["path"] for r in rows if float(r["weight"]) == 1}
    for r in weak:
        assert r["split"] == "train" and r["path"] not in answered
        assert r["group"] not in closed and f"shot {AUDITED}" not in r["group"]
        assert f"shot {OFFERED}" not in r["group"]
        mates = {a["labels"] for a in rows if a["group"] == r["group"] and a["path"] in answered}
        assert r["labels"] in mates
    assert how["excluded_shots"] == len(closed) + 1  # + the shot of the frame only offered
    assert how["still_rule"] == "thumbs.npy"
    assert how["by_agreement"] + how["by_still_copy"] == len(weak) <= how["candidates"]
    # A rerun finds the run finished: nothing is propagated or trained again.
    stamp = (run / PROPAGATED).stat().st_mtime_ns
    assert cli(args)[0] == 0 and (run / PROPAGATED).stat().st_mtime_ns == stamp


def test_propagate_needs_a_project_and_runs_alone(small_manifest, built, tmp_path):
    code, _, err = cli(["train", "--data", small_manifest, "--out", tmp_path / "r", "--propagate"])
    assert code == 1 and err.count("\n") == 1 and "--propagate extends a labelling project" in err
    args = ["train", "--data", built, "--out", tmp_path / "s", "--propagate"]
    code, _, err = cli([*args, "--unlabelled", built])
    assert code == 2 and "not with --unlabelled" in err


def test_train_on_a_project_takes_the_validated_path_unless_told_otherwise(built, tmp_path):
    """No option named: the `labels` recipe (112x192, thresholds tuned on validation, an image
    budget) with propagation, whose runs see twice the budget; `--no-propagate` and `--epochs`
    are obeyed. The budget is cut to 40 images here to keep the test short."""
    tiny = ["--model", "baseline", "--no-pretrained", "--set", "images_seen=40"]

    def config(run: Path) -> dict:
        return json.loads((run / "config.json").read_text())

    code, out, err = cli(["train", "--data", built, "--out", tmp_path / "a", *tiny])
    assert code == 0, err
    assert (tmp_path / "a" / PROPAGATED).is_file() and "weak labels:" in out
    recipe = config(tmp_path / "a")
    assert recipe["image_size"] == [112, 192] and recipe["tune_thresholds"]
    assert recipe["images_seen"] == 80 and recipe["min_epochs"] == 3  # twice, with weak rows
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["epochs_run"] == recipe["max_epochs"] == max(3, -(-80 // report["train_images"]))

    args = ["train", "--data", built, "--out", tmp_path / "b", *tiny, "--no-propagate"]
    code, out, err = cli(args)
    assert code == 0, err
    assert not (tmp_path / "b" / PROPAGATED).exists() and "weak labels:" not in out
    recipe = config(tmp_path / "b")
    assert recipe["images_seen"] == 40 and recipe["max_epochs"] == recipe["min_epochs"] == 15

    plain = ["--model", "baseline", "--no-pretrained", "--epochs", "2"]  # epochs named: no budget
    code, _, err = cli(["train", "--data", built, "--out", tmp_path / "c", *plain])
    assert code == 0, err
    assert config(tmp_path / "c")["images_seen"] == 0 and config(tmp_path / "c")["max_epochs"] == 2


def test_a_run_with_weak_rows_sees_twice_the_image_budget_in_3_epochs_at_least():
    """The label-efficiency runs' epochs: 1,201 rows at 100 labels ran 8, 4,230 at 400 ran 3."""
    weak = weak_recipe(preset("labels"))
    assert weak.for_rows(1201).max_epochs == 8 and weak.for_rows(4230).max_epochs == 3
    assert weak_recipe(preset("paper")) == preset("paper")  # no image budget: epochs as given


def test_train_on_a_project_self_trains_where_validation_chose_it(built, tmp_path, monkeypatch):
    """At a budget where validation chose self-training, `train --data PROJECT` with no method
    named trains a teacher, pseudo-labels the project's pool frames outside the shots of its
    validation and audit frames, and trains the student the benchmark validated (twice the
    image budget, its pseudo-label limit); propagation is off. A rerun continues that run even
    where the labels now point elsewhere."""
    from toontag.labelling import recommended

    monkeypatch.setattr(recommended, "CHOSEN", {50: ("selftrain", "active")})
    monkeypatch.setattr(recommended, "PSEUDO_LIMIT", 5)
    tiny = ["--model", "baseline", "--no-pretrained", "--set", "images_seen=40"]
    run = tmp_path / "st"
    code, out, err = cli(["train", "--data", built, "--out", run, *tiny])
    assert code == 0, err
    assert "12 labels: selftrain, what validation chose at 50 labels" in out  # not the audit one
    assert not (run / PROPAGATED).exists() and (run / "teacher" / "report.json").is_file()
    # Learnable: the unanswered frames of the shots whose answers all train (3 a shot).
    val = json.loads((run / "teacher" / "split.json").read_text())["val_images"]
    with (built / "pool.csv").open() as f:  # shot by shot, FRAMES a shot
        shot_of = {Path(r["path"]).name: k // FRAMES for k, r in enumerate(csv.DictReader(f))}
    closed = {shot_of[Path(p).name] for p in val}
    assert closed and not closed & {AUDITED, OFFERED}
    pseudo = json.loads((run / "pseudo-labels.json").read_text())
    assert pseudo["unlabelled"] == 3 * (AUDITED - len(closed))
    assert pseudo["scored"] == min(15, pseudo["unlabelled"]) >= 3 * pseudo["kept"]  # 3 a place
    student = json.loads((run / "config.json").read_text())
    teacher = json.loads((run / "teacher" / "config.json").read_text())
    assert teacher["images_seen"] == 40 and student["images_seen"] == 80
    monkeypatch.setattr(recommended, "CHOSEN", {50: ("finetune+propagate", "random")})
    code, out, err = cli(["train", "--data", built, "--out", run, *tiny])
    assert code == 0, err
    assert "continuing the run" in out and not (run / PROPAGATED).exists()


def test_self_training_falls_back_to_propagation_with_no_pool_frame_to_learn_from(
    built, tmp_path, monkeypatch
):
    """A project whose pool holds only answered frames: nothing to pseudo-label, so the
    default path extends the answers within their shots instead, and says so."""
    from toontag.labelling import recommended

    project = tmp_path / "project"
    shutil.copytree(built, project)
    answered = {r["path"] for r in csv.DictReader((project / "labels.csv").open())}
    with (project / "pool.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["path"] in answered]
    write(project / "pool.csv", list(rows[0]), [list(r.values()) for r in rows])
    monkeypatch.setattr(recommended, "CHOSEN", {50: ("selftrain", "active")})
    tiny = ["--model", "baseline", "--no-pretrained", "--set", "images_seen=40"]
    code, out, err = cli(["train", "--data", project, "--out", tmp_path / "r", *tiny])
    assert code == 0, err
    assert "no unlabelled pool frame to learn from: finetune+propagate" in out
    assert (tmp_path / "r" / PROPAGATED).is_file() and not (tmp_path / "r" / "teacher").exists()


def test_unlabelled_frames_from_the_project_itself_skip_held_out_shots(built):
    """`--unlabelled PROJECT` on the project trained on: its learnable pool with the validated
    student and limit; `--unlabelled FOLDER`: every unlabelled image there, the defaults."""
    from toontag.labelling.recommended import PSEUDO_LIMIT, unlabelled_source

    config = preset("labels")
    own, options = unlabelled_source(built, built, config=config)
    assert options["limit"] == PSEUDO_LIMIT and options["student"] == weak_recipe(config)
    folder, defaults = unlabelled_source(built, built / "frames", config=config)
    assert defaults == {} and len(folder) == SHOTS * FRAMES - 13  # every unanswered image
    assert {p.resolve() for p in own} <= {p.resolve() for p in folder}
    assert len(own) <= len(folder) - (FRAMES - 1) - FRAMES  # not shots 6 and 7 at least
    audit_shots = {AUDITED, OFFERED}
    with (built / "pool.csv").open() as f:
        shot_of = {built / r["path"]: int(r["shot"]) for r in csv.DictReader(f)}
    assert not {shot_of[p] for p in own} & audit_shots
