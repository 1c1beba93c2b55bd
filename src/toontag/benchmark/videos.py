"""Videos with a known timeline for the search benchmarks: animation sequences strung into one
H.264 file, indexed as `toontag index` does, and the benchmark queries scored against the
truth (benchmarks/video_segments.py, video_boundaries.py, indexing_speed.py,
long_video_memory.py, archive_scale.py)."""

from __future__ import annotations

from pathlib import Path

from toontag.data.dataset import load_dataset
from toontag.data.location import validation_frames
from toontag.evaluation.segments import segment_scores
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.query import parse_query
from toontag.video.search import query_ranges
from toontag.video.segments import Smoothing, smooth
from toontag.video.synth import Clip, make_clip, write_clip

QUERIES = [
    "kral_sakir",
    "remzi",
    "fil_necati",
    "canan",
    "remzi and necati",  # the paper's example
    "sakir and not canan",
    "(remzi or canan) and not necati",
    "sakir and remzi and necati and canan",
]
FPS = 25  # the frame rate of the speed, memory and boundary videos
HOLDS = tuple(k / FPS for k in range(8, 21, 2))  # 0.32 ... 0.8 s a frame, one per sequence


def val_frames(run: Path, data: Path):
    """The run's validation frames: the sequences its training held out of train."""
    return validation_frames(run, load_dataset(data))


def indexed_clip(
    frames,
    model,
    work: Path,
    name: str,
    seed: int,
    *,
    seconds=1e9,
    fps=24,
    size=None,
    holds=(),
    cut_samples=False,
):
    """`frames`' sequences (all, or about `seconds` of them) as one video at `fps` and
    (height, width) `size`, each sequence held one of `holds` a frame (default 0.5 s),
    indexed (with `cut_samples`: a sample at each shot's first frame too); its clip and
    stored samples. The video is made once per name."""
    clip = make_clip(frames, seconds=seconds, seed=seed, holds=holds)
    video = work / f"{name}.mp4"
    if not video.is_file():
        write_clip(clip, video, fps=fps, size=size)
    store = Index.create(work / f"{name}{'-cuts' if cut_samples else ''}.db", model)
    [outcome] = index_videos(store, model, [video], settings=IndexSettings(cut_samples=cut_samples))
    times, probabilities = store.frame_probabilities(outcome.video_id)
    stored = (times, probabilities, store.shots(outcome.video_id), outcome.duration)
    return clip, stored, outcome


def long_clip(frames, seconds: float) -> Clip:
    """About `seconds` of the sequences of `frames` held `HOLDS`, each shuffling of them after
    the other (the validation sequences last about 5.5 minutes at these holds)."""
    parts, total, seed = [], 0.0, 0
    while total < seconds:
        part = make_clip(frames, seconds=seconds - total, seed=seed, holds=HOLDS)
        parts.append(part)
        total, seed = total + part.duration, seed + 1
    first = parts[0]
    return Clip(
        tuple(f for p in parts for f in p.frames),
        first.hold,
        first.classes,
        tuple(h for p in parts for h in p.holds),
    )


def score(clip, stored, thresholds, smoothing: Smoothing) -> list[dict]:
    """Each of `QUERIES` on the stored samples smoothed with `smoothing`, scored against the
    clip's true timeline (segment and time precision / recall)."""
    times, probabilities, shots, duration = stored
    segments = smooth(times, probabilities, thresholds, duration, shots=shots, smoothing=smoothing)
    rows = []
    for text in QUERIES:
        query = parse_query(text, clip.classes)
        truth = query_ranges(query, clip.segments(), clip.duration)
        found = query_ranges(query, segments, duration)
        rows.append({"query": text, **segment_scores(found, truth)})
    return rows


def mean_of(rows: list[dict]) -> dict:
    """The mean over the queries of each score."""
    keys = ("precision", "recall", "f1", "time_precision", "time_recall", "time_iou")
    return {k: sum(r[k] for r in rows) / len(rows) for k in keys}
