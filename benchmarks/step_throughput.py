"""What the input pipeline and the Trainer cost: training images/s of `toontag train`'s own
Lightning Trainer (toontag's DataModule and LightningModule, the recipe's augmentation, data in
device memory on a GPU), against pure forward + backward + optimiser steps of the same module
on random tensors already on the device, each model alone on the machine.

    python benchmarks/step_throughput.py --models baseline densenet121 efficientnet_lite0

Both sides use the same module, batch size, precision (bf16 autocast and channels-last on a
GPU), optimiser and cuDNN autotuning. Writes results/step-throughput-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from toontag.cli import parse_size
from toontag.config import TrainConfig
from toontag.data.datamodule import ToonDataModule
from toontag.data.dataset import load_dataset
from toontag.evaluation.record import write_result
from toontag.models.inference import default_device
from toontag.training.module import ToonTagModule
from toontag.training.run import accelerator_settings, device_name


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def pure_steps(module: ToonTagModule, config: TrainConfig, device: str, steps: int, warmup: int):
    """Images/s of forward, BCE, backward and optimiser step on a fixed random batch."""
    module = module.to(device).train()
    x = torch.randn(config.batch_size, 3, *config.image_size, device=device)
    if device == "cuda":
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    classes = len(module.hparams["classes"])
    y = torch.randint(0, 2, (config.batch_size, classes), device=device).float()
    optimizer = torch.optim.Adam(module.parameters(), lr=config.lr)
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=device == "cuda")
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        with autocast:
            loss = F.binary_cross_entropy_with_logits(module(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * config.batch_size / (time.perf_counter() - start)


class StepTimer(L.Callback):
    """Times `steps` training steps after `warmup`, then stops the fit."""

    def __init__(self, steps: int, warmup: int, device: str):
        self.steps, self.warmup, self.device = steps, warmup, device
        self.images, self.start, self.rate = 0, 0.0, None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            sync(self.device)
            self.start, self.images = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step > self.warmup:
            self.images += len(batch[1])
        if trainer.global_step == self.warmup + self.steps:
            sync(self.device)
            self.rate = self.images / (time.perf_counter() - self.start)
            trainer.should_stop = True


def trainer_steps(config: TrainConfig, data, device: str, steps: int, warmup: int) -> float:
    """Images/s of `toontag train`'s Trainer (checkpointing, validation and logging off: they
    run once an epoch, not per step)."""
    dm = ToonDataModule(
        data, image_size=config.image_size, batch_size=config.batch_size,
        on_device=config.data_on_device,
    )  # fmt: skip
    module = ToonTagModule(config.to_dict(), list(data.classes))
    if device == "cuda":
        module = module.to(memory_format=torch.channels_last)
    timer = StepTimer(steps, warmup, device)
    trainer = L.Trainer(
        max_steps=warmup + steps + 1, callbacks=[timer], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        **accelerator_settings(config),
    )  # fmt: skip
    trainer.fit(module, datamodule=dm)
    return timer.rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["baseline", "efficientnet_lite0"])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--size", default="224x224", help="HEIGHTxWIDTH")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--augment", default="flip_crop", help="the recipe's augmentation kind")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    size, device = parse_size(args.size), default_device()
    torch.backends.cudnn.benchmark = device == "cuda"
    data = load_dataset(args.data)
    rows = []
    for name in args.models:
        config = TrainConfig(
            model=name, pretrained=False, image_size=size, batch_size=args.batch_size,
            augment=args.augment, schedule="cosine",  # stepped per batch, as Adam is
        )  # fmt: skip
        module = ToonTagModule(config.to_dict(), list(data.classes))
        pure = pure_steps(module, config, device, args.steps, args.warmup)
        real = trainer_steps(config, data, device, args.steps, args.warmup)
        rows.append(
            {
                "model": name,
                "random_tensors_images_per_s": round(pure, 1),
                "trainer_images_per_s": round(real, 1),
                "trainer_cost": round(1 - real / pure, 3),
            }
        )
        print(rows[-1], flush=True)
    where = (
        "uint8 cache in GPU memory, batches gathered there"
        if device == "cuda"
        else "uint8 cache, memory-mapped"
    )
    lines = [
        f"# Training step throughput, {args.size}, batch {args.batch_size}, {device_name()}",
        "",
        "Each model alone. Pure: forward, BCE, backward, Adam on a fixed random batch already on "
        f"the device{' (bf16 autocast, channels-last)' if device == 'cuda' else ''}. Trainer: "
        f"`toontag train`'s Lightning Trainer, DataModule ({where}) and module with "
        f"`augment={args.augment}`; {args.steps} timed steps after {args.warmup} warm-up steps.",
        "",
        "| model | pure steps on random tensors (img/s) | toontag's Trainer (img/s) | cost |",
        "|---|---|---|---|",
        *(
            f"| {r['model']} | {r['random_tensors_images_per_s']} | "
            f"{r['trainer_images_per_s']} | {r['trainer_cost']:.1%} |"
            for r in rows
        ),
    ]
    tag = "gpu" if device == "cuda" else "cpu"
    payload = {"device": device_name(), "size": list(size), "batch_size": args.batch_size,
               "augment": args.augment, "rows": rows}  # fmt: skip
    write_result(args.out / f"step-throughput-{tag}", payload, "\n".join(lines),
                 wall_seconds=time.perf_counter() - started)  # fmt: skip


if __name__ == "__main__":
    main()
