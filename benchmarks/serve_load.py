"""Load on `toontag serve`: throughput and latency per endpoint, loopback only.

    python benchmarks/serve_load.py [--run RUN] [--requests 1200] [--clients 1 8]

Makes a test video from the test split (each frame held 0.5 s, 24 fps, 320x180), indexes it
with RUN (default: a tiny run trained here, the paper's CNN at 32x48 for 2 epochs on every
40th image, as the tests make one), starts `toontag serve` on 127.0.0.1 in its own process
and sends it a fixed, shuffled mix of the requests the page makes: the page, characters,
videos, a search, a video's details, its timeline, thumbnails of search hits (cached after
the first) and of frames never asked before (decoded), and 256 KiB byte ranges of the file at
random offsets (a player seeking). Each pass has `--requests` requests from `--clients`
concurrent clients (httpx, asyncio), stopped after `--max-seconds`. Writes
results/serve-load.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np

from toontag.benchmark.harness import write_manifest
from toontag.benchmark.provenance import load_average
from toontag.benchmark.results import write_result
from toontag.data.dataset import load_dataset
from toontag.models.engine import load_engine
from toontag.video.db import Index
from toontag.video.indexer import index_videos
from toontag.video.synth import make_clip, write_clip

QUERIES = ["remzi", "kral_sakir", "remzi and necati", "canan or remzi", "sakir and not canan"]
RANGE_BYTES = 256 * 1024  # what a browser asks for around a seek, roughly
ENDPOINTS = (
    "page",
    "characters",
    "videos",
    "search",
    "video detail",
    "timeline",
    "thumbnail (hit)",
    "thumbnail (new frame)",
    "file range",
)


def tiny_run(data: Path, work: Path) -> Path:
    """A run of the paper's CNN at 32x48, 2 epochs on every 40th image of each split."""
    from toontag.config import TrainConfig
    from toontag.training.run import train

    dataset = load_dataset(data.resolve())
    samples = [s for split in ("train", "test") for s in dataset.subset(split).samples[::40]]
    manifest = write_manifest(work / "small.csv", samples)
    config = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)
    train(config, data=manifest, run=work / "run", progress=False)
    return work / "run"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    """`toontag serve` in its own process (its own interpreter and GIL), once it answers."""
    server = subprocess.Popen(
        [sys.executable, "-m", "toontag", "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/characters").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("toontag serve did not answer within 60 s")


def plan(count: int, rng: random.Random, facts: dict, new_frames) -> list[tuple[str, str, dict]]:
    """`count` requests, as many of each endpoint, shuffled: (endpoint, url, headers)."""
    video, size = facts["video_id"], facts["size"]
    make = {
        "page": lambda: ("/", {}),
        "characters": lambda: ("/api/characters", {}),
        "videos": lambda: ("/api/videos", {}),
        "search": lambda: (f"/api/search?q={rng.choice(QUERIES)}", {}),
        "video detail": lambda: (f"/api/videos/{video}", {}),
        "timeline": lambda: (f"/api/videos/{video}/timeline?format=vtt", {}),
        "thumbnail (hit)": lambda: (
            f"/api/videos/{video}/thumbnail?t={rng.choice(facts['hit_starts'])}",
            {},
        ),
        "thumbnail (new frame)": lambda: (
            f"/api/videos/{video}/thumbnail?t={next(new_frames):.1f}",
            {},
        ),
        "file range": lambda: (f"/api/videos/{video}/file", {"Range": _range(rng, size)}),
    }
    requests = [
        (name, *make[name]()) for i in range(count) for name in [ENDPOINTS[i % len(ENDPOINTS)]]
    ]
    rng.shuffle(requests)
    return requests


def _range(rng: random.Random, size: int) -> str:
    start = rng.randrange(0, max(1, size - RANGE_BYTES))
    return f"bytes={start}-{start + RANGE_BYTES - 1}"


async def load(base: str, requests: list, clients: int, max_seconds: float) -> dict:
    """Send `requests` from `clients` concurrent clients; latencies (s) and failures by
    endpoint, and the wall time."""
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    queue = iter(requests)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + max_seconds

        async def worker() -> None:
            for name, url, headers in queue:
                if time.perf_counter() > deadline:
                    return
                sent = time.perf_counter()
                response = await client.get(url, headers=headers)
                latencies[name].append(time.perf_counter() - sent)
                if response.status_code not in (200, 206):
                    failures[name] += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"latencies": latencies, "failures": failures, "wall": wall}


