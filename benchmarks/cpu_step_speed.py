"""CPU levers that change only speed: training images/s of one model's steps (forward, BCE,
backward, AdamW) at 112x192, batch 32, on this machine's cores, for channels-first and
channels-last float32, bf16 autocast and torch.compile.

    python benchmarks/cpu_step_speed.py [--model efficientnet_lite0] [--steps 8]

Writes results/cpu-step-speed.{json,md}.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from toontag.benchmark.results import write_result
from toontag.models import create_model

VARIANTS = {  # name -> (channels-last, bf16 autocast, torch.compile)
    "float32, channels-first": (False, False, False),
    "float32, channels-last": (True, False, False),
    "bf16 autocast, channels-last": (True, True, False),
    "float32, channels-last, torch.compile": (True, False, True),
}


def images_per_s(model_name: str, layout: bool, bf16: bool, compiled: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = create_model(model_name, 4, pretrained=False).train()
    x = torch.randint(0, 256, (32, 112, 192, 3), dtype=torch.uint8)
    y = torch.randint(0, 2, (32, 4)).float()
    if layout:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        pixels = model.normalize(x)  # NHWC uint8 -> float, as training does
        pixels = pixels.contiguous(
            memory_format=torch.channels_last if layout else torch.contiguous_format
        )
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss = F.binary_cross_entropy_with_logits(step_model(pixels).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for name, (layout, bf16, compiled) in VARIANTS.items():
        rate = images_per_s(args.model, layout, bf16, compiled, args.steps)
        rows.append({"variant": name, "images_per_s": round(rate, 1)})
        print(rows[-1], flush=True)
    capability = torch.backends.cpu.get_cpu_capability()
    lines = [
        f"# CPU training step speed, {args.model}, 112x192, batch 32",
        "",
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability used by "
        f"torch: {capability}. {args.steps} timed steps after 3 warm-up steps.",
        "",
        "| variant | img/s |",
        "|---|---|",
        *(f"| {r['variant']} | {r['images_per_s']} |" for r in rows),
    ]
    payload = {"model": args.model, "cpu_capability": capability, "rows": rows}
    seconds = time.perf_counter() - started
    write_result(args.out / "cpu-step-speed", payload, "\n".join(lines), wall_seconds=seconds)


if __name__ == "__main__":
    main()
