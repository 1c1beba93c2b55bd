"""Indexing on one GPU: decoding on NVIDIA's NVDEC (PyAV's hardware acceleration,
`toontag index --hwaccel cuda`) and the model on CUDA (`--engine torch`), at 1920x1080,
1280x720 and 3840x2160; one video at a time and several at once (an archive's throughput).

    # here, with the dataset: the inputs the GPU machine needs (a run, a clip's frames; ~20 MB)
    python benchmarks/indexing_gpu.py export --run RUN --data DATA --stage stage
    # there (benchmarks/gpu_launch.sh first, here, for the commit)
    TOONTAG_LAUNCH=gpu-launch.json python3 benchmarks/indexing_gpu.py run --stage stage --out $OUT

The GPU machine has torch and timm; carry the rest as wheels of `.ci/requirements.lock`'s
versions (`pip download --no-deps -d stage/wheels av scenedetect-headless
opencv-python-headless ...`, about 100 MB: two device calls) and install them there first
(`pip install --no-index stage/wheels/*.whl`).

The clip is made from the run's validation sequences as benchmarks/indexing_speed.py makes its
plain videos (each sequence's frames held one of 0.32-0.8 s, x264 at its defaults, 25 fps),
`--seconds` long, encoded there at each size. Per size, four rows, each `analyse_video` on the
whole file: the CPU's decoder or NVDEC, decoding every frame (no skim, no midway samples: the
reference) or at the shipped defaults; each with its wall time, real-time factor, frames
decoded, time IoU on the clip's truth and, for every-frame rows, its decisions' agreement
with the CPU's every-frame row (the same frames, decoded elsewhere). Then `--parallel` copies
of the 1080p file indexed at once, one process each sharing the GPU: the aggregate real-time
factor (video seconds over wall seconds). A device that is not there is a row that says so;
nothing else changes on a CPU machine. Writes OUT/indexing-gpu.json and .md as it goes.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import shutil
import time
from pathlib import Path

from toontag.benchmark.results import write_result
from toontag.benchmark.speed_probes import accuracy, agreement, analysed
from toontag.benchmark.videos import FPS, long_clip, val_frames
from toontag.data.dataset import Sample
from toontag.errors import ToontagError
from toontag.models.engine import load_engine
from toontag.video.decode import Video
from toontag.video.hardware import hardware_decoding
from toontag.video.synth import X264_DEFAULTS, Clip, write_clip

SIZES = {"1920x1080": (1080, 1920), "1280x720": (720, 1280), "3840x2160": (2160, 3840)}
GOAL = {"1920x1080": 200.0}  # x real time on one GPU (issue 27)
EVERY_FRAME = {"skim": None, "busy": False}  # the reference: every frame decoded, no midways
WAIT = 240  # seconds the parallel step waits for its processes (a device call runs 600)
RUN_FILES = ("config.json", "model.json", "model.safetensors", "hparams.yaml", ".toontag-run")


def stage_clip(clip: Clip, run: Path, stage: Path) -> None:
    """STAGE/gpu-index: the run's files the torch engine reads, the clip and its frames."""
    out = stage / "gpu-index"
    shutil.rmtree(out, ignore_errors=True)
    (out / "frames").mkdir(parents=True)
    (out / "run").mkdir()
    for name in RUN_FILES:
        if (run / name).is_file():
            shutil.copy2(run / name, out / "run" / name)
    names: dict[Path, str] = {}
    for sample in clip.frames:
        if sample.path not in names:
            names[sample.path] = f"{len(names):05d}{sample.path.suffix}"
            shutil.copy2(sample.path, out / "frames" / names[sample.path])
    described = {
        "classes": clip.classes,
        "hold": clip.hold,
        "holds": clip.holds,
        "frames": [
            {"file": names[s.path], "labels": s.labels, "frame_id": s.frame_id} for s in clip.frames
        ],
    }
    (out / "clip.json").write_text(json.dumps(described))
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: {len(names)} frames, {clip.duration:.0f} s of clip, {size / 2**20:.1f} MiB")


