"""`evaluate_run()`: a finished run on one split of a dataset -> metrics JSON, Markdown and
per-image predictions, written into the run directory (`runs.evaluation_files`: one set per
dataset). Intervals come twice: resampling single frames (`ci95`) and whole sequences of the
evaluated frames (`ci95_by_sequence`). Entries marked unknown are left out of the figures and
counted (``unknown_entries``)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np

from toontag.data.cache import build_cache
from toontag.data.datamodule import make_parts
from toontag.data.dataset import load_dataset
from toontag.data.groups import frame_groups
from toontag.data.predictions import predictions_csv
from toontag.errors import DataError
from toontag.evaluation.looks import begin_look
from toontag.evaluation.metrics import BOOTSTRAP_RESAMPLES, metrics_markdown, multilabel_metrics
from toontag.io import write_json, write_text
from toontag.models.inference import default_device, predict_arrays
from toontag.models.trained import load_trained
from toontag.runs import evaluated_data, evaluation_files, same_data

PAPER_THRESHOLD = 0.5  # the paper decides every character at 0.5
AT_PAPER_THRESHOLD = "at_0.5"  # key of the metrics at that threshold, beside the model's own


def split_rows(
    data, cache, split: str, *, val_fraction: float, seed: int, cache_root: Path | None = None
) -> np.ndarray:
    """Cache rows of `split`: the dataset's own split when it has one, else the training
    protocol's (the same sequence hold-out, from the run's seed and fraction). Weak rows
    (weight < 1: labels no person gave) are never scored."""
    if split in data.splits:
        rows = np.array([i for i, s in enumerate(data.samples) if s.split == split], dtype=int)
        rows = np.intersect1d(rows, cache.ok)
    elif split not in ("train", "val", "test"):
        raise DataError(f"{data.root}: no split named {split!r} (has: {data.splits})")
    else:
        parts = make_parts(data, cache, val_fraction=val_fraction, seed=seed, cache_root=cache_root)
        rows = getattr(parts, split)
    return rows[data.weights[rows] >= 1]


def evaluate_run(
    run: Path,
    *,
    data: Path,
    split: str = "test",
    cache_root: Path | None = None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    device: str | None = None,
    retest: bool = False,
    commit: str | None = None,
) -> dict:
    """A look at the test split is recorded in the run (`looks.begin_look`): `retest` takes a
    second look at test frames it was evaluated on (refused otherwise); `commit`, toontag's
    commit when the caller knows it, goes into that record. Where the files replace an
    evaluation of other data (two datasets of one name), the metrics say so: ``replaces``."""
    run = Path(run)
    trained = load_trained(run, device=device or default_device())
    # The data in the model's classes and order: a label the model does not know is an error
    # naming its row; a class with no image in the data is scored as such (AUC n/a).
    dataset = load_dataset(data, classes=trained.classes, classes_from=f"the model in {run}")
    cache = build_cache([s.path for s in dataset.samples], size=trained.image_size, root=cache_root)
    cfg = trained.config
    rows = split_rows(
        dataset,
        cache,
        split,
        val_fraction=cfg.val_fraction,
        seed=cfg.data_seed,
        cache_root=cache_root,
    )
    if len(rows) == 0:
        raise DataError(f"{data}: split {split!r} has no readable images")
    paths = [dataset.samples[r].path for r in rows]
    look = begin_look(run, data=data, split=split, paths=paths, retest=retest, commit=commit)
    start = time.perf_counter()
    probs = predict_arrays(trained.model, cache.images, rows, description=f"evaluating {split}")
    seconds = time.perf_counter() - start
    targets, known = dataset.targets[rows], dataset.known[rows]
    score = partial(
        multilabel_metrics,
        targets,
        probs,
        trained.classes,
        resamples=resamples,
        seed=cfg.seed,
        groups=frame_groups(dataset, rows, cache_root=cache_root),
        known=known,
    )
    metrics = score(trained.thresholds)
    if any(t != PAPER_THRESHOLD for t in trained.thresholds):  # tuned: the paper's rule too
        metrics[AT_PAPER_THRESHOLD] = score(PAPER_THRESHOLD)
    metrics |= {
        "run": str(run),
        "data": str(data),
        "split": split,
        "unknown_entries": int(np.count_nonzero(~known)),
        "model": cfg.model,
        "image_size": list(trained.image_size),
        "inference_images_per_s": round(len(rows) / seconds, 1),
        "skipped_images": [str(dataset.samples[r].path) for r in sorted(cache.failed)],
        **look.fields,
    }
    files = evaluation_files(run, data, split)
    earlier = evaluated_data(files)
    if earlier is not None and not same_data(earlier, data):
        metrics["replaces"] = earlier
    write_json(files.metrics, metrics)
    write_text(files.markdown, metrics_markdown(metrics, f"{cfg.model} on {split}"))
    write_text(files.predictions, predictions_csv(dataset, rows, probs, trained.classes))
    look.keep(metrics)
    return metrics
