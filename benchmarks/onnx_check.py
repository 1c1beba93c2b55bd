"""ONNX Runtime against PyTorch for a trained run, on frames of the data it was trained on.

    python benchmarks/onnx_check.py --run runs/cpu-recipe/cosine-flipcrop

Exports the run as `toontag index` does on first use (into a temporary folder, so the run's
own model.onnx is left alone), which compares the two engines on 64 frames spread evenly over
the run's recorded data (random noise when that data is gone, and the result says so) and
refuses the export when any probability differs by more than `TOLERANCE`. Reports the frames
used, the largest and mean probability difference, and how many of the per-class decisions at
the run's thresholds agree. Writes results/onnx-check.json and .md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from toontag.benchmark.results import write_result
from toontag.models.onnx import TOLERANCE, check_images, export_onnx
from toontag.models.trained import load_trained
from toontag.runs import run_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="A finished run directory.")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    trained = load_trained(args.run)
    with tempfile.TemporaryDirectory(prefix="toontag-onnx-check-") as work:
        export_start = time.perf_counter()
        check = export_onnx(trained, Path(work) / "model.onnx", data=run_data(args.run))
        export_seconds = time.perf_counter() - export_start
    images, _ = check_images(trained.image_size, run_data(args.run))  # the frames it used
    with torch.no_grad():
        probs = trained.model.probabilities(torch.from_numpy(images)).numpy()
    decisions = check["images"] * len(trained.classes)
    agreed = round(check["decision_agreement"] * decisions)
    payload = {
        "run": str(args.run),
        "model": trained.config.model,
        "image_size": list(trained.image_size),
        "thresholds": list(trained.thresholds),
        "tolerance": TOLERANCE,
        "frames": check["images"],
        "frames_from": check["source"],
        "max_probability_difference": check["max_probability_difference"],
        "mean_probability_difference": check["mean_probability_difference"],
        "decisions": decisions,
        "decisions_agreeing": agreed,
        # How far from 0.5 the frames take the model: a check where every output sits near
        # 0.5 would say little about the graph.
        "probability_range": [float(probs.min()), float(probs.max())],
        "positive_decisions": int((probs >= np.asarray(trained.thresholds)).sum()),
        "export_and_check_seconds": round(export_seconds, 1),
    }
    height, width = trained.image_size
    lines = [
        "# ONNX Runtime against PyTorch",
        "",
        f"`{trained.config.model}` ({args.run}, {height}x{width}), exported to ONNX (fp32, "
        f"opset 17) and run under ONNX Runtime on the CPU beside PyTorch, on "
        f"{check['images']} {check['source']}, spread evenly over the data.",
        "",
        "| frames | max probability difference | mean probability difference | "
        "decisions agreeing (at the run's thresholds) |",
        "|---|---|---|---|",
        f"| {check['images']} | {check['max_probability_difference']:.2e} | "
        f"{check['mean_probability_difference']:.2e} | {agreed} / {decisions} |",
        "",
        f"On these frames PyTorch's probabilities run from {probs.min():.1e} to "
        f"{probs.max():.4f}; {payload['positive_decisions']} of the {decisions} decisions are "
        "positive.",
        "",
        f"An export whose largest difference exceeds {TOLERANCE:g} fails with a one-line "
        "error and leaves no file (fp32 on both sides: more than rounding is a bug).",
    ]
    print("\n".join(lines))
    write_result(
        args.out / "onnx-check",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
