"""Self-training: learning from the unlabelled rest of a pool with confident pseudo-labels.

`train_with_unlabelled` trains a teacher on the labelled frames (``RUN/teacher``, the plain
`train`), predicts unlabelled frames with it, and keeps those it is sure about for every class
(probability >= `confident` or <= 1 - `confident`: FixMatch's confidence rule, its 0.95 relaxed
to 0.9 for a teacher trained on a few hundred frames) with those hard labels, at most `limit`
of them drawn at random. A student with the same recipe and initialisation then trains on the
labels and the pseudo-labels together (``RUN/self-training.csv``, a manifest). It validates,
stops early and tunes its thresholds on the teacher's validation frames: labelled frames,
never pseudo-labelled ones. When they are not all among the labelled data (it changed since the
teacher was trained), self-training stops with one line.

With ``consistency`` > 0 in the student's recipe (``--set consistency=1``), the student learns
from the unlabelled frames by consistency under augmentation instead (FixMatch proper): up to
`limit` of them, drawn at random, join its manifest with every class unknown, and each step
adds a loss pulling the prediction on a strongly augmented view of them towards the confident
decisions on the weak view (`ToonTagModule.consistency_loss`). The teacher is then trained only
for its validation frames, which the student shares.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toontag.config import TrainConfig
from toontag.data.cache import build_cache
from toontag.data.dataset import LabelledData, load_dataset
from toontag.errors import DataError
from toontag.io import csv_text, write_json, write_text
from toontag.models.engine import engine_probabilities, load_engine
from toontag.runs import MODEL_INFO, REPORT, SPLIT, check_new_run, mark_run
from toontag.training.run import train_or_resume

CONFIDENT = 0.9  # every class at least this sure (or 1 - this) for a pseudo-label
LIMIT = 4000  # pseudo-labelled frames at most: each costs a training step per epoch
CANDIDATES = 3  # unlabelled frames predicted per pseudo-label wanted (prediction costs too)
TEACHER = "teacher"
MANIFEST = "self-training.csv"
PSEUDO_REPORT = "pseudo-labels.json"


def unlabelled_images(source: Path, labelled) -> list[Path]:
    """The images of `source` (a labelling project's pool, or a folder of images, searched
    recursively) that are not among the `labelled` paths, nor the project's audit frames:
    those offered as audit but not answered yet are its test data to come."""
    from toontag.data.dataset import PROJECT_FILE
    from toontag.data.walk import image_files
    from toontag.labelling.audit_record import AuditRecord
    from toontag.labelling.project import Project

    source = Path(source)
    if (source / PROJECT_FILE).is_file():
        project = Project.open(source)
        audits = AuditRecord(project.root)
        pool = [frame.path for frame in project.read_pool() if frame.path not in audits]
        paths = [project.root / path for path in pool]
    elif source.is_dir():
        paths = image_files([source])
    else:
        raise DataError(f"{source}: unlabelled images come from a labelling project or a folder")
    taken = {Path(p).resolve() for p in labelled}
    found = [p for p in paths if p.resolve() not in taken]
    if not found:
        raise DataError(f"{source}: no unlabelled images (every image there has labels)")
    return found


def pseudo_labels(
    teacher: Path,
    images: list[Path],
    *,
    confident: float = CONFIDENT,
    limit: int = LIMIT,
    seed: int = 0,
    cache_root: Path | None = None,
) -> tuple[list[Path], np.ndarray, dict]:
    """The images among `images` the `teacher` run is confident about, their (N, C) 0/1
    pseudo-labels, and what was done (counts, the rule)."""
    if not images:
        raise DataError("no unlabelled images to learn from")
    engine = load_engine(teacher)  # ONNX Runtime: twice PyTorch's speed on a CPU
    rng = np.random.default_rng(seed)
    scored = [images[i] for i in rng.permutation(len(images))[: limit * CANDIDATES]]
    cache = build_cache(scored, size=engine.image_size, root=cache_root)
    rows = cache.ok
    probs = engine_probabilities(engine, cache.images, rows)
    sure = ((probs >= confident) | (probs <= 1 - confident)).all(axis=1)
    kept = rows[sure][:limit]
    labels = (probs[sure][:limit] >= confident).astype(np.float32)
    how = {
        "kind": "pseudo-labels",
        "teacher": str(teacher),
        "rule": f"every class p >= {confident} or <= {1 - confident:.2f}; hard labels",
        "unlabelled": len(images),
        "scored": len(scored),
        "unreadable": len(scored) - len(rows),
        "confident": int(sure.sum()),
        "kept": len(kept),
        "positives_per_class": dict(
            zip(engine.classes, labels.sum(axis=0).astype(int).tolist(), strict=True)
        ),
    }
    return [scored[r] for r in kept], labels, how


def teacher_validation(dataset: LabelledData, teacher: Path) -> np.ndarray:
    """Which samples of `dataset` are the `teacher`'s validation frames (by resolved path); a
    `DataError` when any of them is not a labelled training frame of it (the data changed
    since the teacher was trained): the student would validate on other frames."""
    wanted = {Path(p).resolve() for p in json.loads((teacher / SPLIT).read_text())["val_images"]}
    paths = [Path(s.path).resolve() for s in dataset.samples]
    val = np.array(
        [p in wanted and s.split != "test" for p, s in zip(paths, dataset.samples, strict=True)]
    )
    missing = wanted - {p for p, v in zip(paths, val, strict=True) if v}
    if missing:
        raise DataError(
            f"{teacher}: {len(missing)} of the teacher's {len(wanted)} validation frames (such "
            f"as {min(missing)}) are not labelled training frames of {dataset.root}; train a "
            "new teacher on this data"
        )
    return val


def self_training_manifest(
    dataset: LabelledData, val: np.ndarray, pseudo: list[Path], pseudo_labels: np.ndarray | None
) -> str:
    """The student's manifest: every labelled image of `dataset` (in the teacher's validation
    frames `val` or in train, test rows kept as test), then the pseudo-labelled images as train
    (`pseudo_labels` None: every class unknown, for the consistency loss). Weak rows (weight
    < 1) keep their weight, in a ``weight`` column the manifest has only then."""
    weighted = bool((dataset.weights < 1).any())
    rows = []
    for sample, in_val in zip(dataset.samples, val, strict=True):
        path = str(Path(sample.path).absolute())
        split = "test" if sample.split == "test" else "val" if in_val else "train"
        weight = [sample.weight] if weighted else []
        rows.append([path, ";".join(sample.labels), split, ";".join(sample.unknown), *weight])
    pseudo_weight = [1.0] if weighted else []
    if pseudo_labels is None:
        unknown = ";".join(dataset.classes)
        rows += [[str(Path(p).absolute()), "", "train", unknown, *pseudo_weight] for p in pseudo]
    else:
        for path, row in zip(pseudo, pseudo_labels, strict=True):
            names = [c for c, on in zip(dataset.classes, row, strict=True) if on]
            rows.append([str(Path(path).absolute()), ";".join(names), "train", "", *pseudo_weight])
    return csv_text(["path", "labels", "split", "unknown", *(["weight"] if weighted else [])], rows)


def train_with_unlabelled(
    config: TrainConfig,
    *,
    data: Path,
    run: Path,
    unlabelled: list[Path],
    student: TrainConfig | None = None,
    teacher: Path | None = None,
    confident: float = CONFIDENT,
    limit: int = LIMIT,
    cache_root: Path | None = None,
    progress: bool = True,
    classes=None,
    classes_from: str = "the given class list",
    on_dataset=None,
) -> dict:
    """Teacher, pseudo-labels, student (see the module); the student's report, with the
    teacher's and the pseudo-labels' summaries. A rerun after a kill reuses a finished
    teacher and its pseudo-labels and resumes the student. `teacher`: where the teacher's run
    is (default ``RUN/teacher``; students of one teacher can share it)."""
    run = Path(run)
    teacher = run / TEACHER if teacher is None else Path(teacher)
    check_new_run(run)  # a rerun after a kill finds it marked
    mark_run(run)  # before the teacher makes its folder inside
    # The teacher learns from the labels alone (it never sees an unlabelled frame).
    train_or_resume(
        config.replace(consistency=0.0),
        data=data,
        run=teacher,
        cache_root=cache_root,
        progress=progress,
        classes=classes,
        classes_from=classes_from,
        on_dataset=on_dataset,
    )
    trained_classes = json.loads((teacher / MODEL_INFO).read_text())["classes"]
    manifest = run / MANIFEST
    if not manifest.is_file():
        dataset = load_dataset(data, classes=trained_classes)
        val = teacher_validation(dataset, teacher)  # before the pseudo-labels' work
        weight = (student or config).consistency
        if weight:
            order = np.random.default_rng(config.seed).permutation(len(unlabelled))[:limit]
            pseudo, labels = [unlabelled[i] for i in order], None
            how = {
                "kind": "consistency",
                "rule": f"every class unknown; FixMatch-style loss, weight {weight}",
                "unlabelled": len(unlabelled),
                "kept": len(pseudo),
            }
        else:
            pseudo, labels, how = pseudo_labels(
                teacher,
                unlabelled,
                confident=confident,
                limit=limit,
                seed=config.seed,
                cache_root=cache_root,
            )
        text = self_training_manifest(dataset, val, pseudo, labels)
        write_json(run / PSEUDO_REPORT, how)
        write_text(manifest, text)  # last: its presence means the pseudo-labels are complete
    report = train_or_resume(
        student or config,
        data=manifest,
        run=run,
        cache_root=cache_root,
        progress=progress,
        classes=trained_classes,
        classes_from=f"the teacher, {teacher}",
    )
    report["teacher"] = json.loads((teacher / REPORT).read_text())
    report["pseudo_labels"] = json.loads((run / PSEUDO_REPORT).read_text())
    write_json(run / REPORT, report)
    return report
