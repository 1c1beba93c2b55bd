"""Lightning DataModule: paths, splits and loaders over the uint8 cache.

Batches leave the loader as uint8 NHWC pixels (a quarter of the bytes of float); the model
normalises and, when asked, augments them on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from toontag.data.cache import ImageCache, build_cache
from toontag.data.dataset import LabelledData
from toontag.data.split import (
    CUT_THRESHOLD,
    SOURCE_SIZE,
    hold_out_sequences,
    sequence_ids,
    thumbnails,
)
from toontag.errors import DataError

TEST_FRACTION = 0.2  # the paper's 80/20 split, for datasets that come without one


class CachedImages(Dataset):
    """Rows of the cache (pixels, or a frozen backbone's features) with their multi-hot
    targets; fetched a whole batch at a time."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, rows: np.ndarray):
        self.images, self.targets, self.rows = images, targets, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = self.rows[np.asarray(positions)]
        order = np.argsort(rows)  # memory-mapped reads are fastest in file order
        pixels = np.empty((len(rows), *self.images.shape[1:]), self.images.dtype)
        pixels[order] = self.images[rows[order]]
        return torch.from_numpy(pixels), torch.from_numpy(self.targets[rows])


def keep_batch(batch):
    """`__getitems__` already returns a batch; the loader must not collate it again."""
    return batch


@dataclass(frozen=True)
class Parts:
    """Cache rows of each part of the protocol, and how they were made."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    how: dict


def make_parts(
    data: LabelledData,
    cache: ImageCache,
    *,
    val_fraction: float,
    seed: int,
    cache_root: Path | None = None,
) -> Parts:
    """Train/val/test rows. The dataset's own split is kept; validation is held out of train by
    whole sequences unless the dataset has a val split; no split at all gets the paper's 80/20
    sequence split first. Images that failed to decode are left out everywhere."""
    splits = np.array([s.split or "" for s in data.samples])
    ids = np.array([s.frame_id for s in data.samples])
    how: dict = {"cut_threshold": CUT_THRESHOLD, "seed": seed}

    def held_out(rows: np.ndarray, fraction: float, name: str) -> np.ndarray:
        paths = [s.path for s in data.samples]
        source = build_cache(paths, size=SOURCE_SIZE, root=cache_root, description="thumbnails")
        seqs = sequence_ids(ids[rows], thumbnails(source.images[rows]))
        how[f"{name}_sequences_total"] = int(seqs.max() + 1) if len(seqs) else 0
        return hold_out_sequences(seqs, fraction, seed)

    if not (splits == "train").any():
        if (splits != "").any():
            raise DataError(f"{data.root}: the dataset has splits but none named 'train'")
        rows = np.arange(len(splits))
        mask = held_out(rows, TEST_FRACTION, "test")
        splits = np.where(mask, "test", "train")
        how["test"] = f"{TEST_FRACTION:.0%} held out by sequences (no split in the dataset)"
    if (splits == "val").any():
        how["val"] = "the dataset's own val split"
    else:
        train_rows = np.flatnonzero(splits == "train")
        splits[train_rows[held_out(train_rows, val_fraction, "val")]] = "val"
        how["val"] = f"{val_fraction:.0%} of train held out by whole sequences"
    ok = np.zeros(len(splits), bool)
    ok[cache.ok] = True
    parts = {name: np.flatnonzero((splits == name) & ok) for name in ("train", "val", "test")}
    how["sizes"] = {name: int(len(rows)) for name, rows in parts.items()}
    return Parts(**parts, how=how)


class ToonDataModule(L.LightningDataModule):
    def __init__(
        self,
        data: LabelledData,
        *,
        image_size: tuple[int, int],
        batch_size: int = 32,
        val_fraction: float = 0.1,
        seed: int = 0,
        cache_root: Path | None = None,
    ):
        super().__init__()
        self.data, self.image_size, self.batch_size = data, tuple(image_size), batch_size
        self.val_fraction, self.seed, self.cache_root = val_fraction, seed, cache_root
        self.cache: ImageCache | None = None
        self.parts: Parts | None = None
        self.features: np.ndarray | None = None  # set when a frozen backbone's output is cached

    def _cache(self) -> ImageCache:
        return build_cache(
            [s.path for s in self.data.samples], size=self.image_size, root=self.cache_root
        )

    def prepare_data(self) -> None:
        self._cache()  # local rank 0 decodes; the other ranks then map the finished file

    def setup(self, stage: str | None = None) -> None:
        if self.parts is not None:
            return
        self.cache = self._cache()
        self.parts = make_parts(
            self.data,
            self.cache,
            val_fraction=self.val_fraction,
            seed=self.seed,
            cache_root=self.cache_root,
        )
        if len(self.parts.train) == 0 or len(self.parts.val) == 0:
            raise DataError(f"{self.data.root}: too few readable images to train and validate")

    @property
    def skipped(self) -> list[dict]:
        """Images left out because they could not be decoded."""
        assert self.cache is not None
        return [
            {"path": str(self.data.samples[row].path), "reason": reason}
            for row, reason in sorted(self.cache.failed.items())
        ]

    def loader(self, rows: np.ndarray, *, shuffle: bool) -> DataLoader:
        inputs = self.cache.images if self.features is None else self.features
        dataset = CachedImages(inputs, self.data.targets, rows)
        sampler = self.shard(dataset, shuffle=shuffle)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            collate_fn=keep_batch,
        )

    def shard(self, dataset: Dataset, *, shuffle: bool) -> DistributedSampler | None:
        """Each process's share under DDP (None in one process). Evaluation shards are
        disjoint and unpadded, so metrics synced across processes count every image once,
        exactly as one process would."""
        trainer = getattr(self, "trainer", None)
        if trainer is None or trainer.world_size == 1:
            return None
        kind = DistributedSampler if shuffle else UnrepeatedDistributedSampler
        return kind(
            dataset,
            num_replicas=trainer.world_size,
            rank=trainer.global_rank,
            shuffle=shuffle,
            seed=self.seed,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.parts.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.parts.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.parts.test, shuffle=False)
