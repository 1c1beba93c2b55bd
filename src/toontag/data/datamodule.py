"""Lightning DataModule: paths, splits and loaders over the uint8 cache.

Batches leave the loader as uint8 NHWC pixels (a quarter of the bytes of float); the model
normalises and, when asked, augments them on the device.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from toontag.config import TrainConfig
from toontag.data.cache import ImageCache, build_cache
from toontag.data.dataset import LabelledData
from toontag.data.groups import dataset_sequences, group_index
from toontag.data.split import CUT_THRESHOLD, hold_out_sequences
from toontag.data.weights import held_by_human_rows, train_only
from toontag.errors import DataError

TEST_FRACTION = 0.2  # the paper's 80/20 split, for datasets that come without one


class CachedImages(Dataset):
    """Rows of the cache (pixels, or a frozen backbone's features) with their multi-hot
    targets, and their loss weights when given (data with weak rows); fetched a whole batch at
    a time."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, rows: np.ndarray, weights=None):
        self.images, self.targets, self.rows = images, targets, np.asarray(rows)
        self.weights = weights

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, positions: list[int]) -> tuple[torch.Tensor, ...]:
        rows = self.rows[np.asarray(positions)]
        order = np.argsort(rows)  # memory-mapped reads are fastest in file order
        pixels = np.empty((len(rows), *self.images.shape[1:]), self.images.dtype)
        pixels[order] = self.images[rows[order]]
        batch = torch.from_numpy(pixels), torch.from_numpy(self.targets[rows])
        return batch if self.weights is None else (*batch, torch.from_numpy(self.weights[rows]))


def keep_batch(batch):
    """`__getitems__` already returns a batch; the loader must not collate it again."""
    return batch


def to_device(array: np.ndarray, device: torch.device, chunk: int = 1024) -> torch.Tensor:
    """A (memory-mapped) array copied into device memory a chunk at a time (no host copy of
    the whole cache)."""
    out = torch.empty(array.shape, dtype=torch.from_numpy(array[:1]).dtype, device=device)
    for start in range(0, len(array), chunk):
        out[start : start + chunk] = torch.from_numpy(
            np.ascontiguousarray(array[start : start + chunk])
        )
    return out


