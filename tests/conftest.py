"""Shared fixtures: the real dataset beside the repo, small slices of it, and isolated caches.

Tests never reach the network (the hub is switched offline) and never write outside tmp.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # a hub lookup fails at once instead of retrying
os.environ.setdefault("TOONTAG_CACHE", tempfile.mkdtemp(prefix="toontag-test-cache-"))

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KRAL_SAKIR = Path(os.environ.get("TOONTAG_DATA", REPO.parent / "shared" / "data" / "kral_sakir"))


@pytest.fixture(scope="session")
def kral_sakir() -> Path:
    if not (KRAL_SAKIR / "train").is_dir():
        pytest.fail(f"the Kral Sakir dataset is expected at {KRAL_SAKIR} (or set TOONTAG_DATA)")
    return KRAL_SAKIR


@pytest.fixture(scope="session")
def dataset(kral_sakir):
    from toontag.data.dataset import load_dataset

    return load_dataset(kral_sakir)


def write_manifest(path: Path, samples, *, split: bool = True) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "labels", "split"] if split else ["path", "labels"])
        for s in samples:
            row = [str(s.path), ";".join(s.labels)]
            writer.writerow([*row, s.split] if split else row)
    return path


@pytest.fixture(scope="session")
def small_manifest(dataset, tmp_path_factory) -> Path:
    """Every 40th frame of each split: 335 train and 84 test images covering all classes."""
    train = [s for s in dataset.samples if s.split == "train"][::40]
    test = [s for s in dataset.samples if s.split == "test"][::40]
    return write_manifest(tmp_path_factory.mktemp("slice") / "small.csv", train + test)


@pytest.fixture(scope="session")
def tiny_run(small_manifest, tmp_path_factory) -> Path:
    """A finished run of the paper's CNN at 32x48, two epochs on the small slice (~20 s)."""
    from toontag.config import TrainConfig
    from toontag.training.run import train

    run = tmp_path_factory.mktemp("tiny") / "run"
    config = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)
    train(config, data=small_manifest, run=run, progress=False)
    return run


def crash_at_epoch(epoch: int):
    """A callback that kills training at the start of `epoch` (0-based), as a power cut would."""
    import lightning as L

    class Crash(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == epoch:
                raise SystemExit("killed")

    return Crash()
