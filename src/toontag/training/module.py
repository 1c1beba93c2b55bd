"""The recipe: model, loss, metrics, optimiser and scheduler in one LightningModule."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric, SumMetric
from torchmetrics.classification import BinaryF1Score, MultilabelF1Score

from toontag.config import TrainConfig
from toontag.data.augment import affine_batch, flip_crop_batch
from toontag.models import create_model

# Metric names: logged here, and monitored by EarlyStopping, checkpoints and the scheduler.
TRAIN_LOSS = "train_loss"
VAL_LOSS = "val_loss"
VAL_F1 = "val_f1_micro"
LR = "lr"


class ToonTagModule(L.LightningModule):
    def __init__(self, config: dict, classes: list[str], init_weights: bool = True):
        """`init_weights=False` skips pretrained loading (a checkpoint is about to overwrite it)."""
        super().__init__()
        self.save_hyperparameters()
        self.cfg = cfg = TrainConfig.from_dict(config)
        self.model = create_model(
            cfg.model,
            len(classes),
            pretrained=cfg.pretrained and init_weights,
            weights=cfg.weights if init_weights else None,
            freeze_backbone=cfg.freeze_backbone,
            head_hidden=cfg.head_hidden,
            dropout=cfg.dropout,
            conv_channels=cfg.conv_channels,
        )
        unknown = -1  # the target of an entry nobody answered: ignored
        self.val_f1 = (
            MultilabelF1Score(
                len(classes), threshold=cfg.threshold, average="micro", ignore_index=unknown
            )
            if len(classes) > 1
            else BinaryF1Score(threshold=cfg.threshold, ignore_index=unknown)  # present or not
        )
        self.val_loss = MeanMetric()  # weighted by images: exact when synced across processes
        # The epoch's training loss: sums kept on the device and logged once an epoch (`self.log`
        # every step costs milliseconds of Python, as much as a small model's whole step on a
        # GPU), with no NaN check (MeanMetric's reads the value back: a GPU sync every step).
        self.train_loss_sum = SumMetric(nan_strategy="disable")
        self.train_images = SumMetric(nan_strategy="disable")
        self.augment_rng: torch.Generator | None = None  # made on the batches' device
        self.on_features = False  # True: batches are cached pooled backbone features

    @property
    def caches_features(self) -> bool:
        """A frozen backbone without augmentation gives every image one fixed feature vector:
        computing it once turns each epoch into a head-only pass."""
        return self.cfg.freeze_backbone and self.cfg.augment == "none"

    def rng(self, device: torch.device) -> torch.Generator:
        """The augmentation generator, seeded, on the device the batches are on (no host work
        per step on a GPU)."""
        if self.augment_rng is None or self.augment_rng.device != device:
            self.augment_rng = torch.Generator(device).manual_seed(self.cfg.seed)
        return self.augment_rng

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        # + the rows' loss weights, in training where some row is weak; kept last
        pixels, targets, *weights = batch
        if self.on_features:
            return pixels[:, :, None, None], targets, *weights  # a 1x1 map: the head's GAP keeps it
        x = self.view(pixels, self.cfg.augment if self.training else "none")
        if self.training and self.cfg.consistency:
            # The unlabelled rows (every class unknown) once more, strongly augmented; their
            # weak view is their row of `x` (the recipe's augmentation), as in FixMatch.
            unlabelled = (targets < 0).all(dim=1)
            strong = self.view(pixels[unlabelled], "flip_crop")
            if len(strong):  # else empty: the batch has labelled frames only
                strong = affine_batch(strong, self.rng(strong.device))
            return x, targets, strong, unlabelled, *weights
        return x, targets, *weights

    def view(self, pixels: torch.Tensor, augment: str) -> torch.Tensor:
        """The uint8 batch augmented by `augment`, normalised, channels-last (on GPU and CPU
        alike: oneDNN runs Lite0 steps at 112x192 at 23.5 img/s on 2 cores against 16.7
        channels-first, results/cpu-step-speed.md)."""
        if augment == "flip_crop":
            pixels = flip_crop_batch(pixels, self.rng(pixels.device))
        x = self.model.normalize(pixels)
        if augment == "affine":
            x = affine_batch(x, self.rng(x.device))
        return x.contiguous(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(x) if self.on_features else self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y, *unlabelled = batch  # + (strong view, mask) of the unlabelled rows, if any
        # + the rows' loss weights last, if any: one tensor after the pair of views
        weights = unlabelled.pop() if len(unlabelled) % 2 else None
        logits = self(x).float()
        if unlabelled:
            strong, rows = unlabelled
            consistency = self.consistency_loss(logits[rows].detach(), strong)
        if self.cfg.label_smoothing:
            smoothed = y * (1 - self.cfg.label_smoothing) + 0.5 * self.cfg.label_smoothing
            y = torch.where(y >= 0, smoothed, y)
        loss = masked_bce(logits, y, weights)
        if unlabelled:
            loss = loss + self.cfg.consistency * consistency
        self.train_loss_sum.update(loss.detach() * len(y))
        self.train_images.update(torch.full_like(loss, len(y), dtype=torch.float32))
        return loss

    def consistency_loss(self, weak_logits: torch.Tensor, strong: torch.Tensor) -> torch.Tensor:
        """FixMatch's unlabelled loss, per class: BCE of the strong view's logits against the
        weak view's confident decisions, the unconfident entries counting as 0 in the mean."""
        if len(strong) == 0:
            return weak_logits.new_zeros(())
        p, sure = weak_logits.sigmoid(), self.cfg.consistency_confidence
        pseudo = torch.where(p >= sure, 1.0, torch.where(p <= 1 - sure, 0.0, -1.0))
        loss = F.binary_cross_entropy_with_logits(
            self(strong).float(), pseudo.clamp(min=0), reduction="none"
        )
        return (loss * (pseudo >= 0)).sum() / pseudo.numel()

    def on_train_epoch_end(self) -> None:
        """The epoch's mean training loss and its learning rate, in the per-epoch log."""
        images = self.train_images.compute()  # summed across processes under DDP
        self.log(TRAIN_LOSS, self.train_loss_sum.compute() / images.clamp(min=1), on_epoch=True)
        self.train_loss_sum.reset()
        self.train_images.reset()
        self.log(LR, self.optimizers().param_groups[0]["lr"], on_epoch=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        loss = masked_bce(logits.float(), y)
        self.val_f1.update(logits.float().sigmoid(), y.int())
        self.val_loss.update(loss, weight=len(y))
        self.log(VAL_LOSS, self.val_loss, prog_bar=True, batch_size=len(y))
        self.log(VAL_F1, self.val_f1, prog_bar=True, batch_size=len(y))

    def configure_optimizers(self):
        cfg = self.cfg
        params = [p for p in self.parameters() if p.requires_grad]
        kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        optimizer = kind(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.schedule == "cosine":
            budget = CosineBudget(
                total_steps=self.trainer.estimated_stepping_batches,
                warmup_steps=cfg.warmup_epochs * self.trainer.num_training_batches,
                seconds=cfg.max_minutes * 60 if cfg.max_minutes else None,
            )
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, budget)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
            }
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": VAL_LOSS, "interval": "epoch"},
        }


