"""Segment precision and recall of `toontag search` on a video made from the test split.

    python benchmarks/video_segments.py --run runs/lite0-aug-112x192 [--tune]

Strings every test-split animation sequence of at least 4 frames (up to 12 frames each, in a
shuffled order) into one H.264 video at 24 fps, each frame held 0.5 s, so the true timeline
is known; indexes it with `toontag index`'s defaults (ONNX Runtime, 2 sampled frames per
second, hysteresis, 1 s minimum segment, 1 s gap closing, shot snapping) and scores each
query's ranges against the truth: a range is found when it overlaps a true one with IoU at
least 0.5 (segment precision / recall), and by seconds (time precision / recall). Writes
results/video-segments.json and .md.

--tune also makes a video from the run's validation frames (the sequences held out of train)
and picks the smoothing settings with the best mean F1 there, then reports them on test too:
the defaults of `toontag index` were chosen that way, never on test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

from toontag.data.dataset import load_dataset
from toontag.evaluation.record import write_result
from toontag.evaluation.segments import segment_scores
from toontag.models.engine import load_engine
from toontag.video.db import Index
from toontag.video.indexer import index_videos
from toontag.video.query import parse_query
from toontag.video.search import query_ranges
from toontag.video.segments import Smoothing, smooth
from toontag.video.synth import make_clip, write_clip

QUERIES = [
    "kral_sakir", "remzi", "fil_necati", "canan",
    "remzi and necati",  # the paper's example
    "sakir and not canan", "(remzi or canan) and not necati",
    "sakir and remzi and necati and canan",
]  # fmt: skip


GRID = {"low_ratio": (0.5, 0.75, 1.0), "min_segment": (0.5, 1.0, 1.5, 2.0),
        "max_gap": (0.0, 0.5, 1.0, 1.5)}  # fmt: skip


def val_frames(run: Path, data: Path):
    """The run's validation frames: the sequences its training held out of train."""
    from toontag.config import TrainConfig
    from toontag.data.datamodule import ToonDataModule

    config = TrainConfig.load(run / "config.json")
    dataset = load_dataset(data)
    dm = ToonDataModule(dataset, image_size=config.image_size, val_fraction=config.val_fraction,
                        seed=config.seed)  # fmt: skip
    dm.setup()
    return dataset.select(dm.parts.val)


def indexed_clip(frames, model, work: Path, name: str, seed: int):
    """All of `frames`' sequences as one video, indexed; its clip and stored samples."""
    clip = make_clip(frames, seconds=1e9, seed=seed)
    video = work / f"{name}.mp4"
    write_clip(clip, video, fps=24)
    store = Index.create(work / f"{name}.db", model)
    [outcome] = index_videos(store, model, [video])
    times, probabilities = store.frame_probabilities(outcome.video_id)
    stored = (times, probabilities, store.shots(outcome.video_id), outcome.duration)
    return clip, stored, outcome


def score(clip, stored, thresholds, smoothing: Smoothing) -> list[dict]:
    times, probabilities, shots, duration = stored
    segments = smooth(times, probabilities, thresholds, duration, shots=shots,
                      smoothing=smoothing)  # fmt: skip
    rows = []
    for text in QUERIES:
        query = parse_query(text, clip.classes)
        truth = query_ranges(query, clip.segments(), clip.duration)
        found = query_ranges(query, segments, duration)
        rows.append({"query": text, **segment_scores(found, truth)})
    return rows


def mean_of(rows: list[dict]) -> dict:
    keys = ("precision", "recall", "f1", "time_precision", "time_recall")
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--tune", action="store_true", help="choose smoothing on validation")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toontag-segments-"))
    model = load_engine(args.run, "onnx")
    test = load_dataset(args.data).subset("test")
    clip, stored, outcome = indexed_clip(test, model, work, "test-sequences", args.seed)
    sequences = len(clip.cuts()) + 1
    default = Smoothing()
    rows = score(clip, stored, model.thresholds, default)
    mean = mean_of(rows)
    tuning = None
    if args.tune:
        val_clip, val_stored, _ = indexed_clip(
            val_frames(args.run, args.data), model, work, "val-sequences", args.seed
        )
        trials = []
        for values in itertools.product(*GRID.values()):
            smoothing = Smoothing(**dict(zip(GRID, values, strict=True)))
            val_mean = mean_of(score(val_clip, val_stored, model.thresholds, smoothing))
            trials.append((round(val_mean["f1"], 4), smoothing == default, smoothing, val_mean))
        best = max(trials, key=lambda t: t[:2])  # ties go to the defaults
        chosen = best[2]
        test_rows = score(clip, stored, model.thresholds, chosen)
        tuning = {"grid": GRID, "val_seconds": val_clip.duration, "chosen": chosen.to_dict(),
                  "val_mean": best[3], "test_mean": mean_of(test_rows), "test_queries": test_rows,
                  "default_val_mean": next(t[3] for t in trials if t[1])}  # fmt: skip
    for r in rows:
        print(json.dumps(r))
    lines = [
        "# Search on a video made from the test split",
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
        "",
        f"Smoothing: {default.to_dict()} (the defaults of `toontag index`).",
    ]
    if tuning:
        chosen, v, t, d = (tuning["chosen"], tuning["val_mean"], tuning["test_mean"],
                           tuning["default_val_mean"])  # fmt: skip
        lines += [
            "",
            "## Smoothing chosen on validation",
            "",
            f"A {tuning['val_seconds']:.0f} s video of the run's validation sequences (held out "
            f"of train), indexed the same way; {len(list(itertools.product(*GRID.values())))} "
            f"settings tried ({GRID}); the best mean F1 on validation: {chosen}.",
            "",
            "| settings | val precision | val recall | val F1 | test precision | test recall "
            "| test F1 |",
            "|---|---|---|---|---|---|---|",
            f"| defaults | {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} | "
            f"{mean['precision']:.3f} | {mean['recall']:.3f} | {mean['f1']:.3f} |",
            f"| chosen on val | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | "
            f"{t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} |",
        ]
    payload = {"run": str(args.run), "model": model.model, "video_seconds": clip.duration,
               "frames": len(clip.frames), "hold": clip.hold, "sample_fps": 2.0,
               "index_seconds": outcome.seconds, "smoothing": default.to_dict(),
               "queries": rows, "mean": mean, "tuning": tuning}  # fmt: skip
    write_result(args.out / "video-segments", payload, "\n".join(lines),
                 wall_seconds=time.perf_counter() - started)  # fmt: skip


if __name__ == "__main__":
    main()
