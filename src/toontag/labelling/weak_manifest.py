"""`toontag train --data PROJECT --propagate`: a project's answers extended within their shots
(propagate.py), then training on the labels and those weak rows together.

Before training, ``RUN/propagated.csv`` is written (whole, through an atomic rename; the
project's labels.csv is never touched): every labelled frame as labels.csv gives it, then the
weak rows, each with the group of the answer it extends and its `weight` (below 1). Training
reads that manifest; a rerun of the command reuses it and resumes the training.

Which answers, honestly: the split the run will make is drawn first, on the project's labels
exactly as training draws it (`assign_parts`: the recipe's fraction, seed and fold). Weak rows
never move a hold-out (data/weights.py), so training then validates on exactly the frames it
validates on without --propagate. Only the training part's answers propagate and fit the
model that accepts weak rows; the shots of validation, held-out and audit frames (those offered
as audit frames but not answered yet included: audit_record.py) are never propagated into. No
label that scores the model helps choose a weak one.

The current model: the label page's head (head.py) on the pool's cached Lite0 features
(features.py, PROJECT/features, computed for the frames that have none yet; the project's
show-adapted backbone's where `toontag label adapt` made one), fitted on those answers, at its
thresholds. Still copies are told by thumbs.npy, the pool's thumbnails; when
it does not match pool.csv the still rule is off and ``propagation.json`` says so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from toontag.config import TrainConfig
from toontag.data.datamodule import assign_parts
from toontag.data.dataset import PROJECT_FILE, LabelledData, load_dataset
from toontag.errors import DataError, RunError
from toontag.io import csv_text, write_json, write_text
from toontag.labelling.audit_record import AuditRecord
from toontag.labelling.head import fit_head
from toontag.labelling.project import Project
from toontag.labelling.propagate import WEIGHT, propagate
from toontag.runs import CHECKPOINTS, LAST, REPORT, SPLIT, check_new_run, mark_run
from toontag.training.run import train_or_resume

WEAK_SEEN = 2  # a run with weak rows sees this many times its recipe's image budget
WEAK_MIN_EPOCHS = 3  # ... and at least this many epochs (a self-trained student's recipe)
PROPAGATED = "propagated.csv"  # RUN/propagated.csv: the labels and the weak rows
PROPAGATION = "propagation.json"  # RUN/propagation.json: what was added, and how
COLUMNS = ("path", "labels", "split", "unknown", "group", "weight")


def weak_manifest(
    dataset: LabelledData,
    *,
    config: TrainConfig,
    weight: float = WEIGHT,
    cache_root: Path | None = None,
) -> tuple[str, dict]:
    """The text of the manifest training reads (`dataset`, a project's labels, and their weak
    shot-mates) and what was added (see the module); the project is `dataset.root`. The split
    is `config`'s; `cache_root` holds the thumbnails that split makes where nothing groups the
    frames."""
    project = Project.open(dataset.root)
    pool = project.read_pool()
    if not pool:
        raise DataError(f"{project.root}: the pool is empty: no frame to extend answers to")
    pool_row, parts, shots, excluded, _ = _closed_shots(dataset, project, pool, config, cache_root)
    in_pool = pool_row >= 0
    train = np.flatnonzero(in_pool & (parts == "train") & (dataset.weights >= 1))  # a person's
    train = train[np.unique(pool_row[train], return_index=True)[1]]  # a frame listed twice: once
    how = {"rule": "labelling/propagate.py", "answers": len(train), "excluded_shots": len(excluded)}
    rows = [_row(dataset, i) for i in range(len(dataset))]
    if not len(train):
        return csv_text(COLUMNS, rows), how | {"weak_rows": 0, "weights": [weight]}
    answers, known = dataset.targets[train], dataset.known[train]
    thumbs = project.read_thumbs()
    if thumbs is not None and len(thumbs) != len(pool):
        thumbs = None
    weak = propagate(
        shots,
        pool_row[train],
        answers,
        known,
        _decisions(project, pool, pool_row[train], answers, known, shots, config.seed),
        times=np.array([f.time or 0.0 for f in pool]),
        thumbs=thumbs,
        exclude_groups=excluded,
        weight=weight,
    )
    answer_of = dict(zip(pool_row[train].tolist(), train.tolist(), strict=True))
    groups = dataset.groups or ("",) * len(dataset)
    for k, row in enumerate(weak.rows):
        names = [c for c, on in zip(dataset.classes, weak.targets[k], strict=True) if on]
        unsure = [c for c, seen in zip(dataset.classes, weak.known[k], strict=True) if not seen]
        group = groups[answer_of[int(weak.source_rows[k])]]  # its answer's: they split alike
        path = str((project.root / pool[row].path).absolute())
        rows.append([path, ";".join(names), "train", ";".join(unsure), group, weak.weights[k]])
    still = "thumbs.npy" if thumbs is not None else "off: thumbs.npy does not match pool.csv"
    return csv_text(COLUMNS, rows), how | weak.summary(shots) | {"still_rule": still}


def weak_recipe(config: TrainConfig) -> TrainConfig:
    """`config` for labels plus their weak shot-mates: where it budgets images
    (`images_seen`), twice as many and 3 epochs at least, as a self-trained student sees,
    not the 15 epochs of the labels alone over a set about ten times larger."""
    if not config.images_seen:
        return config
    return config.replace(images_seen=WEAK_SEEN * config.images_seen, min_epochs=WEAK_MIN_EPOCHS)


def _decisions(project, pool, rows, answers, known, shots, seed: int) -> np.ndarray:
    """The label page's head fitted on the answers to the pool `rows`: its decisions on every
    pool frame (the backbone's features, the project's adapted one's where it has one, computed
    for the frames that have none yet)."""
    from toontag.labelling.adapted import FOLDER, adapted_weights
    from toontag.labelling.features import pool_features
    from toontag.labelling.session import FEATURES_FOLDER

    paths = [project.root / f.path for f in pool]
    weights = adapted_weights(project.root / FOLDER)
    cache = project.root / FEATURES_FOLDER
    features = pool_features(paths, cache, root=project.root, weights=weights).features
    own = np.where(shots >= 0, shots, len(pool) + np.arange(len(pool)))  # a still: its own
    head = fit_head(features, rows, answers, known, groups=own[rows], seed=seed)
    return head.probabilities(features) >= np.asarray(head.thresholds)


def train_propagated(
    config: TrainConfig,
    *,
    data: Path,
    run: Path,
    weight: float = WEIGHT,
    classes=None,
    classes_from: str = "the given class list",
    on_dataset=None,
    **options,
) -> dict:
    """Propagate, then train on the manifest (see the module); the run's report with
    ``propagation``: what was added (`weak_manifest`) and how many weak rows trained. A rerun
    after a kill reuses the manifest and resumes the training. `classes` and `on_dataset` as
    `train`'s, on the project's labels; `options` (`cache_root`, `progress`) go to `train`."""
    data, run = Path(data), Path(run)
    if not (data / PROJECT_FILE).is_file():
        raise DataError(
            f"{data}: --propagate extends a labelling project's answers; pass --data PROJECT "
            "(a folder made by toontag frames)"
        )
    dataset = load_dataset(data, classes=classes, classes_from=classes_from)
    if on_dataset is not None:
        on_dataset(dataset)
    manifest = run / PROPAGATED
    if not manifest.is_file():
        if (run / CHECKPOINTS / LAST).exists():
            raise RunError(f"{run}: already holds a run; choose another --out")
        check_new_run(run)
        cache_root = options.get("cache_root")
        text, how = weak_manifest(dataset, config=config, weight=weight, cache_root=cache_root)
        mark_run(run)
        write_json(run / PROPAGATION, how)
        write_text(manifest, text)  # last: its presence means the propagation is complete
    project = f"the project, {data}"
    report = train_or_resume(
        weak_recipe(config),
        data=manifest,
        run=run,
        classes=dataset.classes,
        classes_from=project,
        **options,
    )
    trained = json.loads((run / SPLIT).read_text()).get("weak", {}).get("train", 0)
    report["propagation"] = json.loads((run / PROPAGATION).read_text()) | {"trained": trained}
    write_json(run / REPORT, report)
    return report


def learnable_pool(
    dataset: LabelledData, *, config: TrainConfig, cache_root: Path | None = None
) -> list[Path]:
    """The pool frames of a project (`dataset.root`, its labels) a self-trained student may
    learn from unlabelled: not answered, not offered as audit frames, and in no shot of a
    validation, held-out or audit frame of the split `config` draws (as `weak_manifest`'s
    weak rows), so that no pseudo-label is a shot-mate of a frame that chooses or scores it."""
    project = Project.open(dataset.root)
    pool = project.read_pool()
    if not pool:
        return []
    pool_row, _, shots, excluded, offered = _closed_shots(
        dataset, project, pool, config, cache_root
    )
    taken = set(pool_row[pool_row >= 0].tolist()) | set(offered)
    return [
        project.root / f.path
        for i, f in enumerate(pool)
        if i not in taken and int(shots[i]) not in excluded
    ]


def _closed_shots(dataset, project, pool, config: TrainConfig, cache_root):
    """Each labelled frame's pool row (-1: not in the pool) and part in the split `config`
    draws, each pool frame's shot (`_shots`), the shots no weak or pseudo-label may come
    from (those of the answers outside the training part and of frames offered as audit), and
    the pool rows of the frames offered as audit."""
    row_of = {project.root / f.path: i for i, f in enumerate(pool)}
    pool_row = np.array([row_of.get(Path(s.path), -1) for s in dataset.samples], dtype=np.int64)
    fold = None if config.fold is None else (config.fold, config.folds)
    parts, _ = assign_parts(
        dataset,
        val_fraction=config.val_fraction,
        seed=config.data_seed,
        fold=fold,
        cache_root=cache_root,
    )
    offered = [
        row_of[f] for p in AuditRecord(project.root).offered if (f := project.root / p) in row_of
    ]
    closed = [*pool_row[(pool_row >= 0) & (parts != "train")], *offered]
    shots = _shots(pool)
    excluded = set(shots[np.asarray(closed, dtype=np.int64)].tolist()) - {-1}
    return pool_row, parts, shots, excluded, offered


def _shots(pool) -> np.ndarray:
    """Each pool frame's shot as an integer: its source and shot; -1 for a still image or a
    video frame whose shot is unknown (a whole video is no shot)."""
    keys = [(f.source, f.shot) if f.shot is not None else None for f in pool]
    number = {k: i for i, k in enumerate(dict.fromkeys(k for k in keys if k is not None))}
    return np.array([-1 if k is None else number[k] for k in keys], dtype=np.int64)


def _row(dataset: LabelledData, i: int) -> list:
    """A labelled frame's manifest row, as the project's labels.csv gives it."""
    s = dataset.samples[i]
    group = "" if dataset.groups is None else dataset.groups[i]
    path = str(Path(s.path).absolute())
    return [path, ";".join(s.labels), s.split or "", ";".join(s.unknown), group, s.weight]