def read_clip(folder: Path) -> Clip:
    described = json.loads((folder / "clip.json").read_text())
    frames = tuple(
        Sample(folder / "frames" / f["file"], tuple(f["labels"]), None, f["frame_id"])
        for f in described["frames"]
    )
    return Clip(frames, described["hold"], tuple(described["classes"]), tuple(described["holds"]))


def one_video(model, clip, path: Path, reference, hwaccel: str | None, settings: dict) -> dict:
    """One `analyse_video` of `path` (decoded on `hwaccel`, or the CPU) as a result row."""
    record, seconds, tagged = analysed(model, path, hwaccel=hwaccel, **settings)
    return {
        "wall_seconds": round(seconds, 2),
        "video_seconds": round(record.duration, 2),
        "realtime_factor": round(record.duration / seconds, 1),
        "frames_decoded": record.frames,
        "frames_sampled": len(record.times),
        "frames_tagged": tagged,
        "time_iou": accuracy(clip, record, model.thresholds),
        "agreement": None if reference is None else agreement(reference, record, model.thresholds),
    }, record


def rows_for(model, clip, path: Path, device: str | None) -> list[dict]:
    """The four rows of one size: CPU and device decoding, every frame and the defaults."""
    rows, reference = [], None
    for decoder in ("cpu", "cuda"):
        for name, settings in (("every frame", EVERY_FRAME), ("defaults", {})):
            row = {"video": path.name, "decoder": decoder, "settings": name}
            if decoder == "cuda" and device is not None:
                rows.append(row | {"skipped": device})
                continue
            hwaccel = None if decoder == "cpu" else "cuda"
            if hwaccel:  # FFmpeg may fall back to its own decoder as decoding starts
                with Video(path, hwaccel=hwaccel) as video:
                    next(video.frames())
                    row["decoded_on_device"] = video.hardware
            if name == "every frame":  # the decoder's first row: warm the engine and it once
                one_video(model, clip, path, None, hwaccel, settings)
            result, record = one_video(
                model, clip, path, reference if name == "every frame" else None, hwaccel, settings
            )
            if decoder == "cpu" and name == "every frame":
                reference = record
            rows.append(row | result)
            print(rows[-1], flush=True)
    return rows


def worker(run: Path, path: Path, hwaccel: str | None, start, results) -> None:
    """One of the parallel indexers: load the model, warm up, wait for the others, time one
    analysis of the whole file; a failure breaks the barrier, so that no other waits on."""
    try:
        import torch

        torch.set_num_threads(1)
        model = load_engine(run, "torch")
        analysed(model, path, hwaccel=hwaccel)
        start.wait(timeout=WAIT)
        began = time.perf_counter()
        record, _, _ = analysed(model, path, hwaccel=hwaccel)
        results.put((began, time.perf_counter(), record.duration))
    except BaseException as e:
        start.abort()
        results.put(f"{type(e).__name__}: {e}")
        raise


