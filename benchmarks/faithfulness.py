"""Grad-CAM faithfulness of a run on a seeded sample of test images (issue 4, part 2).

    python benchmarks/faithfulness.py runs/benchmark/cpu/efficientnet_lite0 --images 300

Writes results/faithfulness-<name>.json and .md: per character, the mean probability drop
when the 20% most-heated pixels are blurred, against 20% random blobs and random pixels.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.results import write_result
from toontag.data.cache import build_cache
from toontag.data.dataset import load_dataset
from toontag.explain.faithfulness import MASKS, faithfulness
from toontag.explain.gradcam import Explainer
from toontag.models.trained import load_trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="Result name (default: the run's).")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    trained = load_trained(args.run)
    data = load_dataset(args.data)
    cache = build_cache([s.path for s in data.samples], size=trained.image_size)
    test = np.intersect1d([i for i, s in enumerate(data.samples) if s.split == "test"], cache.ok)
    rows = np.sort(np.random.default_rng(args.seed).choice(test, args.images, replace=False))
    columns = [data.classes.index(c) for c in trained.classes]
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    result = faithfulness(
        explainer,
        cache.images[rows],
        data.targets[rows][:, columns],
        trained.thresholds,
        seed=args.seed,
    )
    name = args.name or args.run.name
    lines = [
        f"# Grad-CAM faithfulness: {trained.config.model} ({args.run})",
        "",
        f"{result['images']} test images drawn at random (seed {args.seed}); "
        f"{result['pairs']} (image, character) pairs the model gets right. For each, "
        f"{result['fraction']:.0%} of the pixels are blurred (Gaussian, sigma "
        f"{result['blur_sigma_px']} px at {trained.image_size[0]}x{trained.image_size[1]}) and "
        "the drop of that character's probability is measured. Grad-CAM layer: "
        f"`{explainer.layer}`.",
        "",
        "| character | pairs | drop, Grad-CAM top 20% | drop, random blobs | drop, random pixels "
        "| Grad-CAM beats blobs | beats pixels | faithful |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c, r in result["per_class"].items():
        lines.append(
            f"| {c} | {r['pairs']} | "
            + " | ".join(f"{r[f'mean_drop_{m}']:.4f}" for m in MASKS)
            + f" | {r['gradcam_beats_random_blobs']:.0%} of pairs | "
            f"{r['gradcam_beats_random_pixels']:.0%} | {'yes' if r['faithful'] else '**no**'} |"
        )
    payload = {"run": str(args.run), "layer": explainer.layer, **result}
    write_result(
        args.out / f"faithfulness-{name}",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
