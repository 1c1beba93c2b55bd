"""Training's progress as every long step shows it (`toontag.progress`): Lightning's rich bar on
a terminal, else plain lines for a log, about one per tenth of the fit."""

from __future__ import annotations

import math

from lightning.pytorch.callbacks import ProgressBar, RichProgressBar

from toontag.progress import Lines, live
from toontag.training.module import VAL_LOSS


def progress_callback() -> ProgressBar:
    """The Trainer's progress bar: live on a terminal, `LoggedProgress` elsewhere."""
    return RichProgressBar() if live() else LoggedProgress()


class LoggedProgress(ProgressBar):
    """The fit as one step's `Lines`: the batches of every epoch still to run, each line
    with its epoch and the last validation loss (the first process's only)."""

    def __init__(self):
        super().__init__()
        self.enabled = True
        self.lines: Lines | None = None
        self.first = 0  # batches run before this fit started (a resumed run's)

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer, pl_module) -> None:
        if not self.enabled:
            return
        per_epoch, epochs = self.total_train_batches, trainer.max_epochs or 0
        self.first = trainer.current_epoch * per_epoch if math.isfinite(per_epoch) else 0
        total = per_epoch * epochs - self.first if math.isfinite(per_epoch) and epochs > 0 else None
        self.lines = Lines("training", total, unit="batches")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.lines is None:
            return
        done = trainer.current_epoch * self.total_train_batches + batch_idx + 1 - self.first
        epoch = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
        self.lines.update(done, note=f"{epoch}{self.val_loss(trainer)}")

    def on_train_end(self, trainer, pl_module) -> None:
        if self.lines is not None:
            self.lines.close(note=f"{trainer.current_epoch} epochs{self.val_loss(trainer)}")
            self.lines = None

    @staticmethod
    def val_loss(trainer) -> str:
        loss = trainer.callback_metrics.get(VAL_LOSS)
        return "" if loss is None else f", val loss {float(loss):.4f}"
