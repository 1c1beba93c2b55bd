"""Stills as a person uploads them: what a letterbox or a smaller copy costs `predict`, with and
without cropping a still's black bars (issue 28, item 9).

    python benchmarks/still_renditions.py --run RUN --exclude-truth EPISODES [--frames 600]

Frames: whole shots (runs of consecutive frame ids) of Kral Sakir's train split drawn at random
until there are `--frames`, leaving out every shot with a frame the run's episodes show (their
`*.truth.json`, written by `toontag data video`): validation material, never the test split.
Each frame is scored as it is and rendered as a person would upload it: letterboxed into 4:3
and into a square (black bars top and bottom), pillarboxed into 21:9 (bars left and right),
and at half resolution (JPEG quality 95, written under --work). Each rendition is tagged by
`predict`'s code (`tag_images`) with the still's borders cropped and without. Micro-F1 at the
run's thresholds with its 95% interval resampling whole shots. Writes
--out/still-renditions.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from toontag.benchmark.provenance import load_average
from toontag.benchmark.results import write_result
from toontag.benchmark.simulated import runs_of_ids
from toontag.data.dataset import load_dataset
from toontag.evaluation.metrics import by_sequence_text, multilabel_metrics
from toontag.evaluation.predict import tag_images
from toontag.models.engine import load_engine


def letterbox(image: Image.Image, aspect: float) -> Image.Image:
    """`image` centred on black at `aspect` (width / height): bars where it is too wide or
    too tall for it."""
    width, height = image.size
    size = (
        (width, round(width / aspect))
        if width / height > aspect
        else (round(height * aspect), height)
    )
    canvas = Image.new("RGB", size)
    canvas.paste(image, ((size[0] - width) // 2, (size[1] - height) // 2))
    return canvas


RENDITIONS = {
    "as is": None,
    "letterboxed 4:3": lambda im: letterbox(im, 4 / 3),
    "letterboxed 1:1": lambda im: letterbox(im, 1.0),
    "pillarboxed 21:9": lambda im: letterbox(im, 21 / 9),
    "half resolution": lambda im: im.resize((im.width // 2, im.height // 2), Image.BILINEAR),
}


def draw_frames(dataset, exclude: set[str], count: int, seed: int) -> np.ndarray:
    """Rows of whole shots of `dataset` none of whose frames is in `exclude`, drawn at random
    until at least `count` frames."""
    shots = runs_of_ids(np.array([s.frame_id for s in dataset.samples]))
    seen = {shots[i] for i, s in enumerate(dataset.samples) if str(s.path) in exclude}
    free = np.random.default_rng(seed).permutation([g for g in np.unique(shots) if g not in seen])
    sizes = np.bincount(shots)[free]
    kept = free[: int(np.searchsorted(np.cumsum(sizes), count)) + 1]
    return np.flatnonzero(np.isin(shots, kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--exclude-truth", type=Path, help="a folder of *.truth.json files")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("work/still-renditions"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started, load_before = time.perf_counter(), load_average()
    engine = load_engine(args.run)
    train = load_dataset(args.data, classes=engine.classes).subset("train")
    exclude = set()
    for truth in sorted(args.exclude_truth.glob("*.truth.json")) if args.exclude_truth else []:
        exclude |= {f["path"] for f in json.loads(truth.read_text())["frames"]}
    rows = draw_frames(train, exclude, args.frames, args.seed)
    samples = [train.samples[r] for r in rows]
    targets = np.asarray(train.targets)[rows]
    groups = runs_of_ids(np.array([s.frame_id for s in samples]))
    results = []
    for name, render in RENDITIONS.items():
        paths = [s.path for s in samples]
        if render is not None:
            folder = args.work / name.replace(" ", "-").replace(":", "x")
            folder.mkdir(parents=True, exist_ok=True)
            paths = [folder / f"{i:05d}.jpg" for i in range(len(samples))]
            for sample, path in zip(samples, paths, strict=True):
                render(Image.open(sample.path).convert("RGB")).save(path, quality=95)
        for borders in (False, True):
            tagged = list(tag_images(engine, paths, borders=borders))
            probs = np.array([[r["probabilities"][c] for c in engine.classes] for r in tagged])
            m = multilabel_metrics(
                targets, probs, engine.classes, engine.thresholds, seed=args.seed, groups=groups
            )
            results.append(
                {
                    "rendition": name,
                    "borders_cropped": borders,
                    "f1_micro": round(m["f1_micro"], 4),
                    "ci95_by_sequence": [round(v, 4) for v in m["ci95_by_sequence"]["f1_micro"]],
                    "stills_cropped": sum("cropped" in r.get("note", "") for r in tagged),
                }
            )
            print(results[-1], flush=True)
    base = {r["borders_cropped"]: r["f1_micro"] for r in results if r["rendition"] == "as is"}
    lines = [
        "# Stills as a person uploads them",
        "",
        f"{len(rows)} frames of Kral Sakir's train split ({len(np.unique(groups))} shots no "
        f"episode of the run shows), run `{args.run}`; micro-F1 at its thresholds, 95% interval "
        "resampling whole shots; change: against the frames as they are, same setting.",
        "",
        "| rendition | borders cropped | micro-F1 | change | stills cropped |",
        "|---|---|---|---|---|",
        *(
            f"| {r['rendition']} | {'yes' if r['borders_cropped'] else 'no'} | "
            f"{r['f1_micro']:.4f} {by_sequence_text(r['ci95_by_sequence'])} | "
            f"{r['f1_micro'] - base[r['borders_cropped']]:+.4f} | {r['stills_cropped']} |"
            for r in results
        ),
    ]
    payload = {
        "run": str(args.run),
        "frames": int(len(rows)),
        "shots": int(len(np.unique(groups))),
        "classes": list(engine.classes),
        "thresholds": [float(t) for t in engine.thresholds],
        "rows": results,
    }
    write_result(
        args.out / "still-renditions",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
    )


if __name__ == "__main__":
    main()
