"""Peak memory of `toontag index` on a 2-hour video against a 10-minute one.

    python benchmarks/long_video_memory.py --run runs/cpu-recipe/cosine-flipcrop

Both videos are made from the run's validation sequences (320x180, H.264 at 25 fps, frames
held 0.32-0.8 s, the validation sequences shuffled again and again), and each is indexed by
the `toontag index` command in a process of its own, with the shipped defaults; its peak
resident memory (ru_maxrss of the finished child) and wall time are recorded. Flat memory:
the 2-hour peak is the 10-minute one plus what the index keeps per sampled frame (4
probabilities and a time: 14,400 samples are well under 1 MB). Writes
results/long-video-memory.json and .md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from toontag.benchmark.results import write_result
from toontag.benchmark.videos import FPS, long_clip, val_frames
from toontag.video.synth import write_clip

PEAK = """
import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - started
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, round(wall, 1))
"""


def peak(command: list[str]) -> dict:
    """Run `command` in a child of a fresh interpreter: its exit status, peak RSS, wall."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    status, kb, wall = int(out[0]), int(out[1]), float(out[2])
    if status:
        raise SystemExit(f"{' '.join(command)} exited {status}")
    return {"peak_rss_mb": round(kb / 1024, 1), "wall_seconds": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--videos", type=Path, default=Path.home() / ".cache/toontag/speed")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toontag-memory-"))
    frames = val_frames(args.run, args.data)
    toontag = str(Path(sys.executable).parent / "toontag")
    rows = []
    for minutes in (10, 120):
        video = args.videos / f"memory-{minutes}min-320x180.mp4"
        if not video.is_file():
            write_clip(long_clip(frames, minutes * 60.0), video, fps=FPS, size=(180, 320))
        row = {
            "minutes": minutes,
            "video": video.name,
            "bytes": video.stat().st_size,
            **peak(
                [toontag, "index", str(args.run), str(video), "--db", str(work / f"{minutes}.db")]
            ),
        }
        rows.append(row)
        print(row, flush=True)
    short, long = rows
    lines = [
        "# Peak memory on a long video",
        "",
        "`toontag index` (shipped defaults, ONNX Runtime) in a process of its own per video, "
        "320x180 H.264 at 25 fps made from the run's validation sequences:",
        "",
        "| video | minutes | wall (s) | peak RSS (MB) |",
        "|---|---|---|---|",
        *(
            f"| {r['video']} | {r['minutes']} | {r['wall_seconds']} | {r['peak_rss_mb']} |"
            for r in rows
        ),
        "",
        f"Twelve times the video: {long['peak_rss_mb'] - short['peak_rss_mb']:+.1f} MB of peak "
        "memory.",
    ]
    write_result(
        args.out / "long-video-memory",
        {"run": str(args.run), "rows": rows},
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
