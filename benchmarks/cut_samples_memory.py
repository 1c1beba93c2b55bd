"""Peak memory of indexing with `--cut-samples` at 1080p and 4K, against the same without it.

    python benchmarks/cut_samples_memory.py [--seconds 3]

Cut samples keep the last 2 s of frames, for the shot detector names a cut late. Each video is
made here with PyAV (H.264, 60 fps, a new shot every 0.7 s, each a picture of 8x8-pixel blocks
that drifts a little every frame) and indexed by `index_videos` in a process of its own, once
with the option off and once on. The tagger is a stub with the CPU recipe's input size
(112x192): a real engine adds the same memory either way, and the figure here is what the
frames held for cuts add. Recorded: how far resident memory rose above where it stood before
indexing (the process's peak is reset first through /proc/self/clear_refs, so imports do not
hide it), the process's whole peak, and the wall time. Memory does not depend on CPU load;
the wall times do (the load is in the footer). Writes results/cut-samples-memory.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from toontag.benchmark.results import write_result

SIZES = {"1080p": (1080, 1920), "4K": (2160, 3840)}  # (height, width)
FPS = 60
SHOT = 0.7  # seconds a shot lasts

CHILD = """
import json, re, resource, sys, time
from pathlib import Path
import numpy as np
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos

class Tagger:
    model, model_id, classes, thresholds, image_size = "stub", "stub", ("a",), (0.5,), (112, 192)
    def probabilities(self, images):
        return np.zeros((len(images), 1), np.float32)

def kb(key):
    return int(re.search(key + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

video, db, on = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "on"
store = Index.create(db, Tagger())
Path("/proc/self/clear_refs").write_text("5")
before, started = kb("VmRSS"), time.perf_counter()
[done] = index_videos(store, Tagger(), [video], settings=IndexSettings(cut_samples=on))
print(json.dumps({
    "status": done.status, "sampled": done.sampled, "rise_mb": (kb("VmHWM") - before) / 1024,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "wall_seconds": time.perf_counter() - started,
}))
"""


def make_video(path: Path, height: int, width: int, seconds: float) -> Path:
    """`seconds` of H.264 at `FPS`: a new shot of random 8x8-pixel blocks every `SHOT` s."""
    rng = np.random.default_rng(0)
    frames = round(seconds * FPS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        stream.time_base = Fraction(1, FPS)
        look = None
        for k in range(frames):
            if k % round(SHOT * FPS) == 0:
                blocks = rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8)
                look = blocks.repeat(8, axis=0).repeat(8, axis=1)
            frame = av.VideoFrame.from_ndarray(np.roll(look, 2 * k, axis=1), format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def measure(video: Path, db: Path, cut_samples: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(video), str(db), cut_samples],
        capture_output=True,
        text=True,
        check=True,
    )
    row = json.loads(done.stdout)
    if row["status"] != "indexed":
        raise SystemExit(f"{video}: {row['status']}")
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="each video's length")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="toontag-cut-memory-") as work:
        for name, (height, width) in SIZES.items():
            video = make_video(Path(work) / f"{name}.mp4", height, width, args.seconds)
            for option in ("off", "on"):
                row = measure(video, Path(work) / f"{name}-{option}.db", option)
                rows.append({"video": name, "cut_samples": option, **row})
                print(rows[-1], flush=True)
    lines = [
        "# Memory of `index --cut-samples` at 1080p and 4K",
        "",
        f"{args.seconds:g} s of synthetic H.264 at {FPS} fps (a new shot every {SHOT} s), "
        "indexed in a process of its own with cut samples off and on; a stub tagger at "
        "112x192. Rise: resident memory above its level before indexing, at its peak.",
        "",
        "| video | cut samples | samples | rise (MB) | peak RSS (MB) | wall (s) |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['video']} | {r['cut_samples']} | {r['sampled']} | {r['rise_mb']} | "
            f"{r['peak_rss_mb']} | {r['wall_seconds']} |"
            for r in rows
        ),
    ]
    write_result(
        args.out / "cut-samples-memory",
        {"seconds": args.seconds, "fps": FPS, "rows": rows},
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
