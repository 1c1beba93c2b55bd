"""Decode-and-cache time of a whole dataset and the training loader's images per second.

    python benchmarks/data_throughput.py --data ../shared/data/kral_sakir --size 112x192

Writes results/data-throughput-<size>.json and .md. The cache is built from scratch in a
temporary folder, so the decode time is real, not a reuse.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from toontag.benchmark.results import write_result
from toontag.cli import parse_size
from toontag.data.cache import build_cache
from toontag.data.datamodule import ToonDataModule
from toontag.data.dataset import load_dataset
from toontag.models.net import ToonNet


def loader_rate(loader, normalise: ToonNet | None) -> float:
    """Images per second through one pass of `loader` (optionally normalised to float)."""
    seen, start = 0, time.perf_counter()
    for pixels, _targets in loader:
        if normalise is not None:
            normalise.normalize(pixels)
        seen += len(pixels)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--size", default="112x192", help="HEIGHTxWIDTH")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    size = parse_size(args.size)
    start = time.perf_counter()
    data = load_dataset(args.data)
    with tempfile.TemporaryDirectory(prefix="toontag-bench-") as tmp:
        cache = build_cache([s.path for s in data.samples], size=size, root=Path(tmp))
        reuse_start = time.perf_counter()
        build_cache([s.path for s in data.samples], size=size, root=Path(tmp))
        reuse = time.perf_counter() - reuse_start
        dm = ToonDataModule(data, image_size=size, batch_size=args.batch_size, cache_root=tmp)
        dm.setup("fit")
        loader = dm.train_dataloader()
        loader_rate(loader, None)  # warm the page cache, as every epoch after the first is
        raw = loader_rate(loader, None)
        net = ToonNet(torch.nn.Identity(), 3, 4)
        normalised = loader_rate(loader, net)
        cache_bytes = int(np.prod(cache.images.shape))
    payload = {
        "data": str(args.data),
        "images": len(data),
        "size": list(size),
        "decode_and_cache_seconds": round(cache.seconds, 2),
        "decode_images_per_s": round(len(data) / cache.seconds, 1),
        "cache_reuse_seconds": round(reuse, 3),
        "cache_megabytes": round(cache_bytes / 2**20, 1),
        "loader_uint8_images_per_s": round(raw, 0),
        "loader_normalised_images_per_s": round(normalised, 0),
        "batch_size": args.batch_size,
        "train_images": len(dm.parts.train),
    }
    md = "\n".join(
        [
            f"# Data throughput at {size[0]}x{size[1]}",
            "",
            "| measure | value |",
            "|---|---|",
            f"| images decoded into the cache | {len(data):,} |",
            f"| decode + cache time (all cores) | {cache.seconds:.1f} s "
            f"({payload['decode_images_per_s']:,.0f} img/s) |",
            f"| cache size | {payload['cache_megabytes']:,} MB |",
            f"| reopening the finished cache | {reuse * 1000:.0f} ms |",
            f"| training loader, uint8 batches of {args.batch_size}, shuffled | {raw:,.0f} img/s |",
            f"| the same, normalised to float on the CPU | {normalised:,.0f} img/s |",
            "",
            "The loader reads shuffled batches from the memory-mapped cache; normalisation "
            "(and augmentation) run on the batch, on the GPU where there is one.",
        ]
    )
    out = args.out / f"data-throughput-{size[0]}x{size[1]}"
    write_result(out, payload, md, wall_seconds=time.perf_counter() - start)
    print(md)


if __name__ == "__main__":
    main()
