"""The recipe: model, loss, metrics, optimiser and scheduler in one LightningModule."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import BinaryF1Score, MultilabelF1Score

from toontag.config import TrainConfig
from toontag.data.augment import augment_batch
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
        self.val_f1 = (
            MultilabelF1Score(len(classes), threshold=cfg.threshold, average="micro")
            if len(classes) > 1
            else BinaryF1Score(threshold=cfg.threshold)  # one character: present or not
        )
        self.val_loss = MeanMetric()  # weighted by images: exact when synced across processes
        self.augment_rng = torch.Generator().manual_seed(cfg.seed)
        self.on_features = False  # True: batches are cached pooled backbone features

    @property
    def caches_features(self) -> bool:
        """A frozen backbone without augmentation gives every image one fixed feature vector:
        computing it once turns each epoch into a head-only pass."""
        return self.cfg.freeze_backbone and not self.cfg.augment

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        pixels, targets = batch
        if self.on_features:
            return pixels[:, :, None, None], targets  # a 1x1 map: the head's GAP keeps it
        x = self.model.normalize(pixels)
        if self.training and self.cfg.augment:
            x = augment_batch(x, self.augment_rng)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, targets

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.head(x) if self.on_features else self.model(x)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.binary_cross_entropy_with_logits(self(x), y)
        self.log(TRAIN_LOSS, loss, on_step=False, on_epoch=True, batch_size=len(y), sync_dist=True)
        return loss

    def on_train_epoch_end(self) -> None:
        """The epoch's learning rate, in the per-epoch log beside its losses."""
        self.log(LR, self.optimizers().param_groups[0]["lr"], on_epoch=True)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
        self.val_f1.update(logits.float().sigmoid(), y.int())
        self.val_loss.update(loss, weight=len(y))
        self.log(VAL_LOSS, self.val_loss, prog_bar=True, batch_size=len(y))
        self.log(VAL_F1, self.val_f1, prog_bar=True, batch_size=len(y))

    def configure_optimizers(self):
        cfg = self.cfg
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=cfg.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": VAL_LOSS, "interval": "epoch"},
        }
