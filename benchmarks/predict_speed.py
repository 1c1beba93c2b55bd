"""How fast `toontag predict` tags a folder of stills, end to end, as a user runs it.

    python benchmarks/predict_speed.py --run runs/cpu-recipe/cosine-flipcrop [--images 2000]

Folders are made from training-split frames of the run's data: the frames as they are
(320x180 JPEG) and the same frames enlarged to 1920x1080 (JPEG quality 90), where decoding
is the larger part. Each row runs `toontag predict RUN FOLDER --csv FILE` in a new process
and reports the command's own rate (images tagged / seconds from the first decode to the
last result, printed by the command) and the process's wall time with start-up (loading
the model). Rows: ONNX Runtime (the default), PyTorch, ONNX with `--sidecar`, batch sizes.
Writes results/predict-speed.json and .md.
"""

from __future__ import annotations

import argparse
import re
import shlex
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from toontag.benchmark.harness import toontag_command
from toontag.benchmark.results import write_result
from toontag.data.dataset import load_dataset
from toontag.data.images import load_resized, open_rgb, resize_rgb
from toontag.models.engine import load_engine
from toontag.runs import run_data

RATE = re.compile(r"tagged (\d+) of (\d+) images in ([\d.]+) s")


def make_folder(frames: list[Path], folder: Path, size: tuple[int, int] | None) -> Path:
    """`frames` copied into `folder` (in sub-folders of 500), enlarged to `size` (w, h)."""
    for i, frame in enumerate(frames):
        target = folder / f"part{i // 500:03d}" / f"{i:06d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        if size is None:
            target.write_bytes(frame.read_bytes())
        else:
            with Image.open(frame) as im:
                im.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(target, quality=90)
    return folder


def tag(run: Path, folder: Path, table: Path, *extra: str) -> dict:
    args = ["predict", str(run), str(folder), "--csv", str(table), *extra]
    done, wall = toontag_command(args)
    found = RATE.search(done.stderr)
    if not found:
        raise SystemExit(f"toontag {shlex.join(args)} failed:\n{done.stderr[-2000:]}")
    tagged, total, seconds = int(found[1]), int(found[2]), float(found[3])
    return {
        "command": shlex.join(["toontag", *args[:2], "FOLDER", "--csv", "FILE", *extra]),
        "images": total,
        "tagged": tagged,
        "tagging_seconds": seconds,
        "images_per_second": round(tagged / seconds, 1),
        "process_seconds": round(wall, 2),
        "images_per_second_with_startup": round(tagged / wall, 1),
    }


def decode_lever(paths: list[Path], engine) -> dict:
    """Decoding and resizing alone, one thread: a full decode against `load_resized`'s
    reduced-scale JPEG decode, how far apart the model's inputs are, and how often the
    model's decisions (each class at its threshold) agree on the two."""
    size = tuple(engine.image_size)

    def full(path):
        image, _ = open_rgb(path)
        return resize_rgb(image, size)

    timed = {}
    for name, load in (("full", full), ("reduced", lambda p: load_resized(p, size)[0])):
        start = time.perf_counter()
        arrays = np.stack([load(p) for p in paths]).astype(np.int16)
        timed[name] = (len(paths) / (time.perf_counter() - start), arrays)
    difference = np.abs(timed["full"][1] - timed["reduced"][1])
    decisions = [
        engine.probabilities(a.astype(np.uint8)) >= np.asarray(engine.thresholds)
        for _, a in timed.values()
    ]
    return {
        "stills": len(paths),
        "model_input": list(size),
        "full_decode_images_per_second": round(timed["full"][0], 1),
        "reduced_decode_images_per_second": round(timed["reduced"][0], 1),
        "mean_abs_difference": round(float(difference.mean()), 3),
        "max_abs_difference": int(difference.max()),
        "decision_agreement": round(float((decisions[0] == decisions[1]).mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--images", type=int, default=2000, help="Stills per small folder.")
    parser.add_argument("--hd-images", type=int, default=500, help="Stills per 1080p folder.")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = run_data(args.run)
    if data is None:
        raise SystemExit(f"{args.run}: the data it was trained on is not here")
    train = [s.path for s in load_dataset(data).samples if s.split == "train"]
    small = train[:: max(1, len(train) // args.images)][: args.images]
    hd = train[:: max(1, len(train) // args.hd_images)][: args.hd_images]
    rows = []
    with tempfile.TemporaryDirectory(prefix="toontag-predict-speed-") as work:
        work = Path(work)
        folders = {
            "320x180": make_folder(small, work / "small", None),
            "1920x1080": make_folder(hd, work / "hd", (1920, 1080)),
        }
        plan = [
            ("320x180", "ONNX Runtime, batch 64 (defaults)", ()),
            ("320x180", "PyTorch, batch 64", ("--engine", "torch")),
            ("320x180", "ONNX Runtime, --sidecar", ("--sidecar",)),
            ("320x180", "ONNX Runtime, batch 16", ("--batch-size", "16")),
            ("320x180", "ONNX Runtime, batch 256", ("--batch-size", "256")),
            ("1920x1080", "ONNX Runtime, batch 64 (defaults)", ()),
            ("1920x1080", "PyTorch, batch 64", ("--engine", "torch")),
        ]
        lever = decode_lever(sorted(folders["1920x1080"].rglob("*.jpg")), load_engine(args.run))
        print(lever, flush=True)
        tag(args.run, folders["320x180"], work / "warm.csv")  # exports model.onnx if stale
        for size, name, extra in plan:
            row = {
                "stills": size,
                "setting": name,
                **tag(args.run, folders[size], work / "tags.csv", *extra),
            }
            print(row, flush=True)
            rows.append(row)
    lines = [
        "# Tagging folders of stills: `toontag predict RUN FOLDER --csv FILE`",
        "",
        f"Run `{args.run}`; stills are training-split frames of its data, as they are "
        "(320x180 JPEG) and enlarged to 1920x1080 (JPEG quality 90), in sub-folders of 500. "
        "Each row is a new process; images/s is the command's own rate (first decode to last "
        "result); with start-up counts the whole process (loading the model too).",
        "",
        "| stills | setting | images | images/s | process s | images/s with start-up |",
        "|---|---|---:|---:|---:|---:|",
        *(
            f"| {r['stills']} | {r['setting']} | {r['images']} | {r['images_per_second']} | "
            f"{r['process_seconds']} | {r['images_per_second_with_startup']} |"
            for r in rows
        ),
        "",
        f"Decoding alone ({lever['stills']} 1920x1080 stills to the model's "
        f"{lever['model_input'][0]}x{lever['model_input'][1]}, one thread): a full decode "
        f"{lever['full_decode_images_per_second']} images/s, the shipped reduced-scale JPEG "
        f"decode (libjpeg at 1/4, then resized) {lever['reduced_decode_images_per_second']} "
        f"images/s; the model's inputs differ by {lever['mean_abs_difference']} of 255 on "
        f"average (at most {lever['max_abs_difference']}); the model's decisions (each class "
        f"at its threshold) agree on {lever['decision_agreement']:.2%} of them.",
    ]
    write_result(
        args.out / "predict-speed",
        {"run": str(args.run), "rows": rows, "decoding": lever},
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
