"""Archive scale: the index's size per hour of video, search latency on a synthetic index of
10,000 hours, and Ray's overhead against direct indexing on this machine.

    python benchmarks/archive_scale.py --run runs/cpu-recipe/cosine-flipcrop
    python benchmarks/archive_scale.py --run runs/cpu-recipe/cosine-flipcrop --only-ray

1. Size per hour: a real video made from the test split (320x180, 24 fps) indexed at 2
   sampled frames per second; the index's bytes (after a checkpoint) per hour of video, all
   tables and those without the per-frame probabilities.
2. Search latency: a synthetic index of --hours of 22-minute episodes written through
   `Index.write` (one transaction a video, as indexing does): per character, on-screen runs
   and gaps of exponential lengths (means 8 s and 20 s), shots every 3 s on average; the
   per-frame table is left empty (--with-frames fills it, 2 a second: about 4 GB at 10,000
   hours), since search never reads it. `search` is timed for the benchmark queries, median
   of --repeats.
3. Ray's overhead: the same --videos short videos indexed by one process (`index_videos`)
   and by a local Ray instance with --ray-workers workers (`index_on_ray`), each into a new
   index; both walls and their ratio. On 2 cores this measures Ray's cost, not scale-out.
Writes results/archive-scale.json and .md.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.results import write_result
from toontag.benchmark.videos import QUERIES
from toontag.data.dataset import load_dataset
from toontag.models.engine import load_engine
from toontag.video.db import Index
from toontag.video.db_write import VideoRecord
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.search import search
from toontag.video.segments import Segment
from toontag.video.synth import make_clip, write_clip

EPISODE = 22 * 60.0  # seconds


class Stub:
    """What `Index.create` reads of a model, for a synthetic index."""

    def __init__(self, model):
        self.model, self.model_id = model.model, model.model_id
        self.classes, self.thresholds = model.classes, model.thresholds


def db_bytes(db: Path) -> int:
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))


def synthetic_index(db: Path, model, hours: float, *, with_frames: bool, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    store = Index.create(db, Stub(model))
    videos = int(np.ceil(hours * 3600 / EPISODE))
    settings = IndexSettings()
    segments_written = 0
    start = time.perf_counter()
    for v in range(videos):
        segments = []
        for c in range(len(model.classes)):
            t = rng.exponential(20.0)
            while t < EPISODE:
                end = min(EPISODE, t + max(1.0, rng.exponential(8.0)))
                segments.append(Segment(c, float(t), float(end), 0.9))
                t = end + max(1.0, rng.exponential(20.0))
        cuts = np.cumsum(rng.exponential(3.0, size=int(EPISODE / 2)))
        cuts = [0.0, *cuts[cuts < EPISODE].tolist(), EPISODE]
        times = np.arange(0, EPISODE, 0.5) if with_frames else np.zeros(0)
        probabilities = np.full((len(times), len(model.classes)), 0.5, np.float32)
        store.write(
            VideoRecord(
                path=f"/archive/season{v // 100:03d}/episode{v:05d}.mp4",
                sha256=f"{v:064x}",
                bytes=300_000_000,
                mtime_ns=0,
                duration=EPISODE,
                fps=25.0,
                width=1920,
                height=1080,
                frames=int(EPISODE * 25),
                sample_fps=2.0,
                settings=settings,
                seconds=0.0,
                times=times,
                probabilities=probabilities,
                shots=list(zip(cuts[:-1], cuts[1:], strict=True)),
                segments=sorted(segments, key=lambda s: (s.start, s.character)),
            )
        )
        segments_written += len(segments)
    return {
        "videos": videos,
        "hours": videos * EPISODE / 3600,
        "segments": segments_written,
        "write_seconds": round(time.perf_counter() - start, 1),
        "bytes": db_bytes(db),
        "with_frames": with_frames,
    }


def ray_overhead(args, work: Path, model, test) -> list[dict]:
    """The same short videos indexed by one process and on a local Ray instance, per count
    of workers in `args.ray_workers_list` (or `args.ray_workers`)."""
    from toontag.video.distributed import connect, index_on_ray

    paths = []
    for k in range(args.videos):
        path = work / f"short{k}.mp4"
        write_clip(make_clip(test, seconds=60, seed=100 + k), path, fps=24)
        paths.append(path)
    begin = time.perf_counter()
    index_videos(Index.create(work / "direct.db", model), model, paths)
    direct = time.perf_counter() - begin
    begin = time.perf_counter()
    connect("local")  # Ray's own start, once per driver: timed apart from the rows
    start = time.perf_counter() - begin
    rows = []
    for workers in getattr(args, "ray_workers_list", None) or [args.ray_workers]:
        begin = time.perf_counter()
        outcomes = index_on_ray(
            Index.create(work / f"ray{workers}.db", model),
            args.run,
            paths,
            address="local",
            workers=workers,
            settings=IndexSettings(),
        )
        on_ray = time.perf_counter() - begin
        assert all(o.status == "indexed" for o in outcomes), outcomes
        rows.append(
            {
                "videos": len(paths),
                "video_seconds": 60 * len(paths),
                "direct_seconds": round(direct, 1),
                "ray_seconds": round(on_ray, 1),
                "ray_workers": workers,
                "ray_start_seconds": round(start, 1),
                "efficiency": round(direct / on_ray, 3),
            }
        )
        print(rows[-1], flush=True)
    return rows


def only_ray(args, started: float) -> None:
    """Ray's overhead alone, in results/ray-overhead.*: 1 and 2 workers."""
    work = Path(tempfile.mkdtemp(prefix="toontag-ray-"))
    model = load_engine(args.run, "onnx")
    args.ray_workers_list = [1, 2]
    rows = ray_overhead(args, work, model, load_dataset(args.data).subset("test"))
    lines = [
        "# Ray's overhead on this machine",
        "",
        f"{rows[0]['videos']} videos of 60 s (320x180, 24 fps, made from the test split), "
        "indexed by one process (`index_videos`) and by a local Ray instance "
        "(`index --ray local`), each into a new index. Starting Ray itself took "
        f"{rows[0]['ray_start_seconds']} s, once per driver, not counted below; the Ray "
        "walls include starting the workers (actors) and loading the model in each. "
        "Efficiency = direct / Ray. On 2 cores this is Ray's cost, not scale-out: a "
        "worker's model uses both cores, so 2 workers share them.",
        "",
        "| workers | direct (s) | Ray (s) | efficiency |",
        "|---|---|---|---|",
        *(
            f"| {r['ray_workers']} | {r['direct_seconds']} | {r['ray_seconds']} | "
            f"{r['efficiency']} |"
            for r in rows
        ),
    ]
    write_result(
        args.out / "ray-overhead",
        {"run": str(args.run), "rows": rows},
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--hours", type=float, default=10_000.0)
    parser.add_argument("--with-frames", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--videos", type=int, default=6, help="short videos for the Ray part")
    parser.add_argument("--ray-workers", type=int, default=2)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument(
        "--only-ray",
        action="store_true",
        help="Ray's overhead alone (1 and 2 workers): results/ray-overhead.*",
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    if args.only_ray:
        return only_ray(args, started)
    work = Path(tempfile.mkdtemp(prefix="toontag-archive-"))
    model = load_engine(args.run, "onnx")
    test = load_dataset(args.data).subset("test")

    # 1. size per hour, from a real index
    clip = make_clip(test, seconds=600, seed=0)
    video = work / "episode.mp4"
    write_clip(clip, video, fps=24)
    real = work / "real.db"
    [outcome] = index_videos(Index.create(real, model), model, [video])
    hours = outcome.duration / 3600
    total = db_bytes(real)
    with sqlite3.connect(real) as con:
        frames_bytes = con.execute("SELECT SUM(LENGTH(probabilities) + 8) FROM frames").fetchone()[
            0
        ]
    size = {
        "video_seconds": round(outcome.duration, 1),
        "bytes": total,
        "bytes_per_hour": round(total / hours),
        "bytes_per_hour_without_frames": round((total - frames_bytes) / hours),
    }
    print(size, flush=True)

    # 2. search latency on a synthetic archive
    synthetic = synthetic_index(
        work / "archive.db", model, args.hours, with_frames=args.with_frames, seed=0
    )
    print(synthetic, flush=True)
    store = Index(work / "archive.db")
    latency = []
    for query in QUERIES:
        walls, hits = [], 0
        for _ in range(args.repeats):
            begin = time.perf_counter()
            hits = len(search(store, query))
            walls.append(time.perf_counter() - begin)
        latency.append(
            {"query": query, "hits": hits, "median_seconds": round(statistics.median(walls), 3)}
        )
        print(latency[-1], flush=True)

    # 3. Ray's overhead against direct indexing
    ray_row = None if args.skip_ray else ray_overhead(args, work, model, test)[-1]

    gb = synthetic["bytes"] / 1e9
    lines = [
        "# Archive scale",
        "",
        f"## Index size per hour of video ({size['video_seconds']:.0f} s test video, 2 "
        "sampled frames per second)",
        "",
        f"{size['bytes_per_hour'] / 1e6:.1f} MB per hour with the per-frame probabilities, "
        f"{size['bytes_per_hour_without_frames'] / 1e6:.2f} MB without them.",
        "",
        f"## Search on a synthetic index of {synthetic['hours']:,.0f} hours "
        f"({synthetic['videos']:,} episodes of 22 minutes, {synthetic['segments']:,} "
        f"segments, {gb:.2f} GB{' with' if args.with_frames else ', without'} the per-frame "
        "table)",
        "",
        "| query | ranges found | median seconds |",
        "|---|---|---|",
        *(f"| `{r['query']}` | {r['hits']:,} | {r['median_seconds']} |" for r in latency),
    ]
    if ray_row:
        lines += [
            "",
            f"## Ray's overhead on this machine ({ray_row['videos']} videos of 60 s)",
            "",
            f"Direct (one process): {ray_row['direct_seconds']} s; a local Ray instance with "
            f"{ray_row['ray_workers']} workers: {ray_row['ray_seconds']} s (efficiency "
            f"{ray_row['efficiency']}, start-up included). On 2 cores this is Ray's cost, not "
            "scale-out.",
        ]
    payload = {
        "run": str(args.run),
        "size": size,
        "synthetic": synthetic,
        "search_latency": latency,
        "ray": ray_row,
    }
    write_result(
        args.out / "archive-scale",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
