"""Indexing speed at real resolutions: the shipped defaults end to end, where the time goes,
and each speed lever measured alone with what it does to accuracy.

    python benchmarks/indexing_speed.py --run runs/cpu-recipe/cosine-flipcrop

One fixed model (ONNX Runtime, the run's own input size), `toontag index`'s shipped defaults
(2 sampled frames per second, shot snapping, border check). Videos are made from the run's
validation sequences (so that a lever can be judged on accuracy without touching test), H.264
at 25 fps, each sequence's frames held one of 0.32-0.8 s, at 320x180 (the dataset's own),
1280x720 and 1920x1080 (upscaled), in two renditions:

- plain: still frames cut hard, x264 at its defaults (`preset veryfast`, `crf 20`: scene-cut
  keyframes, 3 B-frames), `--seconds` long (10 minutes);
- hard: a fixed GOP of 2 s with no scene-cut keyframes, 3 B-frames, grain (noise of 2 levels)
  and a slow zoom and drift over every held frame (no two frames alike), `--lever-seconds`.

Every video's encoder settings and its measured frame types are recorded. Per video: the
real-time factor of `toontag index` end to end (decoding a thread ahead, as shipped) and,
from a sequential pass with a clock around each step, the seconds per stage (border probe,
decode, shot detection's shrunk copy, shot detection, the model's input, inference,
smoothing and SQLite). Then each lever alone against the defaults on `--lever-seconds` of
both renditions at every size: FFmpeg's threading modes, decoding reference frames only,
keyframes only (the encoder's scene-cut keyframes as shots), skimming (`--skim`: keyframes
first, every frame only where they differ), `--busy-samples`, the previous pixel path
(a full-size RGB copy resized by PIL) and shot input (256 wide), ONNX Runtime threads and
batch size, int8 (static, QDQ, calibrated on 256 training frames) with its agreement with
fp32 at the thresholds on the video's own sampled frames, `--cut-samples`, `--no-borders`,
and two videos indexed overlapped (two threads) instead of one after the other. Each row
gives its validation mean time IoU (the eight queries of toontag.benchmark.videos) beside
its speed. Writes results/indexing-speed.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from unittest import mock

import av
import numpy as np
from av.video.frame import PictureType

from toontag.benchmark.results import write_result
from toontag.benchmark.speed_probes import (
    accuracy,
    agreement,
    analysed,
    decode_only,
    pil_pixels,
    stage_seconds,
    tuned_video,
)
from toontag.benchmark.speed_tables import (
    BUSY,
    RATIO_GOAL,
    REFERENCE,
    REFERENCE_SETTINGS,
    SAMPLE_FPS,
    STILL_LEVELS,
    STILL_OFF,
    choices,
    render,
)
from toontag.benchmark.videos import FPS, HOLDS, long_clip, val_frames
from toontag.data.dataset import load_dataset
from toontag.data.images import load_resized
from toontag.models.engine import load_engine, onnx_for
from toontag.models.runtime import OnnxModel
from toontag.video import indexer
from toontag.video import scan as video_scan
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.shots import ShotDetector
from toontag.video.synth import X264_DEFAULTS, make_clip, write_clip

SIZES = {"320x180": (180, 320), "1280x720": (720, 1280), "1920x1080": (1080, 1920)}
GOALS = {"320x180": 100.0, "1280x720": 40.0, "1920x1080": 25.0}  # x real time, 2 cores
RENDITIONS = {
    "plain": {"options": X264_DEFAULTS, "motion": 0.0, "grain": 0.0},
    "hard": {
        "options": {
            "crf": "23",
            "preset": "veryfast",
            "x264-params": "keyint=50:min-keyint=50:scenecut=0:bframes=3",
        },
        "motion": 0.08,
        "grain": 2.0,
    },
}


def quantized(run: Path, data: Path, out: Path, size: tuple[int, int]) -> OnnxModel:
    """The run's ONNX model quantized to int8 (static, QDQ, per channel), calibrated on 256
    training frames; its toontag metadata kept."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    train = load_dataset(data).subset("train").samples
    picks = np.random.default_rng(0).choice(len(train), 256, replace=False)
    images = np.stack([load_resized(train[i].path, size)[0] for i in picks])

    class Frames(CalibrationDataReader):
        def __init__(self):
            self.batches = iter(images[i : i + 32] for i in range(0, len(images), 32))

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    source = onnx_for(run)
    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(source), str(pre))
    quantize_static(str(pre), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True)
    model = onnx.load(str(out))
    if not model.metadata_props:
        model.metadata_props.extend(onnx.load(str(source)).metadata_props)
        onnx.save(model, str(out))
    return OnnxModel(out)


