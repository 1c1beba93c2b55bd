"""`train()`: fit the recipe on a dataset into a run directory that survives being killed.

Lightning's callbacks are the paper's Keras callbacks: ReduceLROnPlateau (in the module),
EarlyStopping on val loss, and ModelCheckpoint keeping the best weights (restored at the end)
and the last epoch (for ``--resume``). A killed run loses at most the epoch in progress.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import platform
import time
from datetime import timedelta
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from toontag.config import TrainConfig
from toontag.data.datamodule import ToonDataModule
from toontag.data.dataset import load_dataset
from toontag.data.images import picture_aspect
from toontag.data.predictions import predictions_csv
from toontag.errors import RunError
from toontag.io import write_json, write_text
from toontag.models import resolve_model
from toontag.models.inference import default_device, map_batches, predict_arrays
from toontag.runs import (
    BEST,
    CHECKPOINTS,
    CONFIG,
    LAST,
    REPORT,
    SPLIT,
    check_new_run,
    mark_run,
    read_config,
    read_model_info,
    save_weights,
    write_model_info,
)
from toontag.training.distill import distillation_targets
from toontag.training.fit_progress import progress_callback
from toontag.training.module import VAL_F1, VAL_LOSS, ToonTagModule
from toontag.training.thresholds import tune_thresholds


def check_strategy(name: str) -> None:
    """A strategy name Lightning knows, else a `RunError` naming it."""
    from lightning.pytorch.strategies import StrategyRegistry

    if name not in ("auto", *StrategyRegistry.available_strategies()):
        raise RunError(
            f"strategy {name!r} is not a Lightning strategy (e.g. auto, ddp, ddp_spawn, fsdp)"
        )


def accelerator_settings(config: TrainConfig) -> dict:
    """bf16 autocast on a GPU, full precision on CPU, unless the config says otherwise."""
    check_strategy(config.strategy)
    on_gpu = torch.cuda.is_available()
    precision = config.precision
    if precision == "auto":
        precision = "bf16-mixed" if on_gpu else "32-true"
    return {
        "accelerator": "gpu" if on_gpu else "cpu",
        "precision": precision,
        "devices": config.devices,
        "strategy": config.strategy,
        "benchmark": on_gpu,  # cuDNN picks the fastest kernels for the fixed input size
    }


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def csv_logger(run: Path) -> CSVLogger:
    """Per-epoch metrics in ``run/metrics.csv``. Lightning's writer deletes an existing file
    when it starts; the rows of the epochs before a resume are written straight back."""
    path = run / "metrics.csv"
    rows = list(csv.DictReader(path.open(newline=""))) if path.is_file() else []
    logger = CSVLogger(run, name="", version="")
    if rows:
        writer = logger.experiment
        writer.metrics_keys, writer.metrics = list(rows[0]), rows
        writer.save()
    return logger


def backbone_features(module: ToonTagModule, dm: ToonDataModule) -> np.ndarray:
    """Pooled features of the frozen backbone for the train and val rows (zeros elsewhere)."""
    rows = np.concatenate([dm.parts.train, dm.parts.val])
    device = default_device()
    model = module.model.to(device).eval()
    feats = map_batches(
        model.pooled_features, dm.cache.images, rows, device=device, description="backbone features"
    )
    out = np.zeros((len(dm.cache.images), feats.shape[1]), np.float32)
    out[rows] = feats
    module.model.cpu()
    return out


# Lightning's info lines: the device banner ("GPU available: ...") and an advertising tip
# (litlogger) at every Trainer; toontag prints what a run is doing itself. Warnings still show.
LIGHTNING_INFO = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


def quiet_lightning() -> None:
    for name in LIGHTNING_INFO:
        logging.getLogger(name).setLevel(logging.WARNING)


def make_trainer(
    config: TrainConfig, run: Path, *, progress: bool, callbacks: list | None
) -> tuple[L.Trainer, ModelCheckpoint]:
    """The Trainer with the paper's callbacks, and the checkpoint callback that keeps the best."""
    best = ModelCheckpoint(
        dirpath=run / CHECKPOINTS,
        filename=BEST.removesuffix(".ckpt"),
        monitor=VAL_LOSS,
        mode="min",
        save_last=True,
        enable_version_counter=False,
    )
    quiet_lightning()
    extra = [progress_callback()] if progress else []
    if config.schedule == "plateau":  # the paper's; a cosine schedule runs its whole length
        extra.append(EarlyStopping(VAL_LOSS, mode="min", patience=config.early_stop_patience))
    if config.ema_decay:  # validated and checkpointed with the averaged weights
        extra.append(EMAWeightAveraging(decay=config.ema_decay))
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        logger=csv_logger(run),
        callbacks=[best, *extra, *(callbacks or [])],
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=50,
        use_distributed_sampler=False,  # the DataModule shards, unpadded for evaluation
        max_time=timedelta(minutes=config.max_minutes) if config.max_minutes else None,
        **accelerator_settings(config),
    )
    return trainer, best


