"""Segment precision and recall of `toontag search`, smoothing chosen on validation.

    python benchmarks/video_segments.py --run runs/cpu-recipe/cosine-flipcrop

Strings every animation sequence of at least 4 frames (up to 12 frames each, in a shuffled
order) into one H.264 video at 24 fps, each frame held 0.5 s, so the true timeline is known:
one video of the run's validation sequences (those its training held out of train) and one of
the test split. Both are indexed as `toontag index` does (ONNX Runtime, 2 sampled frames per
second, shot snapping) and a query's ranges are scored against the truth: a range is found
when it overlaps a true one with IoU at least 0.5 (segment precision / recall), and by seconds
(time precision / recall).

The smoothing settings (hysteresis off-ratio, minimum segment, gap closing) are chosen by the
best mean F1 on the validation video alone, ties going to `toontag index`'s defaults; test is
scored once, for that choice. The defaults themselves (off below half the threshold, 1 s
minimum segment, 1 s gap closing) were set by hand when indexing was written, before any
measurement; the validation video is where they are compared with the alternatives. Writes
results/video-segments.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from toontag.benchmark.results import write_result
from toontag.benchmark.videos import indexed_clip, mean_of, score, val_frames
from toontag.data.dataset import load_dataset
from toontag.models.engine import load_engine
from toontag.video.segments import Smoothing

GRID = {
    "low_ratio": (0.5, 0.75, 1.0),
    "min_segment": (0.5, 1.0, 1.5, 2.0),
    "max_gap": (0.0, 0.5, 1.0, 1.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toontag-segments-"))
    model = load_engine(args.run, "onnx")
    default = Smoothing()

    val_clip, val_stored, _ = indexed_clip(
        val_frames(args.run, args.data), model, work, "val-sequences", args.seed
    )
    trials = []
    for values in itertools.product(*GRID.values()):
        smoothing = Smoothing(**dict(zip(GRID, values, strict=True)))
        val_mean = mean_of(score(val_clip, val_stored, model.thresholds, smoothing))
        trials.append((round(val_mean["f1"], 4), smoothing == default, smoothing, val_mean))
    best = max(trials, key=lambda t: t[:2])  # ties go to the defaults
    chosen, val_mean = best[2], best[3]
    default_val = next(t[3] for t in trials if t[1])
    shortest = min(s.end - s.start for s in val_clip.segments())  # what long minimums can cost

    test = load_dataset(args.data).subset("test")
    clip, stored, outcome = indexed_clip(test, model, work, "test-sequences", args.seed)
    sequences = len(clip.cuts()) + 1
    rows = score(clip, stored, model.thresholds, chosen)  # test, once, for the choice only
    mean = mean_of(rows)
    for r in rows:
        print(json.dumps(r))
    same = (
        "the defaults of `toontag index`"
        if chosen == default
        else (f"not the defaults of `toontag index` ({default.to_dict()})")
    )
    lines = [
        "# Search on a video made from the test split, smoothing chosen on validation",
        "",
        f"Smoothing chosen on a {val_clip.duration:.0f} s video of the run's validation "
        f"sequences (held out of train), the best mean F1 of {len(trials)} settings "
        f"({GRID}): {chosen.to_dict()}, {same}. Test is scored for that choice only. "
        f"The shortest true segment on the validation video lasts {shortest:.1f} s.",
        "",
        "| settings | val precision | val recall | val F1 |",
        "|---|---|---|---|",
        f"| defaults | {default_val['precision']:.3f} | {default_val['recall']:.3f} | "
        f"{default_val['f1']:.3f} |",
        f"| chosen | {val_mean['precision']:.3f} | {val_mean['recall']:.3f} | "
        f"{val_mean['f1']:.3f} |",
        "",
        "## Test",
        "",
        f"{len(clip.frames)} test frames in {sequences} sequences, "
        f"{clip.duration:.0f} s of H.264 at 24 fps (320x180), each frame held {clip.hold} s; "
        f"indexed with `{model.model}` ({args.run}, ONNX Runtime) at 2 sampled frames per "
        f"second in {outcome.seconds:.1f} s. A range counts as found when it overlaps a true "
        "range with IoU >= 0.5 (one match each); time precision / recall weigh by seconds.",
        "",
        "| query | true ranges | found | matched | precision | recall | F1 | "
        "time precision | time recall |",
        "|---|---|---|---|---|---|---|---|---|",
        *(
            f"| `{r['query']}` | {r['true']} | {r['predicted']} | {r['matched']} | "
            f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
            f"{r['time_precision']:.3f} | {r['time_recall']:.3f} |"
            for r in rows
        ),
        f"| **mean** | | | | **{mean['precision']:.3f}** | **{mean['recall']:.3f}** | "
        f"**{mean['f1']:.3f}** | {mean['time_precision']:.3f} | {mean['time_recall']:.3f} |",
    ]
    payload = {
        "run": str(args.run),
        "model": model.model,
        "sample_fps": 2.0,
        "grid": GRID,
        "defaults": default.to_dict(),
        "chosen_on": "validation",
        "smoothing": chosen.to_dict(),
        "val_seconds": val_clip.duration,
        "val_frames": len(val_clip.frames),
        "val_mean": val_mean,
        "default_val_mean": default_val,
        "val_shortest_true_segment": shortest,
        "video_seconds": clip.duration,
        "frames": len(clip.frames),
        "hold": clip.hold,
        "index_seconds": outcome.seconds,
        "queries": rows,
        "mean": mean,
    }
    write_result(
        args.out / "video-segments",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
