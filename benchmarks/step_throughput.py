"""What the input pipeline and the Trainer cost: training images/s of `toontag train`'s own
Lightning Trainer (toontag's DataModule and LightningModule, the recipe's augmentation, data in
device memory on a GPU), against pure forward + backward + optimiser steps of the same module
on random tensors already on the device, each model alone on the machine.

    python benchmarks/step_throughput.py --models baseline densenet121 efficientnet_lite0

Both sides use the same module, batch size, precision (bf16 autocast on a GPU), channels-last
memory, optimiser and cuDNN autotuning. The GPU is first kept busy for a few seconds (an idle
card runs at a low clock: whichever side ran first would be slowed), then the two sides
alternate for `--rounds` rounds and the best round of each is reported. Also recorded: the
host's time to enqueue the pure steps (a step whose enqueue time is near its run time is bound
by kernel launches, where any host work per step adds straight to the step) and the GPU
synchronisations per Trainer step (CUDA's sync debug mode).
Writes results/step-throughput-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F

from toontag.benchmark.results import write_result
from toontag.cli import parse_size
from toontag.config import TrainConfig
from toontag.data.datamodule import ToonDataModule
from toontag.data.dataset import load_dataset
from toontag.models.inference import default_device
from toontag.training.module import ToonTagModule
from toontag.training.run import accelerator_settings, device_name


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def warm_up(device: str, seconds: float = 5.0) -> None:
    """Keep the GPU busy until its clocks are up."""
    if device != "cuda":
        return
    a = torch.randn(4096, 4096, device=device, dtype=torch.bfloat16)
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(20):
            a @ a
        sync(device)


def pure_steps(module: ToonTagModule, config: TrainConfig, device: str, steps: int, warmup: int):
    """Images/s of forward, BCE, backward and optimiser step on a fixed random batch, and the
    host's seconds per step to enqueue them."""
    module = module.to(device).train()
    x = torch.randn(config.batch_size, 3, *config.image_size, device=device)
    module = module.to(memory_format=torch.channels_last)  # as the Trainer's module is
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
    enqueued = time.perf_counter() - start
    sync(device)
    return steps * config.batch_size / (time.perf_counter() - start), enqueued / steps


class StepTimer(L.Callback):
    """Times `steps` training steps after `warmup`, then stops the fit."""

    def __init__(self, steps: int, warmup: int, device: str):
        self.steps, self.warmup, self.device = steps, warmup, device
        self.images, self.start, self.rate = 0, 0.0, None
        self.syncs: warnings.catch_warnings | None = None
        self.caught: list = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if trainer.global_step == self.warmup:
            sync(self.device)
            self.start, self.images = time.perf_counter(), 0
            if self.device == "cuda":  # count the synchronisations of the timed steps
                self.syncs = warnings.catch_warnings(record=True)
                self.caught = self.syncs.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step > self.warmup:
            self.images += len(batch[1])
        if trainer.global_step == self.warmup + self.steps:
            if self.syncs is not None:
                torch.cuda.set_sync_debug_mode("default")
                self.syncs.__exit__(None, None, None)
                self.syncs = None
            sync(self.device)
            self.rate = self.images / (time.perf_counter() - self.start)
            trainer.should_stop = True

    @property
    def syncs_per_step(self) -> float:
        return sum("synchroniz" in str(w.message) for w in self.caught) / self.steps


def trainer_steps(config: TrainConfig, data, device: str, steps: int, warmup: int) -> float:
    """Images/s of `toontag train`'s Trainer (checkpointing, validation and logging off: they
    run once an epoch, not per step)."""
    dm = ToonDataModule(
        data,
        image_size=config.image_size,
        batch_size=config.batch_size,
        on_device=config.data_on_device,
    )
    module = ToonTagModule(config.to_dict(), list(data.classes))
    module = module.to(memory_format=torch.channels_last)
    timer = StepTimer(steps, warmup, device)
    trainer = L.Trainer(
        max_steps=warmup + steps + 1,
        callbacks=[timer],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        **accelerator_settings(config),
    )
    trainer.fit(module, datamodule=dm)
    return timer.rate, timer.syncs_per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["baseline", "efficientnet_lite0"])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--size", default="224x224", help="HEIGHTxWIDTH")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--augment", default="flip_crop", help="the recipe's augmentation kind")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of the two sides")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    size, device = parse_size(args.size), default_device()
    torch.backends.cudnn.benchmark = device == "cuda"
    data = load_dataset(args.data)
    rows = []
    for name in args.models:
        config = TrainConfig(
            model=name,
            pretrained=False,
            image_size=size,
            batch_size=args.batch_size,
            augment=args.augment,
            schedule="cosine",  # stepped per batch, as Adam is
        )
        warm_up(device)
        pures, reals, syncs = [], [], []
        for _ in range(args.rounds):
            module = ToonTagModule(config.to_dict(), list(data.classes))
            pures.append(pure_steps(module, config, device, args.steps, args.warmup))
            rate, per_step = trainer_steps(config, data, device, args.steps, args.warmup)
            reals.append(rate)
            syncs.append(per_step)
        pure, enqueue = max(pures)
        real = max(reals)
        rows.append(
            {
                "model": name,
                "random_tensors_images_per_s": round(pure, 1),
                "trainer_images_per_s": round(real, 1),
                "trainer_cost": round(1 - real / pure, 3),
                "rounds": {
                    "pure": [round(r, 1) for r, _ in pures],
                    "trainer": [round(r, 1) for r in reals],
                },
                "pure_ms_per_step": round(1000 * config.batch_size / pure, 2),
                "pure_enqueue_ms_per_step": round(1000 * enqueue, 2),
                "trainer_ms_per_step": round(1000 * config.batch_size / real, 2),
                "trainer_syncs_per_step": statistics.median(syncs) if device == "cuda" else None,
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
        f"`augment={args.augment}`; {args.steps} timed steps after {args.warmup} warm-up steps, "
        f"the best of {args.rounds} alternating rounds of each side (every round in the JSON). "
        "Enqueue: the host's time to issue one pure step (near the step's time: bound by "
        "kernel launches, so host work per step in the Trainer adds to the step). Syncs: GPU "
        "synchronisations per Trainer step.",
        "",
        "| model | pure steps on random tensors (img/s) | toontag's Trainer (img/s) | cost | "
        "pure ms/step | enqueue ms/step | Trainer ms/step | syncs/step |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r['random_tensors_images_per_s']} | "
            f"{r['trainer_images_per_s']} | {r['trainer_cost']:.1%} | {r['pure_ms_per_step']} | "
            f"{r['pure_enqueue_ms_per_step']} | {r['trainer_ms_per_step']} | "
            f"{r['trainer_syncs_per_step']} |"
            for r in rows
        ),
    ]
    tag = "gpu" if device == "cuda" else "cpu"
    payload = {
        "device": device_name(),
        "size": list(size),
        "batch_size": args.batch_size,
        "augment": args.augment,
        "rounds": args.rounds,
        "rows": rows,
    }
    write_result(
        args.out / f"step-throughput-{tag}",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
