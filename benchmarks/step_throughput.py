"""What the input pipeline costs: training images/s of one model fed random tensors already on
the device, against the same steps fed by toontag's real loader (uint8 cache -> batch ->
device -> normalise), each model alone on the machine.

    python benchmarks/step_throughput.py --models baseline densenet121 efficientnet_lite0

Steps are the training step of `ToonTagModule` (bf16 autocast and channels-last on a GPU,
as in training), with Adam. Writes results/step-throughput-<device>.json and .md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from toontag.cli import parse_size
from toontag.config import TrainConfig
from toontag.data.datamodule import ToonDataModule
from toontag.data.dataset import load_dataset
from toontag.evaluation.record import write_result
from toontag.models.inference import default_device
from toontag.training.module import ToonTagModule
from toontag.training.run import device_name


def timed_steps(module: ToonTagModule, batches, device: str, steps: int, warmup: int) -> float:
    """Images per second over `steps` training steps after `warmup` untimed ones."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-4)
    autocast = torch.autocast("cuda", torch.bfloat16, enabled=device == "cuda")
    seen, start = 0, 0.0
    for i, (pixels, targets) in enumerate(batches):
        if i == warmup:
            if device == "cuda":
                torch.cuda.synchronize()
            seen, start = 0, time.perf_counter()
        if i == warmup + steps:
            break
        pixels, targets = pixels.to(device, non_blocking=True), targets.to(device)
        x, y = module.on_after_batch_transfer((pixels, targets), 0)
        with autocast:
            loss = F.binary_cross_entropy_with_logits(module(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(y)
    if device == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def loader_batches(dm: ToonDataModule):
    while True:
        yield from dm.train_dataloader()


def random_batches(size, batch: int, classes: int, device: str):
    pixels = torch.randint(0, 256, (batch, *size, 3), dtype=torch.uint8, device=device)
    targets = torch.randint(0, 2, (batch, classes), device=device).float()
    while True:
        yield pixels, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["baseline", "efficientnet_lite0"])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--size", default="224x224", help="HEIGHTxWIDTH")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    size, device = parse_size(args.size), default_device()
    data = load_dataset(args.data)
    dm = ToonDataModule(data, image_size=size, batch_size=args.batch_size)
    dm.setup("fit")
    rows = []
    for name in args.models:
        config = TrainConfig(model=name, pretrained=False, image_size=size)
        module = ToonTagModule(config.to_dict(), list(data.classes)).to(device).train()
        if device == "cuda":
            module = module.to(memory_format=torch.channels_last)
        rand = random_batches(size, args.batch_size, len(data.classes), device)
        pure = timed_steps(module, rand, device, args.steps, args.warmup)
        real = timed_steps(module, loader_batches(dm), device, args.steps, args.warmup)
        rows.append(
            {
                "model": name,
                "random_tensors_images_per_s": round(pure, 1),
                "real_loader_images_per_s": round(real, 1),
                "pipeline_cost": round(1 - real / pure, 3),
            }
        )
        print(rows[-1], flush=True)
    lines = [
        f"# Training step throughput, {args.size}, batch {args.batch_size}, {device_name()}",
        "",
        "Each model alone; steps = forward, BCE, backward, Adam"
        f"{' (bf16 autocast, channels-last)' if device == 'cuda' else ''}; "
        f"{args.steps} timed steps after {args.warmup} warm-up steps.",
        "",
        "| model | random tensors on device (img/s) | real loader (img/s) | pipeline cost |",
        "|---|---|---|---|",
        *(
            f"| {r['model']} | {r['random_tensors_images_per_s']} | "
            f"{r['real_loader_images_per_s']} | {r['pipeline_cost']:.1%} |"
            for r in rows
        ),
    ]
    tag = "gpu" if device == "cuda" else "cpu"
    payload = {"device": device_name(), "size": list(size), "batch_size": args.batch_size,
               "rows": rows, "train_images": int(len(dm.parts.train)), "seed": 0}  # fmt: skip
    write_result(args.out / f"step-throughput-{tag}", payload, "\n".join(lines),
                 wall_seconds=time.perf_counter() - started)  # fmt: skip


if __name__ == "__main__":
    main()