def summary(found: dict) -> list[dict]:
    rows = []
    every = [t for name in ENDPOINTS for t in found["latencies"][name]]
    for name, times in [*((n, found["latencies"][n]) for n in ENDPOINTS), ("overall", every)]:
        ms = np.asarray(times) * 1000
        failed = sum(found["failures"].values()) if name == "overall" else found["failures"][name]
        rows.append(
            {
                "endpoint": name,
                "requests": len(ms),
                "failed": failed,
                "per_second": round(len(ms) / found["wall"], 1),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2),
                "mean_ms": round(float(ms.mean()), 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: train a tiny one)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the video")
    parser.add_argument("--requests", type=int, default=1200, help="requests per pass")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-seconds", type=float, default=40.0, help="time limit per pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toontag-serve-load-"))
    run = args.run or tiny_run(args.data, work)
    clip = make_clip(load_dataset(args.data).subset("test"), seconds=args.seconds, seed=args.seed)
    video = work / "episode.mp4"
    write_clip(clip, video, fps=24)
    model = load_engine(run, "onnx")
    store = Index.create(work / "index.db", model)
    [outcome] = index_videos(store, model, [video])
    store.close()

    port = free_port()
    server = start_server(work / "index.db", port)
    base = f"http://127.0.0.1:{port}"
    try:
        hits = httpx.get(f"{base}/api/search", params={"q": "remzi or canan"}).json()["hits"]
        facts = {
            "video_id": outcome.video_id,
            "size": video.stat().st_size,
            "hit_starts": sorted({h["start"] for h in hits}) or [0.0],
        }
        rng = random.Random(args.seed)
        grid = [i / 10 for i in range(int(clip.duration * 10) - 5)]
        if len(args.clients) * (args.requests // len(ENDPOINTS) + 3) > len(grid):
            parser.error(
                "more new-frame thumbnails than frames: fewer --requests or more --seconds"
            )
        rng.shuffle(grid)
        new_frames = iter(grid)  # each asked once over all passes: never a cache hit
        passes = []
        for clients in args.clients:
            requests = plan(args.requests, rng, facts, new_frames)
            asyncio.run(load(base, requests[: 2 * len(ENDPOINTS)], clients, 30))  # warm up
            load_before = load_average()[0]  # other work on this machine skews the figures
            found = asyncio.run(load(base, requests, clients, args.max_seconds))
            rows = summary(found)
            passes.append(
                {
                    "clients": clients,
                    "wall_seconds": round(found["wall"], 2),
                    "load_average_before": load_before,
                    "rows": rows,
                }
            )
            print(f"{clients} clients: {rows[-1]}")
    finally:
        server.terminate()
        server.wait(10)

    lines = [
        "# Serving load",
        "",
        f"`toontag serve` (one uvicorn process on 127.0.0.1) over an index of one "
        f"{clip.duration:.0f} s test video ({video.stat().st_size / 1e6:.1f} MB, 320x180, "
        f"24 fps, H.264), indexed with `{model.model}` ({args.run or 'a tiny run trained here'}). "
        f"Each pass: {args.requests} requests, as many to each of the {len(ENDPOINTS)} "
        "endpoints, shuffled, from N concurrent httpx clients on the same machine (which "
        f"shares its {_cores()} cores with the server); limit {args.max_seconds:g} s a pass. "
        "req/s = an endpoint's requests over the pass's wall time; latencies from request "
        f"sent to body read. Thumbnails of hits are cached after the first request; "
        "'new frame' thumbnails are decoded every time; file ranges are "
        f"{RANGE_BYTES // 1024} KiB at random offsets.",
    ]
    for p in passes:
        lines += [
            "",
            f"## {p['clients']} client{'s' if p['clients'] > 1 else ''} "
            f"({p['rows'][-1]['requests']} requests in {p['wall_seconds']} s; load average "
            f"{p['load_average_before']:.1f} before it)",
            "",
            "| endpoint | requests | failed | req/s | p50 (ms) | p99 (ms) |",
            "|---|---|---|---|---|---|",
            *(
                f"| {'**overall**' if r['endpoint'] == 'overall' else r['endpoint']} | "
                f"{r['requests']} | {r['failed']} | {r['per_second']} | {r['p50_ms']} | "
                f"{r['p99_ms']} |"
                for r in p["rows"]
            ),
        ]
    payload = {
        "run": str(args.run) if args.run else "tiny (trained by this script)",
        "model": model.model,
        "video_seconds": clip.duration,
        "video_bytes": video.stat().st_size,
        "requests_per_pass": args.requests,
        "max_seconds_per_pass": args.max_seconds,
        "seed": args.seed,
        "passes": passes,
    }
    write_result(
        args.out / "serve-load",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
