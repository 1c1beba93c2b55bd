"""Where a segment's edges lie: on the samples (as indexes made before) or halfway between them,
measured on the validation video of benchmarks/video_boundaries.py.

    python benchmarks/segment_edges.py --run RUN

The run's validation sequences as one H.264 video at 25 fps and 1280x720, shuffled sequences
whose frames are each held 0.32 to 0.8 s (`benchmark.videos`, seed --seed), indexed once as
`toontag index` does (ONNX Runtime, 2 sampled frames per second, shot snapping, border check);
the stored samples are then smoothed with `toontag index`'s defaults and edges on the samples
(`between_samples=False`), and with the defaults as they are (edges halfway between samples
where no shot cut is nearer). The test split is not read. Per query: time precision, recall and
IoU, segment precision / recall at IoU >= 0.5. Writes --out/segment-edges.json and .md: the
validation baseline later speed work compares against.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from toontag.benchmark.provenance import load_average
from toontag.benchmark.results import write_result
from toontag.benchmark.videos import FPS, HOLDS, indexed_clip, mean_of, score, val_frames
from toontag.models.engine import load_engine
from toontag.video.segments import Smoothing

SIZE = (720, 1280)  # video_boundaries.py's validation video
RULES = {"on the samples (before)": False, "halfway between samples (after)": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started, load_before = time.perf_counter(), load_average()
    work = Path(tempfile.mkdtemp(prefix="toontag-edges-"))
    model = load_engine(args.run, "onnx")
    video = {"seconds": args.seconds, "fps": FPS, "size": SIZE, "holds": HOLDS}
    clip, stored, outcome = indexed_clip(
        val_frames(args.run, args.data), model, work, "val-sequences", args.seed, **video
    )
    rows = {}
    for name, between in RULES.items():
        smoothing = Smoothing(between_samples=between)
        rows[name] = score(clip, stored, model.thresholds, smoothing)
    means = {name: mean_of(r) for name, r in rows.items()}
    before, after = (means[name]["time_iou"] for name in RULES)
    lines = [
        "# Segment edges: on the samples or halfway between them",
        "",
        f"The validation video of benchmarks/video_boundaries.py: the validation sequences of "
        f"`{args.run}` ({model.model}) as H.264 at {FPS} fps, {SIZE[1]}x{SIZE[0]}, "
        f"{clip.duration:.0f} s, {len(clip.cuts()) + 1} sequences, each frame held "
        f"{min(HOLDS):.2f}-{max(HOLDS):.2f} s; indexed once at 2 sampled frames per second, "
        "then smoothed with `toontag index`'s defaults and each edge rule (an edge on a shot "
        "cut between its samples stays there under both). Test not read.",
        "",
        "| edges | time P | time R | time IoU | segment P | segment R |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {m['time_precision']:.4f} | {m['time_recall']:.4f} | "
            f"**{m['time_iou']:.4f}** | {m['precision']:.3f} | {m['recall']:.3f} |"
            for name, m in means.items()
        ),
        "",
        f"Mean time IoU over the queries: {before:.4f} -> {after:.4f} ({after - before:+.4f}).",
    ]
    payload = {
        "run": str(args.run),
        "model": model.model,
        "video": {**video, "size": list(SIZE), "seconds": clip.duration},
        "sequences": len(clip.cuts()) + 1,
        "index_seconds": outcome.seconds,
        "defaults": Smoothing().to_dict(),
        "rules": {
            name: {"between_samples": between, "mean": means[name], "queries": rows[name]}
            for name, between in RULES.items()
        },
        "time_iou_before": before,
        "time_iou_after": after,
    }
    write_result(
        args.out / "segment-edges",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
    )


if __name__ == "__main__":
    main()
