"""A predictions file: per image, its path, given labels and one probability column per class
(``p_<class>``, `probability_column`: every table of probabilities toontag writes names them
so, and no class can collide with another column), as `evaluate` writes
``predictions-<split>.csv`` and cross-fitting runs write their out-of-fold files; read back by
the label-noise audit, the leakage check and distillation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toontag.data.dataset import listed_path
from toontag.errors import DataError, RunError
from toontag.io import csv_text, read_csv

PROBABILITY_PREFIX = "p_"


def probability_column(name: str) -> str:
    """The column of class `name`'s probability in every table toontag writes."""
    return f"{PROBABILITY_PREFIX}{name}"


def read_predictions(path: Path) -> tuple[list[str], list[set[str]], list[str], np.ndarray]:
    """A ``predictions-<split>.csv`` back: paths, label sets, class names and probabilities."""
    rows = read_csv(path, columns=("path", "labels"))
    if not rows:
        raise RunError(f"{path}: no predictions in it")
    classes = [
        k.removeprefix(PROBABILITY_PREFIX) for k in rows[0] if k.startswith(PROBABILITY_PREFIX)
    ]
    try:
        probs = np.array([[float(r[probability_column(c)]) for c in classes] for r in rows])
    except (TypeError, ValueError):
        raise RunError(f"{path}: a p_<class> column holds a value that is not a number") from None
    labels = [set(filter(None, r["labels"].split(";"))) for r in rows]
    return [r["path"] for r in rows], labels, classes, probs


def predictions_for(data, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A predictions CSV as dataset rows and probabilities in the data's class order; its
    paths may be absolute, relative to the working directory or to the data's root."""
    paths, _, classes, probs = read_predictions(path)
    if set(classes) != set(data.classes):
        raise DataError(f"{path}: classes {classes} differ from the data's {list(data.classes)}")
    index = {str(Path(s.path).resolve()): i for i, s in enumerate(data.samples)}
    rows = [index.get(str(listed_path(data.root, p)), -1) for p in paths]
    if -1 in rows:
        raise DataError(f"{path}: {paths[rows.index(-1)]} is not an image of {data.root}")
    return np.array(rows), probs[:, [classes.index(c) for c in data.classes]]


def predictions_csv(dataset, rows: np.ndarray, probs: np.ndarray, classes) -> str:
    """Per image: path, given labels and one probability column per class, named in the
    order of `classes`, the model's order that `probs` columns come in."""
    lines = (
        [dataset.samples[row].path, ";".join(dataset.samples[row].labels), *(f"{v:.5f}" for v in p)]
        for row, p in zip(rows, probs, strict=True)
    )
    return csv_text(["path", "labels", *map(probability_column, classes)], lines)