def stop_reason(trainer: L.Trainer, config: TrainConfig) -> str:
    if trainer.early_stopping_callback and trainer.early_stopping_callback.stopped_epoch:
        return "early stopping"
    if trainer.current_epoch >= config.max_epochs:
        return "max epochs"
    return f"time limit ({config.max_minutes} min)"


def decision_thresholds(config: TrainConfig, module: ToonTagModule, dm: ToonDataModule) -> dict:
    """The per-class thresholds to store with the model: tuned on the validation split when
    the config asks and one exists, else the paper's single threshold."""
    n = len(dm.data.classes)
    default = [config.threshold] * n
    rows = dm.parts.val
    if not config.tune_thresholds:
        return {"thresholds": default, "thresholds_from": "config"}
    model = module.model.to(default_device()).eval()
    probs = predict_arrays(model, dm.cache.images, rows, description="tuning thresholds")
    module.model.cpu()
    targets = dm.data.masked_targets[rows]  # unknown entries (-1) are left out
    return {
        "thresholds": tune_thresholds(targets, probs, default=config.threshold),
        "thresholds_from": f"F1-optimal per class on the validation split ({len(rows)} images)",
    }


def train(
    config: TrainConfig | None,
    *,
    data: Path,
    run: Path,
    resume: bool = False,
    cache_root: Path | None = None,
    progress: bool = True,
    callbacks: list | None = None,
    classes=None,
    classes_from: str = "the given class list",
    on_dataset=None,
) -> dict:
    """Train into `run` (new, or resumed from its last checkpoint) and return its report.

    The classes are `classes` when given, else the data's own (``classes.txt``, or a
    manifest's labels); a resumed run keeps those it started with. `on_dataset(dataset)` is
    called once the data is read, before anything else is checked or decoded (the CLI shows
    the classes a manifest made there)."""
    started = time.perf_counter()
    run = Path(run)
    # recorded in split.json and report.json (and so are the frames' paths): a run is evaluated
    # and enrolled from any folder; absolute, not resolved, so a symlinked manifest's relative
    # paths still count from where the link is
    data = Path(data).absolute()
    last = run / CHECKPOINTS / LAST
    if resume:
        if not last.is_file():
            raise RunError(f"{run}: nothing to resume ({CHECKPOINTS}/{LAST} is missing)")
        config = read_config(run)
        classes = read_model_info(run)["classes"]
        classes_from = f"the run being resumed, {run}"
    elif last.exists():
        raise RunError(f"{run}: already holds a run; pass --resume or choose another --out")
    else:
        check_new_run(run)  # before any work: a user's own config.json is never replaced
    assert config is not None
    dataset = load_dataset(data, classes=classes, classes_from=classes_from)  # lists, no decoding
    if on_dataset is not None:
        on_dataset(dataset)
    resolve_model(config.model)  # an unknown name fails now, not after decoding the dataset
    check_strategy(config.strategy)
    L.seed_everything(config.seed, workers=True, verbose=False)

    dm = ToonDataModule.for_config(dataset, config, cache_root=cache_root)
    dm.prepare_data()
    dm.setup("fit")
    config = config.for_rows(len(dm.parts.train))  # an image budget becomes epochs
    if config.soft_labels:
        dm.train_targets = distillation_targets(
            dataset, dm.parts.train, Path(config.soft_labels), config.distill_weight
        )
    mark_run(run)
    aspect = picture_aspect([dataset.samples[r].path for r in dm.parts.train])  # for `index`
    if not resume:
        config.save(run / CONFIG)
        write_model_info(run, config, dataset.classes, picture_aspect=aspect)
    val_images = [str(dataset.samples[r].path) for r in dm.parts.val]  # for self-training
    write_json(run / SPLIT, {"data": str(data), **dm.parts.how, "val_images": val_images})

    module = ToonTagModule(config.to_dict(), list(dataset.classes), init_weights=not resume)
    if module.caches_features:
        dm.features = backbone_features(module, dm)
        module.on_features = True
    module = module.to(memory_format=torch.channels_last)  # GPU and CPU (see the module)
    trainer, best = make_trainer(config, run, progress=progress, callbacks=callbacks)
    fit_start = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=last if resume else None)
    seconds = time.perf_counter() - fit_start
    if not best.best_model_path:
        raise RunError(
            f"{run}: fitting stopped before the first validation "
            f"({stop_reason(trainer, config)}); allow more time or epochs"
        )
    # The best checkpoint on the validation split, evaluated by every process together
    # (outside the per-epoch log, which ends with the last epoch fitted).
    trainer.loggers = []
    [validated] = trainer.validate(module, datamodule=dm, ckpt_path="best", verbose=False)
    if not trainer.is_global_zero:
        return {}

    # EarlyStopping(restore_best_weights=True): the exported weights are the best epoch's.
    best_state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
    module.load_state_dict(best_state["state_dict"])
    save_weights(run, module.model)
    thresholds = decision_thresholds(config, module, dm)
    write_model_info(run, config, dataset.classes, thresholds["thresholds"], aspect)
    epochs = trainer.current_epoch
    report = {
        "model": config.model,
        "data": str(data),
        "device": device_name(),
        "epochs_run": epochs,
        "best_epoch": int(best_state["epoch"]) + 1,
        "stopped_by": stop_reason(trainer, config),
        "best_val_loss": float(best.best_model_score),
        # The best weights on val at the paper's threshold, computed by all `processes`.
        "val_metrics": {"loss": validated[VAL_LOSS], "f1_micro": validated[VAL_F1]},
        "processes": trainer.world_size,
        **thresholds,
        "fit_seconds": round(seconds, 1),
        # Everything: decoding (unless cached), the split, frozen features, fitting, export.
        "total_seconds": round(time.perf_counter() - started, 1),
        "train_images": len(dm.parts.train),
        "val_images": len(dm.parts.val),
        # Fitting only, validation passes included (head-only epochs on cached features);
        # None after a resume, whose epochs span two processes.
        "train_images_per_s": None if resume else round(len(dm.parts.train) * epochs / seconds, 1),
        "cache_build_seconds": round(dm.cache.seconds, 1),
        "skipped_images": dm.skipped,
        "resumed": resume,
    }
    if config.fold is not None:  # the held-out fold and test, by a model that never saw them
        write_fold_predictions(run, module, dm)
    write_json(run / REPORT, report)
    return report


def train_or_resume(config: TrainConfig, *, run: Path, **options) -> dict:
    """`train` made idempotent for jobs that may be killed: a finished run's report as it is,
    a killed one resumed from its last checkpoint, else a new run (`options` go to `train`)."""
    run = Path(run)
    if (run / REPORT).is_file():
        return json.loads((run / REPORT).read_text())
    resume = (run / CHECKPOINTS / LAST).is_file()
    return train(None if resume else config, run=run, resume=resume, **options)


def write_fold_predictions(run: Path, module: ToonTagModule, dm: ToonDataModule) -> None:
    """``predictions-heldout.csv`` and ``predictions-test.csv`` of a cross-fitting run."""
    model = module.model.to(default_device()).eval()
    for part in ("heldout", "test"):
        rows = getattr(dm.parts, part)
        probs = predict_arrays(model, dm.cache.images, rows, description=f"predicting {part}")
        write_text(
            run / f"predictions-{part}.csv", predictions_csv(dm.data, rows, probs, dm.data.classes)
        )
    module.model.cpu()