class DeviceBatches:
    """Batches cut from images and targets already in device memory: an index permutation
    drawn on the device per epoch, one gather per batch, no host work per step. Under DDP each
    process takes every `world`-th position (evaluation shards disjoint and unpadded; training
    shards trimmed to equal length). `weights`: the rows' loss weights, a third tensor."""

    def __init__(
        self, images, targets, rows, *, batch_size, shuffle, seed, rank=0, world=1, weights=None
    ):
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.weights = weights
        self.rows = torch.as_tensor(rows, device=images.device)
        self.shuffle, self.rank, self.world = shuffle, rank, world
        self.generator = torch.Generator(images.device).manual_seed(seed)

    def positions(self) -> torch.Tensor:
        n = len(self.rows)
        if not self.shuffle:
            return self.rows[self.rank :: self.world]
        order = torch.randperm(n, generator=self.generator, device=self.rows.device)
        share = n // self.world
        return self.rows[order[self.rank * share : (self.rank + 1) * share]]

    def __len__(self) -> int:
        share = (
            len(self.rows) // self.world
            if self.shuffle
            else len(range(self.rank, len(self.rows), self.world))
        )
        return -(-share // self.batch_size)

    def __iter__(self):
        rows = self.positions()
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            if self.weights is None:
                yield self.images[batch], self.targets[batch]
            else:
                yield self.images[batch], self.targets[batch], self.weights[batch]


@dataclass(frozen=True)
class Parts:
    """Cache rows of each part of the protocol, and how they were made. `heldout`: train rows
    of the cross-fitting fold left out of training (empty unless a fold is asked for)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    how: dict
    heldout: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))


def fold_mask(sequences: np.ndarray, fold: int, folds: int, seed: int) -> np.ndarray:
    """Boolean mask of the frames in `fold` of `folds`: whole sequences dealt out in a seeded
    random order, each fold about 1/`folds` of the frames."""
    unique, counts = np.unique(sequences, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    before = np.concatenate([[0], np.cumsum(counts[order])[:-1]])
    which = (before * folds // len(sequences)).astype(int)
    return np.isin(sequences, unique[order[which == fold]])


def assign_parts(
    data: LabelledData,
    *,
    val_fraction: float,
    seed: int,
    cache_root: Path | None = None,
    fold: tuple[int, int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Each sample's part ("train", "val", "test", "heldout", or "" for none) and how they were
    made (`make_parts`, before unreadable images are left out). The dataset's own split is kept;
    validation is held out of train by whole sequences unless the dataset has a val split; no
    split at all gets the paper's 80/20 sequence split first. `fold` (k, folds) first sets fold
    k of train's sequences apart for cross-fitting. Where the data names groups
    (`LabelledData.groups`: a manifest's group column, a project's shots), every one of these
    splits deals whole groups instead of sequences. Weak rows only train (weights.py)."""
    splits = np.array([s.split or "" for s in data.samples], dtype=object)
    weak = data.weights < 1
    if weak.all():
        raise DataError(f"{data.root}: every row is a weak label (weight < 1); none to validate")
    splits[weak & (splits != "train")] = ""  # a manifest's val or test: never a weak row
    grouped = data.groups is not None
    unit = "groups" if grouped else "sequences"
    how: dict = {"grouped_by": data.groups_from} if grouped else {"cut_threshold": CUT_THRESHOLD}
    how["seed"] = seed

    def sequences(rows: np.ndarray, name: str) -> np.ndarray:
        if grouped:
            seqs = group_index(data.groups)[rows]
            how[f"{name}_groups_total"] = len(np.unique(seqs))
            return seqs
        seqs = dataset_sequences(data, rows, cache_root=cache_root)
        how[f"{name}_sequences_total"] = int(seqs.max() + 1) if len(seqs) else 0
        return seqs

    def held_out(rows: np.ndarray, pick, name: str) -> np.ndarray:
        return held_by_human_rows(sequences(rows, name), weak[rows], pick)

    if not (splits == "train").any():
        if (splits != "").any():
            raise DataError(f"{data.root}: the dataset has splits but none named 'train'")
        rows = np.arange(len(splits))
        mask = held_out(rows, lambda u: hold_out_sequences(u, TEST_FRACTION, seed), "test")
        splits = np.where(mask, "test", "train").astype(object)
        how["test"] = f"{TEST_FRACTION:.0%} held out by {unit} (no split in the dataset)"
    if fold is not None:
        k, folds = fold
        train_rows = np.flatnonzero(splits == "train")
        picked = held_out(train_rows, lambda u: fold_mask(u, k, folds, seed), "fold")
        splits[train_rows[picked]] = "heldout"
        how["fold"] = f"fold {k} of {folds} of train's {unit} held out (cross-fitting)"
    if (splits == "val").any():
        how["val"] = "the dataset's own val split"
    else:
        train_rows = np.flatnonzero(splits == "train")
        picked = held_out(train_rows, lambda u: hold_out_sequences(u, val_fraction, seed), "val")
        splits[train_rows[picked]] = "val"
        how["val"] = f"{val_fraction:.0%} of train held out by whole {unit}"
    how |= train_only(splits, data.weights)
    return splits, how


def make_parts(data: LabelledData, cache: ImageCache, **split) -> Parts:
    """Train/val/test rows (`assign_parts`, whose keywords `split` takes), `Parts.heldout` the
    cross-fitting fold's. Images that failed to decode are left out everywhere."""
    splits, how = assign_parts(data, **split)
    ok = np.zeros(len(splits), bool)
    ok[cache.ok] = True
    names = ("train", "val", "test", "heldout")
    parts = {name: np.flatnonzero((splits == name) & ok) for name in names}
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
        split_seed: int | None = None,
        cache_root: Path | None = None,
        fold: tuple[int, int] | None = None,
        train_targets: np.ndarray | None = None,
        on_device: bool = False,
    ):
        """`train_targets`: what training fits instead of the labels (a distillation blend);
        `on_device`: on a GPU, upload the uint8 cache once and cut batches there."""
        super().__init__()
        self.data, self.image_size, self.batch_size = data, tuple(image_size), batch_size
        self.val_fraction, self.seed, self.cache_root = val_fraction, seed, cache_root
        self.fold, self.train_targets, self.on_device = fold, train_targets, on_device
        self.split_seed = seed if split_seed is None else split_seed
        self.cache: ImageCache | None = None
        self.parts: Parts | None = None
        self.features: np.ndarray | None = None  # set when a frozen backbone's output is cached
        self.device_arrays: dict | None = None  # images and targets in GPU memory

    @classmethod
    def for_config(
        cls, data: LabelledData, config: TrainConfig, *, cache_root: Path | None = None
    ) -> ToonDataModule:
        """The data module a recipe trains on: its input size, batch, split and fold."""
        return cls(
            data,
            image_size=config.image_size,
            batch_size=config.batch_size,
            val_fraction=config.val_fraction,
            seed=config.seed,
            split_seed=config.data_seed,
            cache_root=cache_root,
            fold=None if config.fold is None else (config.fold, config.folds),
            on_device=config.data_on_device,
        )

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
            seed=self.split_seed,
            cache_root=self.cache_root,
            fold=self.fold,
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

    def gpu(self) -> torch.device | None:
        """The GPU batches are cut on, when asked for and training runs on one."""
        if not self.on_device:
            return None
        device = getattr(getattr(self.trainer, "strategy", None), "root_device", None)
        return device if device is not None and device.type == "cuda" else None

    def loader(self, rows: np.ndarray, *, shuffle: bool, train: bool = False):
        inputs = self.cache.images if self.features is None else self.features
        targets = self.data.masked_targets  # -1 where a class is unknown: masked out
        if train and self.train_targets is not None:
            targets = self.train_targets
        # Loss weights ride along in training only, and only where the data has weak rows
        # (they are never validated): a batch is (pixels, targets[, weights]).
        weights = self.data.weights if train and (self.data.weights < 1).any() else None
        device = self.gpu()
        if device is not None:
            if self.device_arrays is None:  # once: all rows, so every part indexes into it
                self.device_arrays = {"images": to_device(inputs, device)}
            key = "train_targets" if targets is not self.data.masked_targets else "targets"
            for name, array in ((key, targets), ("weights", weights)):
                if array is not None and name not in self.device_arrays:
                    self.device_arrays[name] = torch.from_numpy(array).to(device)
            trainer = self.trainer
            return DeviceBatches(
                self.device_arrays["images"],
                self.device_arrays[key],
                rows,
                batch_size=self.batch_size,
                shuffle=shuffle,
                seed=self.seed,
                rank=trainer.global_rank,
                world=trainer.world_size,
                weights=None if weights is None else self.device_arrays["weights"],
            )
        dataset = CachedImages(inputs, targets, rows, weights)
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
        return self.loader(self.parts.train, shuffle=True, train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.parts.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.parts.test, shuffle=False)