def masked_bce(
    logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary cross-entropy averaged over the known entries; a target below 0 is unknown (a
    class nobody looked for in that image) and contributes nothing. Equal to the plain mean
    when every entry is known. `weights` (one per row) scale each row's entries, the mean still
    taken over the known entries: a weak row of weight 0.5 counts half a person's label."""
    known = y >= 0
    loss = F.binary_cross_entropy_with_logits(logits, y.clamp(min=0), reduction="none")
    if weights is not None:
        loss = loss * weights[:, None]
    return (loss * known).sum() / known.sum().clamp(min=1)


class CosineBudget:
    """Learning-rate factor: linear warm-up, then cosine to zero as training progresses, where
    progress is the larger of the steps after warm-up done / all of them and the seconds spent
    / the time budget. A time-capped run thus still anneals fully before the cap stops it
    (the schedule then depends on the machine's speed, which the run's report records)."""

    def __init__(self, *, total_steps: int, warmup_steps: float, seconds: float | None):
        self.total, self.warmup, self.seconds = max(1, total_steps), warmup_steps, seconds
        self.start: float | None = None

    def progress(self, step: int) -> float:
        if self.start is None:
            self.start = time.monotonic()
        done = (step - self.warmup) / max(1.0, self.total - self.warmup)
        if self.seconds:
            # 95% of the budget, so the last steps before the cap run at a near-zero rate.
            done = max(done, (time.monotonic() - self.start) / (0.95 * self.seconds))
        return min(1.0, done)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * self.progress(step)))