def describe(path: Path, options: dict, extra: dict) -> dict:
    """A video's encoder settings and what the stream holds: frames by type, bitrate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        types = Counter(PictureType(f.pict_type).name for f in container.decode(stream))
        seconds = float(stream.duration * stream.time_base)
    return {
        "file": path.name,
        "codec": "libx264 (H.264, yuv420p, MP4)",
        "fps": FPS,
        "encoder_options": options,
        **extra,
        "seconds": round(seconds, 2),
        "frame_types": dict(sorted(types.items())),
        "bitrate_kbps": round(path.stat().st_size * 8 / seconds / 1000),
    }


def make_videos(frames, work: Path, seconds: float, lever_seconds: float) -> dict:
    """name -> (path, clip, description) for every video of the benchmark (made once)."""
    long = long_clip(frames, seconds)
    short_clip = make_clip(frames, seconds=lever_seconds, seed=1, holds=HOLDS)
    videos = {}
    for size_name, size in SIZES.items():
        for rendition, settings in RENDITIONS.items():
            for length, clip in (("long", long), ("short", short_clip)):
                if rendition == "hard" and length == "long":
                    continue  # the hard rendition is encoded slowly (every frame differs)
                name = f"{rendition}-{length}-{size_name}"
                path = work / f"{name}.mp4"
                if not path.is_file():
                    started = time.perf_counter()
                    write_clip(clip, path, fps=FPS, size=size, **settings)
                    print(f"made {name} in {time.perf_counter() - started:.0f} s", flush=True)
                extra = {"motion": settings["motion"], "grain": settings["grain"]}
                videos[name] = (path, clip, describe(path, settings["options"], extra))
    return videos


def end_to_end(model, path: Path, work: Path, repeats: int) -> dict:
    """`toontag index` on one video into a fresh index: the best wall time of `repeats`."""
    best = None
    for repeat in range(repeats):
        store = Index.create(work / f"{path.stem}-{repeat}.db", model)
        [outcome] = index_videos(store, model, [path], settings=IndexSettings(fps=SAMPLE_FPS))
        store.close()
        if outcome.status != "indexed":
            raise RuntimeError(f"{path}: {outcome.detail}")
        best = outcome if best is None or outcome.seconds < best.seconds else best
    return {
        "wall_seconds": round(best.seconds, 2),
        "video_seconds": round(best.duration, 2),
        "frames_sampled": best.sampled,
        "realtime_factor": round(best.duration / best.seconds, 1),
        "sampled_per_video_second": round(best.sampled / best.duration, 2),
    }


def levers(args, work: Path, model, wanted: set[str] | None) -> dict:
    """name -> (what it is, how to run it): a context to patch the pipeline with, and the
    analysed() keywords or another model. The int8 model is made only if `wanted` (None:
    every lever) asks for it."""
    int8 = (
        quantized(args.run, args.data, work / "model-int8.onnx", model.image_size)
        if wanted is None or "int8" in wanted
        else None
    )
    one_thread = load_engine(args.run, "onnx", threads=1)
    return {
        REFERENCE: (
            "every frame decoded, no midway samples (the rules' reference)",
            contextlib.nullcontext,
            {},
            model,
        ),
        "defaults": ("as shipped", contextlib.nullcontext, {}, model),
        "decode: frame threads": (
            "FFmpeg frame threading only",
            lambda: mock.patch.object(indexer, "Video", tuned_video("FRAME")),
            {},
            model,
        ),
        "decode: slice threads": (
            "FFmpeg slice threading only",
            lambda: mock.patch.object(indexer, "Video", tuned_video("SLICE")),
            {},
            model,
        ),
        "decode: one thread": (
            "no FFmpeg threads",
            lambda: mock.patch.object(indexer, "Video", tuned_video("NONE")),
            {},
            model,
        ),
        "decode: reference frames only": (
            "skip non-reference frames (most B-frames)",
            lambda: mock.patch.object(indexer, "Video", tuned_video(skip="NONREF")),
            {},
            model,
        ),
        "decode: keyframes only": (
            "decode keyframes only: the encoder's keyframes are the "
            "only frames seen, shots cut at them",
            lambda: mock.patch.object(indexer, "Video", tuned_video(skip="NONKEY")),
            {},
            model,
        ),
        "skim: changes": (
            "keyframes first, then every frame only between keyframes whose characters "
            "differ (`--skim changes`)",
            contextlib.nullcontext,
            {"skim": "changes"},
            model,
        ),
        "skim: cuts": (
            "keyframes first, then every frame between keyframes whose characters differ or "
            "whose pictures cut (`--skim cuts`)",
            contextlib.nullcontext,
            {"skim": "cuts"},
            model,
        ),
        "skim: changes, reference frames": (
            "`--skim changes --fast-decode`: the stretches decoded in reference frames only",
            contextlib.nullcontext,
            {"skim": "changes", "fast_decode": True},
            model,
        ),
        "skim: changes, busy samples": (
            "`--skim changes --busy-samples`",
            contextlib.nullcontext,
            {"skim": "changes", "busy": True},
            model,
        ),
        BUSY: (
            "the frame midway between two samples that disagree tagged too (`--busy-samples`)",
            contextlib.nullcontext,
            {"busy": True},
            model,
        ),
        "model input: PIL (before)": (
            "full-size RGB copy resized by PIL",
            lambda: mock.patch.object(video_scan, "to_pixels", pil_pixels),
            {},
            model,
        ),
        "shot input: decoder planes": (
            "the 128-wide copy read in place from the decoder's planes (centre pixels)",
            contextlib.nullcontext,
            {"shot_input": "planes"},
            model,
        ),
        "shot input: swscale 256 wide": (
            "PySceneDetect's default width, scaled by swscale",
            lambda: mock.patch.object(
                video_scan, "ShotDetector", partial(ShotDetector, width=256, source="scaled")
            ),
            {},
            model,
        ),
        "shot input: swscale point": (
            "the 128-wide copy by swscale's point sampling",
            lambda: mock.patch.object(
                video_scan,
                "ShotDetector",
                partial(ShotDetector, interpolation="POINT", source="scaled"),
            ),
            {},
            model,
        ),
        "ONNX Runtime: 1 thread": (
            "leave a core to decoding",
            contextlib.nullcontext,
            {},
            one_thread,
        ),
        "batch 8": (
            "inference batch 8 (default 32)",
            contextlib.nullcontext,
            {"batch_size": 8},
            model,
        ),
        "batch 64": ("inference batch 64", contextlib.nullcontext, {"batch_size": 64}, model),
        "int8": ("ONNX Runtime int8, static QDQ per channel", contextlib.nullcontext, {}, int8),
        "--cut-samples": (
            "a sample at every shot's first frame too",
            contextlib.nullcontext,
            {"cut_samples": True},
            model,
        ),
        "--no-borders": ("no border probe", contextlib.nullcontext, {"borders": False}, model),
        STILL_OFF: ("every sample tagged", contextlib.nullcontext, {"still": None}, model),
        **{
            f"still {level:g}": (
                f"a sample whose model input differs from the last one tagged in at most "
                f"{level:g}% of its pixels takes its probabilities",
                contextlib.nullcontext,
                {"still": level},
                model,
            )
            for level in STILL_LEVELS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--seconds", type=float, default=600.0, help="the plain videos")
    parser.add_argument("--lever-seconds", type=float, default=90.0)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--videos", type=Path, default=Path.home() / ".cache/toontag/speed")
    parser.add_argument(
        "--engine",
        choices=("onnx", "torch"),
        default="onnx",
        help="torch: PyTorch on the GPU where there is one (part 6)",
    )
    parser.add_argument("--no-levers", action="store_true", help="end to end and stages only")
    parser.add_argument(
        "--levers", help="only these levers (comma-separated names; the defaults always run)"
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toontag-speed-"))
    args.videos.mkdir(parents=True, exist_ok=True)
    videos = make_videos(
        val_frames(args.run, args.data), args.videos, args.seconds, args.lever_seconds
    )
    model = load_engine(args.run, args.engine)
    payload = {
        "run": str(args.run),
        "model": model.model,
        "image_size": model.image_size,
        "engine": args.engine,
        "device": getattr(model, "device", "cpu"),
        "sample_fps": SAMPLE_FPS,
        "goals": GOALS,
        "decode_only_ratio_goal": RATIO_GOAL,
        "videos": {name: v[2] for name, v in videos.items()},
        "speed": [],
        "levers": [],
    }

    def save():
        write_result(
            args.out / "indexing-speed",
            payload,
            render(payload),
            wall_seconds=time.perf_counter() - started,
        )

    for name, (path, _, _) in videos.items():
        if "short" in name and not name.startswith("hard"):
            continue
        row = {"video": name, "size": name.rsplit("-", 1)[1]}
        row |= end_to_end(model, path, work, args.repeats)
        row["stages"], row["stage_cpu_seconds"] = stage_seconds(model, path, work)
        row["decode_only"] = decode_only(path, args.repeats)
        row["decode_only_ratio"] = round(
            row["wall_seconds"] / row["decode_only"]["wall_seconds"], 3
        )
        cpu = row["stage_cpu_seconds"]
        row["beside_decode_cpu_share"] = round(
            sum(v for k, v in cpu.items() if k != "decode") / cpu["decode"], 3
        )
        payload["speed"].append(row)
        print(row, flush=True)
        save()
    if args.no_levers:
        return
    wanted = {REFERENCE, "defaults", *args.levers.split(",")} if args.levers else None
    options = levers(args, work, model, wanted)
    if wanted is not None:
        if unknown := wanted - set(options):
            parser.error(f"unknown levers: {', '.join(sorted(unknown))}")
        options = {name: lever for name, lever in options.items() if name in wanted}
    for name, (path, clip, _) in videos.items():
        if "short" not in name:
            continue
        reference = None
        for lever, (what, patch, kwargs, engine) in options.items():
            base = {} if lever == "defaults" else REFERENCE_SETTINGS  # the others: on it
            with patch():
                record, seconds, tagged = analysed(engine, path, **base | kwargs)
            reference = reference or record
            if lever == STILL_OFF:  # the still levels' decisions are compared with this one's
                reference = record
            row = {
                "video": name,
                "lever": lever,
                "what": what,
                "wall_seconds": round(seconds, 2),
                "realtime_factor": round(record.duration / seconds, 1),
                "frames_decoded": record.frames,
                "frames_sampled": len(record.times),
                "frames_tagged": tagged,
                "time_iou": accuracy(clip, record, model.thresholds),
                "agreement": agreement(reference, record, model.thresholds),
            }
            payload["levers"].append(row)
            print(row, flush=True)
        save()
    payload["choices"] = choices(payload["levers"])
    overlapped(payload, videos, model)
    save()


def overlapped(payload: dict, videos: dict, model) -> None:
    """Two videos of one size one after the other, then at once in two threads."""
    for size in SIZES:
        pair = [videos[f"{r}-short-{size}"][0] for r in RENDITIONS]
        started = time.perf_counter()
        for path in pair:
            analysed(model, path)
        one_by_one = time.perf_counter() - started
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(partial(analysed, model), pair))
        together = time.perf_counter() - started
        payload.setdefault("overlap", []).append(
            {
                "size": size,
                "videos": [p.name for p in pair],
                "one_by_one_seconds": round(one_by_one, 2),
                "overlapped_seconds": round(together, 2),
            }
        )


if __name__ == "__main__":
    main()
