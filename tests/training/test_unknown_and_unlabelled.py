"""Labels that are unknown for a class, masked out of training; self-training from a pool."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from toontag.config import TrainConfig
from toontag.data.dataset import load_dataset
from toontag.errors import DataError
from toontag.labelling.unlabelled import MANIFEST, train_with_unlabelled
from toontag.training.module import ToonTagModule, masked_bce
from toontag.training.run import train
from toontag.training.thresholds import tune_thresholds

TINY = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)


def write(path, rows, header=("path", "labels", "unknown")):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_an_unknown_column_marks_entries_neither_present_nor_absent(dataset, tmp_path):
    a, b = (str(s.path) for s in dataset.samples[:2])
    data = load_dataset(
        write(tmp_path / "m.csv", [[a, "remzi", "canan"], [b, "canan", ""]]),
        classes=("remzi", "canan"),
    )
    assert data.known.tolist() == [[True, False], [True, True]]
    assert data.masked_targets.tolist() == [[1, -1], [0, 1]]
    assert data.targets.tolist() == [[1, 0], [0, 1]]


def test_a_class_both_labelled_and_unknown_is_one_line_naming_the_row(dataset, tmp_path):
    a = str(dataset.samples[0].path)
    with pytest.raises(DataError, match=r"m.csv:2: 'remzi' is both a label and unknown"):
        load_dataset(write(tmp_path / "m.csv", [[a, "remzi", "remzi"]]))


def test_an_unknown_name_outside_the_classes_is_named(dataset, tmp_path):
    a = str(dataset.samples[0].path)
    with pytest.raises(DataError, match=r"m.csv:2: unknown label 'cannan' \(did you mean"):
        load_dataset(
            write(tmp_path / "m.csv", [[a, "remzi", "cannan"]]), classes=("remzi", "canan")
        )


def test_the_loss_ignores_unknown_entries_exactly():
    logits = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    y = torch.tensor([[1.0, -1.0], [0.0, 1.0]])
    known = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[[0, 1, 1], [0, 0, 1]], y[[0, 1, 1], [0, 0, 1]]
    )
    assert torch.isclose(masked_bce(logits, y), known)
    full = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, full)
    assert torch.isclose(masked_bce(logits, full), plain)
    # whatever the unknown entry's logit, the loss and its gradient there are unchanged / zero
    moved = logits.clone().requires_grad_()
    masked_bce(moved, y).backward()
    assert moved.grad[0, 1] == 0


def test_thresholds_are_tuned_on_known_entries_only():
    y = np.array([[1, -1], [0, -1], [1, 1], [0, 0]], dtype=float)
    p = np.array([[0.8, 0.99], [0.2, 0.99], [0.7, 0.9], [0.1, 0.1]])
    only_known = tune_thresholds(y[2:, 1:], p[2:, 1:])
    assert tune_thresholds(y, p)[1] == only_known[0]


def test_training_masks_a_class_unknown_in_most_images(small_manifest, tmp_path):
    """A class unknown in every training image but a few: training runs, and the stored
    thresholds come from the known entries."""
    data = load_dataset(small_manifest)
    rows = []
    for i, s in enumerate(data.samples):
        unknown = "canan" if i % 3 and "canan" not in s.labels else ""
        rows.append([str(s.path), ";".join(s.labels), s.split, unknown])
    manifest = write(tmp_path / "m.csv", rows, ("path", "labels", "split", "unknown"))
    report = train(TINY, data=manifest, run=tmp_path / "run", progress=False)
    assert np.isfinite(report["val_metrics"]["loss"])
    assert len(report["thresholds"]) == 4


@pytest.fixture
def few_labels(dataset, tmp_path):
    """Every 60th train frame labelled (a manifest), every 90th from the 7th unlabelled."""
    train_split = [s for s in dataset.samples if s.split == "train"]
    labelled, pool = train_split[::60], [s.path for s in train_split[7::90]]
    manifest = write(
        tmp_path / "labels.csv", [[str(s.path), ";".join(s.labels), ""] for s in labelled]
    )
    return labelled, pool, manifest


def test_self_training_adds_confident_pool_frames_and_validates_on_labels(few_labels, tmp_path):
    labelled, pool, manifest = few_labels
    run = tmp_path / "run"
    # no bar (the tiny teacher is sure of nothing): every scored frame is pseudo-labelled
    report = train_with_unlabelled(
        TINY, data=manifest, run=run, unlabelled=pool, confident=0.5, limit=40, progress=False
    )
    how = report["pseudo_labels"]
    assert how["scored"] == min(len(pool), 40 * 3) and how["kept"] == 40
    student = load_dataset(run / MANIFEST)
    val = {Path(s.path).resolve() for s in student.samples if s.split == "val"}
    teacher_split = json.loads((run / "teacher" / "split.json").read_text())
    teacher_val = {Path(p).resolve() for p in teacher_split["val_images"]}
    assert val == teacher_val  # validation: the teacher's labelled frames, never pseudo-labelled
    assert report["train_images"] + report["val_images"] == len(labelled) + how["kept"]
    assert (run / "model.json").is_file() and (run / "teacher" / "model.json").is_file()
    # killed before the student finished: a rerun reuses the teacher and the pseudo-labels
    shutil.rmtree(run / "checkpoints")
    (run / "report.json").unlink()  # the student's, written last
    before = [(run / f).stat().st_mtime_ns for f in (MANIFEST, "teacher/model.json")]
    train_with_unlabelled(
        TINY, data=manifest, run=run, unlabelled=pool, confident=0.5, limit=40, progress=False
    )
    assert [(run / f).stat().st_mtime_ns for f in (MANIFEST, "teacher/model.json")] == before
    assert (run / "checkpoints" / "best.ckpt").is_file()


def sureness(probabilities: np.ndarray) -> np.ndarray:
    """Per frame, how sure the least sure class is: min over classes of max(p, 1 - p)."""
    return np.maximum(probabilities, 1 - probabilities).min(axis=1)


def test_pseudo_labels_are_the_teachers_confident_decisions_in_its_class_order(
    few_labels, tmp_path
):
    """The teacher's probabilities computed here, with a bar that keeps about half the pool:
    exactly the frames sure for every class are kept, each labelled with the classes the
    teacher puts at or above the bar, by name (a mix-up of class order or of the rule fails)."""
    from toontag.data.images import load_resized
    from toontag.models.engine import load_engine

    labelled, pool, manifest = few_labels
    teacher = tmp_path / "teacher"
    train(TINY, data=manifest, run=teacher, progress=False)
    engine = load_engine(teacher)  # the pseudo-labels' engine, so the bar can sit close
    pixels = np.stack([load_resized(p, engine.image_size)[0] for p in pool])
    probs = engine.probabilities(pixels)
    sure = np.sort(sureness(probs))
    # the bar: halfway across the widest gap between frames near the median
    middle = range(len(sure) // 4, 3 * len(sure) // 4)
    i = max(middle, key=lambda k: sure[k + 1] - sure[k])
    assert sure[i + 1] - sure[i] > 1e-5
    bar = float(sure[i] + sure[i + 1]) / 2
    run = tmp_path / "student"
    report = train_with_unlabelled(
        TINY,
        data=manifest,
        run=run,
        unlabelled=pool,
        teacher=teacher,
        confident=bar,
        limit=len(pool),
        progress=False,
    )
    expected = {
        Path(p).resolve(): {c for c, q in zip(engine.classes, row, strict=True) if q >= bar}
        for p, row, s in zip(pool, probs, sureness(probs), strict=True)
        if s >= bar
    }
    assert 0 < len(expected) < len(pool) and report["pseudo_labels"]["confident"] == len(expected)
    student = load_dataset(run / MANIFEST, classes=engine.classes)
    labelled_paths = {Path(s.path).resolve() for s in labelled}
    got = {
        Path(s.path).resolve(): set(s.labels)
        for s in student.samples
        if Path(s.path).resolve() not in labelled_paths
    }
    assert got == expected
    assert any(got.values()) and tuple(student.classes) == tuple(engine.classes)


def test_consistency_pulls_the_strong_view_to_the_weak_views_confident_decisions():
    config = TINY.replace(consistency=1.0, consistency_confidence=0.9, dropout=0.0)
    module = ToonTagModule(config.to_dict(), ["a", "b", "c"]).eval()
    weak = torch.logit(torch.tensor([[0.95, 0.5, 0.05], [0.5, 0.92, 0.5]]))
    strong = torch.randn(2, 3, 32, 48)
    loss = module.consistency_loss(weak, strong)
    logits = module(strong)
    sure = {(0, 0): 1.0, (0, 2): 0.0, (1, 1): 1.0}  # the unsure entries count as 0
    expected = (
        sum(
            F.binary_cross_entropy_with_logits(logits[i, j], torch.tensor(t))
            for (i, j), t in sure.items()
        )
        / 6
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert module.consistency_loss(weak, strong[:0]).item() == 0.0
    # only the rows with every class unknown get a strong view
    pixels = torch.randint(0, 255, (3, 32, 48, 3), dtype=torch.uint8)
    targets = torch.tensor([[1.0, 0, 0], [-1, -1, -1], [-1, 0, 1]])
    module.train()
    x, y, views, rows = module.on_after_batch_transfer((pixels, targets), 0)
    assert x.shape[0] == 3 and views.shape == (1, 3, 32, 48)
    assert rows.tolist() == [False, True, False]
    _, _, none, _ = module.on_after_batch_transfer((pixels[[0]], targets[[0]]), 0)
    assert none.shape[0] == 0 and module.consistency_loss(weak[:0], none).item() == 0.0
    plain = ToonTagModule(TINY.to_dict(), ["a", "b", "c"]).train()
    assert len(plain.on_after_batch_transfer((pixels, targets), 0)) == 2


def test_consistency_training_adds_pool_frames_with_every_class_unknown(few_labels, tmp_path):
    labelled, pool, manifest = few_labels
    run = tmp_path / "run"
    config = TINY.replace(consistency=1.0)  # as `train --set consistency=1` gives it
    report = train_with_unlabelled(
        config, data=manifest, run=run, unlabelled=pool, limit=30, progress=False
    )
    assert TrainConfig.load(run / "teacher" / "config.json").consistency == 0.0
    assert report["pseudo_labels"]["kind"] == "consistency"
    data = load_dataset(run / MANIFEST)
    added = [s for s in data.samples if not s.labels and len(s.unknown) == len(data.classes)]
    assert len(added) == 30 and all(s.split == "train" for s in added)
    val = {Path(s.path).resolve() for s in data.samples if s.split == "val"}
    teacher_val = json.loads((run / "teacher" / "split.json").read_text())["val_images"]
    assert val == {Path(p).resolve() for p in teacher_val}
    assert report["train_images"] + report["val_images"] == len(labelled) + 30
    assert TrainConfig.load(run / "config.json").consistency == 1.0
    # a second student of the same teacher: the teacher is reused where it is, not retrained
    before = (run / "teacher" / "model.json").stat().st_mtime_ns
    second = train_with_unlabelled(
        config,
        data=manifest,
        run=tmp_path / "second",
        teacher=run / "teacher",
        unlabelled=pool,
        limit=10,
        progress=False,
    )
    assert (run / "teacher" / "model.json").stat().st_mtime_ns == before
    assert not (tmp_path / "second" / "teacher").exists()
    assert second["val_images"] == report["val_images"]


def test_a_projects_audit_frames_are_its_test_split(dataset, tmp_path):
    """labels.csv has no split column: audit frames (drawn at random, never fitted) are test,
    every other labelled frame is train, so no label is held out unused."""
    a, b, c = (str(s.path) for s in dataset.samples[:3])
    rows = [[a, "remzi", "1"], [b, "", "0"], [c, "canan", ""]]
    data = load_dataset(write(tmp_path / "labels.csv", rows, ("path", "labels", "audit")))
    assert [s.split for s in data.samples] == ["test", "train", "train"]


def test_self_training_stops_when_the_teachers_validation_frames_are_not_in_the_data(
    dataset, tmp_path
):
    """A teacher trained on other data (or before frames were removed): its validation frames
    are not among the labels, and the student must not carve validation from pseudo-labels."""
    train_split = [s for s in dataset.samples if s.split == "train"][::400]
    manifest = write(
        tmp_path / "m.csv", [[str(s.path), ";".join(s.labels), ""] for s in train_split]
    )
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "report.json").write_text("{}")  # a finished teacher: not trained again
    (teacher / "model.json").write_text(json.dumps({"classes": list(dataset.classes)}))
    gone = [str(tmp_path / "elsewhere" / f"{i}.jpg") for i in range(3)]
    (teacher / "split.json").write_text(json.dumps({"val_images": gone}))
    with pytest.raises(DataError, match=r"3 of the teacher's 3 validation frames \(such as") as e:
        train_with_unlabelled(
            TINY.replace(consistency=1.0),
            data=manifest,
            run=tmp_path / "run",
            teacher=teacher,
            unlabelled=[s.path for s in dataset.samples[1::900]],
            limit=5,
            progress=False,
        )
    assert "\n" not in str(e.value) and not (tmp_path / "run" / MANIFEST).exists()


def test_self_training_never_takes_a_projects_audit_frames(tmp_path):
    """A frame offered as an audit frame and not answered yet is no unlabelled frame to learn
    from: once answered it is the project's test data."""
    from toontag.labelling.audit_record import AuditRecord
    from toontag.labelling.project import PoolFrame, Project
    from toontag.labelling.unlabelled import unlabelled_images

    project = Project.open(tmp_path / "p", create=True)
    frames = [PoolFrame(f"frames/x/{i}.jpg", "x", None, None, "image", 4, 4) for i in range(4)]
    with project.lock():
        project.write_pool(frames)
    (project.root / "frames/x").mkdir(parents=True)
    for frame in frames:
        (project.root / frame.path).write_bytes(b"\xff\xd8")
    AuditRecord(project.root).add(["frames/x/2.jpg"])
    found = unlabelled_images(project.root, [project.root / "frames/x/0.jpg"])
    assert [p.name for p in found] == ["1.jpg", "3.jpg"]


def test_a_students_manifest_keeps_weak_rows_weak(dataset, tmp_path):
    """Self-training on data with weak rows: the student trains on them at their weight, never
    as a person's labels; data without weak rows gets the manifest it always had."""
    from toontag.labelling.unlabelled import self_training_manifest

    a, b, c = (str(s.path) for s in dataset.samples[:3])
    for weight in ("0.5", "1"):
        rows = [[a, "remzi", "train", ""], [b, "canan", "train", weight]]
        data = load_dataset(write(tmp_path / "m.csv", rows, ("path", "labels", "split", "weight")))
        text = self_training_manifest(data, np.array([True, False]), [Path(c)], np.ones((1, 2)))
        (tmp_path / "s.csv").write_text(text)
        student = load_dataset(tmp_path / "s.csv", classes=data.classes)
        assert student.weights.tolist() == [1.0, float(weight), 1.0]
        assert ("weight" in text.splitlines()[0]) == (weight == "0.5")
        assert [s.split for s in student.samples] == ["val", "train", "train"]
