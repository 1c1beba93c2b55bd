"""End-to-end indexing speed on this machine, ONNX Runtime and PyTorch side by side.

    python benchmarks/indexing_speed.py --run runs/lite0-aug-112x192

Makes test videos from the test split (24 fps, each frame held 0.5 s) at the dataset's own
320x180 and upscaled to 1280x720 (an HD episode), then indexes each with each engine into a
fresh database: decode + shot detection + preprocessing + inference + smoothing + SQLite, at
2 sampled frames per second; the best of --repeats. A stage breakdown (decode only, + shots,
+ preprocessing) shows where the time goes. Writes results/indexing-speed.json and .md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from toontag.data.dataset import load_dataset
from toontag.evaluation.record import write_result
from toontag.models.engine import ENGINES, load_engine
from toontag.parallel import prefetch
from toontag.video.db import Index
from toontag.video.decode import Video
from toontag.video.indexer import decoded, index_videos
from toontag.video.shots import ShotDetector
from toontag.video.synth import make_clip, write_clip

SIZES = {"320x180": None, "1280x720": (720, 1280)}
STAGES = ("decode", "+preprocess", "+shots", "+shots, threaded")


def stages(path: Path, model, fps: float) -> dict:
    """Frames per second of growing prefixes of the pipeline, without inference."""
    found = {}
    for stage in STAGES:
        start = time.perf_counter()
        with Video(path) as video:
            detector, count = ShotDetector(video.fps), 0
            frames = video.frames() if stage == "decode" else decoded(video, detector, fps, model)
            for item in prefetch(frames) if stage.endswith("threaded") else frames:
                count += 1
                if "shots" in stage:
                    detector.add(item[1])
        found[stage] = round(count / (time.perf_counter() - start), 1)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--fps", type=float, default=2.0, help="sampled frames per second")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    clip = make_clip(load_dataset(args.data).subset("test"), seconds=args.seconds, seed=0)
    work = Path(tempfile.mkdtemp(prefix="toontag-speed-"))
    models = {engine: load_engine(args.run, engine) for engine in ENGINES}
    rows, breakdown = [], {}
    for name, size in SIZES.items():
        video = work / f"clip-{name}.mp4"
        write_clip(clip, video, fps=24, size=size)
        breakdown[name] = stages(video, models["onnx"], args.fps)
        for engine, model in models.items():
            best = None
            for repeat in range(args.repeats):
                store = Index.create(work / f"{name}-{engine}-{repeat}.db", model)
                [outcome] = index_videos(store, model, [video], fps=args.fps)
                store.close()
                best = outcome if best is None or outcome.seconds < best.seconds else best
            frames = round(best.duration * 24)
            rows.append({
                "video": name, "engine": engine, "video_seconds": round(best.duration, 2),
                "wall_seconds": round(best.seconds, 2), "frames_decoded": frames,
                "frames_sampled": best.sampled,
                "decoded_fps": round(frames / best.seconds, 1),
                "realtime_factor": round(best.duration / best.seconds, 1),
            })  # fmt: skip
            print(rows[-1])
    lines = [
        "# Indexing speed",
        "",
        f"`toontag index` end to end with `{models['onnx'].model}` "
        f"({args.run}, input {models['onnx'].image_size[0]}x{models['onnx'].image_size[1]}): "
        "decode (PyAV) + shot detection (PySceneDetect) + preprocessing + inference + "
        f"smoothing + SQLite, {args.fps:g} sampled frames per second, on a "
        f"{clip.duration:.0f} s test video made from the test split (24 fps, H.264); "
        f"best of {args.repeats}.",
        "",
        "| video | engine | wall (s) | frames decoded / s | real-time factor |",
        "|---|---|---|---|---|",
        *(
            f"| {r['video']} | {r['engine']} | {r['wall_seconds']} | {r['decoded_fps']} | "
            f"**{r['realtime_factor']}x** |"
            for r in rows
        ),
        "",
        "Where the time goes: frames per second of growing prefixes of the pipeline, without "
        "inference (preprocessing = the shrunk copy for shot detection on every frame and the "
        "model's input on sampled ones; threaded = decoding and preprocessing a thread ahead, "
        "as `toontag index` runs):",
        "",
        "| video | " + " | ".join(STAGES) + " |",
        "|---|" + "---|" * len(STAGES),
        *(
            f"| {name} | " + " | ".join(str(b[s]) for s in STAGES) + " |"
            for name, b in breakdown.items()
        ),
    ]
    payload = {"run": str(args.run), "model": models["onnx"].model, "sample_fps": args.fps,
               "video_seconds": clip.duration, "rows": rows, "stages_fps": breakdown}  # fmt: skip
    write_result(args.out / "indexing-speed", payload, "\n".join(lines),
                 wall_seconds=time.perf_counter() - started)  # fmt: skip


if __name__ == "__main__":
    main()