def parallel(run: Path, path: Path, count: int, hwaccel: str | None) -> dict:
    """`count` processes indexing `path` at once: aggregate video seconds per wall second,
    or why they did not finish (a process failed or was killed, or `WAIT` passed)."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(count), context.Queue()
    workers = [
        context.Process(target=worker, args=(run, path, hwaccel, start, results), daemon=True)
        for _ in range(count)
    ]
    row = {"video": path.name, "processes": count, "decoder": hwaccel or "cpu"}
    for w in workers:
        w.start()
    done, deadline, failed = [], time.monotonic() + WAIT, None
    try:
        while len(done) < count and failed is None:
            try:
                got = results.get(timeout=2)
            except queue.Empty:
                if time.monotonic() > deadline:
                    failed = f"not finished after {WAIT} s"
                elif any(w.exitcode not in (None, 0) for w in workers):  # killed: no message
                    failed = "a process ended with exit code " + ", ".join(
                        str(w.exitcode) for w in workers if w.exitcode not in (None, 0)
                    )
                continue
            if isinstance(got, str):
                failed = got
            else:
                done.append(got)
    finally:
        start.abort()
        for w in workers:
            w.join(timeout=10)
            if w.is_alive():
                w.terminate()
                w.join()
    if failed:
        return row | {"failed": failed}
    wall = max(end for _, end, _ in done) - min(began for began, _, _ in done)
    video = sum(seconds for _, _, seconds in done)
    return row | {
        "wall_seconds": round(wall, 2),
        "video_seconds": round(video, 2),
        "aggregate_realtime_factor": round(video / wall, 1),
    }


def render(payload: dict) -> str:
    lines = [
        "# Indexing on one GPU",
        "",
        f"Model: {payload['model']} on {payload['device']} (torch); videos: {payload['clip']}.",
        "Decoding on the CPU (FFmpeg's threads) or on NVDEC (`--hwaccel cuda`); 'every frame' "
        "decodes every frame with no midway samples, 'defaults' is `toontag index` as shipped. "
        "Agreement: the share of sampled frames whose decisions match the CPU's every-frame row.",
        "",
        "| video | decoder | settings | x real time | frames decoded | time IoU | agreement |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['video']} | {r['decoder']} | {r['settings']} | {r['skipped']} |||")
            continue
        lines.append(
            f"| {r['video']} | {r['decoder']} | {r['settings']} | {r['realtime_factor']} | "
            f"{r['frames_decoded']} | {r['time_iou']} | {r['agreement']} |"
        )
    if payload["parallel"]:
        lines += ["", "| video | processes | decoder | aggregate x real time |"]
        lines += ["|---|---|---|---|"]
        lines += [
            f"| {r['video']} | {r['processes']} | {r['decoder']} | "
            f"{r.get('aggregate_realtime_factor', r.get('failed'))} |"
            for r in payload["parallel"]
        ]
    lines += ["", f"Goal: >= {GOAL['1920x1080']:.0f}x real time at 1920x1080 on one GPU."]
    return "\n".join(lines)


def run_all(args) -> None:
    started = time.perf_counter()
    folder = args.stage / "gpu-index"
    clip = read_clip(folder)
    model = load_engine(folder / "run", "torch")
    try:
        hardware_decoding("cuda")
        device = None
    except ToontagError as e:
        device = str(e)
    payload = {
        "model": model.model,
        "device": getattr(model, "device", "cpu"),
        "hardware_decoding": device or "cuda: available",
        "clip": f"{clip.duration:.0f} s at {args.fps} fps, x264 {X264_DEFAULTS}",
        "rows": [],
        "parallel": [],
    }
    args.work.mkdir(parents=True, exist_ok=True)

    def save():
        write_result(
            args.out / "indexing-gpu",
            payload,
            render(payload),
            wall_seconds=time.perf_counter() - started,
        )

    for i, name in enumerate(args.sizes.split(",")):
        height, width = _size(name)
        path = args.work / f"plain-{name}.mp4"
        if not path.is_file():
            made = time.perf_counter()
            write_clip(clip, path, fps=args.fps, size=(height, width), options=X264_DEFAULTS)
            print(f"made {path.name} in {time.perf_counter() - made:.0f} s", flush=True)
        payload["rows"] += rows_for(model, clip, path, device)
        save()
        if i == 0:  # the first size (1080p by default): the archive's throughput
            for count in map(int, filter(None, args.parallel.split(","))):
                payload["parallel"].append(
                    parallel(folder / "run", path, count, None if device else "cuda")
                )
                print(payload["parallel"][-1], flush=True)
                save()


def _size(name: str) -> tuple[int, int]:
    width, height = map(int, name.split("x"))
    return height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    made = sub.add_parser("export", help="here: the run and the clip's frames into STAGE")
    made.add_argument("--run", type=Path, required=True)
    made.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    made.add_argument("--stage", type=Path, default=Path("stage"))
    made.add_argument("--seconds", type=float, default=90.0)
    measured = sub.add_parser("run", help="there: make the videos and measure")
    measured.add_argument("--stage", type=Path, default=Path("stage"))
    measured.add_argument("--sizes", default=",".join(SIZES))
    measured.add_argument("--fps", type=int, default=FPS)
    measured.add_argument("--parallel", default="4,8", help="processes at once (1080p)")
    measured.add_argument("--work", type=Path, default=Path("/tmp/toontag-gpu-index"))
    measured.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    if args.step == "export":
        stage_clip(long_clip(val_frames(args.run, args.data), args.seconds), args.run, args.stage)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
