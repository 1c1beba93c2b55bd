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
keyframes only (the encoder's scene-cut keyframes as shots), the previous pixel path
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
from av.video.reformatter import VideoReformatter

from toontag.benchmark.results import write_result
from toontag.benchmark.videos import FPS, HOLDS, long_clip, mean_of, score, val_frames
from toontag.data.dataset import load_dataset
from toontag.data.images import load_resized, resize_rgb
from toontag.models.engine import load_engine, onnx_for
from toontag.models.runtime import OnnxModel
from toontag.video import indexer
from toontag.video import scan as video_scan
from toontag.video.borders import detect_picture
from toontag.video.db import Index
from toontag.video.db_write import VideoRecord
from toontag.video.decode import Video
from toontag.video.indexer import DEFAULT_SMOOTHING, IndexSettings, analyse_video, index_videos
from toontag.video.sampling import SampleGrid
from toontag.video.segments import smooth
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
SAMPLE_FPS = 2.0
RATIO_GOAL = 1.25  # index wall time over decoding alone
STILL_LEVELS = (0.5, 1.0, 2.0)  # candidate `still` tolerances (levers)
ENGINE_NAMES = {"onnx": "ONNX Runtime", "torch": "PyTorch"}


def pil_pixels(frame, size, picture=None, aspect=None, reformatter=None):
    """The pixel path before this benchmark: a full-size RGB copy, then PIL's resize."""
    return resize_rgb(frame.to_image(), size)


def tuned_video(thread_type: str | None = None, skip: str | None = None) -> type[Video]:
    """`Video` with FFmpeg's threading mode and frame skipping set before decoding."""

    class Tuned(Video):
        def __init__(self, path, **kwargs):
            super().__init__(path, **kwargs)
            if thread_type:
                self.stream.thread_type = thread_type
                if thread_type == "NONE":
                    self.stream.thread_count = 1
            if skip:
                self.stream.codec_context.skip_frame = skip

        def frames(self):
            if skip != "NONKEY":
                yield from super().frames()
                return
            declared, self.declared_duration = self.declared_duration, None
            yield from super().frames()  # the last keyframe is not the end: no check
            self.end = max(self.end, declared or 0.0)

    return Tuned


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


def accuracy(clip, record, thresholds) -> float:
    stored = (record.times, record.probabilities, record.shots, record.duration)
    return round(mean_of(score(clip, stored, thresholds, DEFAULT_SMOOTHING))["time_iou"], 4)


class Counted:
    """A model that counts the rows it tags."""

    def __init__(self, model):
        self.model, self.rows = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def probabilities(self, images):
        self.rows += len(images)
        return self.model.probabilities(images)


def analysed(model, path: Path, *, batch_size=32, **settings):
    """`analyse_video` at the benchmark's sample rate and `settings` (`IndexSettings`'
    fields): its record, wall seconds and the rows the model tagged."""
    counted = Counted(model)
    started = time.perf_counter()
    record = analyse_video(
        counted, path, settings=IndexSettings(fps=SAMPLE_FPS, **settings), batch_size=batch_size
    )
    return record, time.perf_counter() - started, counted.rows


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


# each stage's CPU seconds under the five headings
CPU_STAGES = {
    "decode": "decode",
    "shot input (shrink)": "shot detection",
    "shot detection": "shot detection",
    "model input": "model input",
    "inference": "inference",
}


def decode_only(path: Path, repeats: int) -> dict:
    """Decoding alone, as `index` decodes (FFmpeg's threads, every frame): the best wall time
    of `repeats` and the process CPU seconds of that pass."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        with Video(path) as video:
            for _ in video.frames():
                pass
        seconds = (time.perf_counter() - wall, time.process_time() - cpu)
        best = seconds if best is None or seconds[0] < best[0] else best
    return {"wall_seconds": round(best[0], 2), "cpu_seconds": round(best[1], 2)}


def stage_seconds(model, path: Path, work: Path) -> tuple[dict, dict]:
    """One sequential pass with a clock around each step of the shipped pipeline, FFmpeg on
    one thread (its threads would decode ahead during the other steps' clocks): the wall
    seconds per step, and the process CPU seconds per stage (`CPU_STAGES`, the rest: border
    probe, smoothing, SQLite). ONNX Runtime's own threads count in inference's CPU."""
    clock: Counter = Counter()
    cpu: Counter = Counter()

    def timed(stage, fn, *args, **kwargs):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        clock[stage] += time.perf_counter() - started
        cpu[CPU_STAGES.get(stage, "the rest")] += time.process_time() - cpu_started
        return result

    with Video(path) as probe:
        picture = timed("border probe", detect_picture, probe)
    scaler = VideoReformatter()
    times, batch, probabilities = [], [], []
    with tuned_video("NONE")(path) as video:
        detector, frames, grid = ShotDetector(video.fps), video.frames(), SampleGrid(SAMPLE_FPS)
        while (item := timed("decode", next, frames, None)) is not None:
            t, frame = item
            shrunk = timed("shot input (shrink)", detector.shrink, frame)
            timed("shot detection", detector.add, shrunk)
            if grid.due(t):
                batch.append(
                    timed(
                        "model input",
                        video_scan.to_pixels,
                        frame,
                        model.image_size,
                        picture,
                        model.picture_aspect,
                        scaler,
                    )
                )
                times.append(t)
            if len(batch) == 32:
                probabilities.append(timed("inference", model.probabilities, np.stack(batch)))
                batch.clear()
        if batch:
            probabilities.append(timed("inference", model.probabilities, np.stack(batch)))
        shots = detector.shots(video.start, video.end)
        segments = timed(
            "smoothing",
            smooth,
            np.array(times),
            np.concatenate(probabilities),
            model.thresholds,
            video.end,
            shots=shots,
        )
        duration = video.end
    store = Index.create(work / f"{path.stem}-stages.db", model)
    record = VideoRecord(
        path=str(path),
        sha256="0" * 64,
        bytes=0,
        mtime_ns=0,
        duration=duration,
        fps=FPS,
        width=0,
        height=0,
        frames=0,
        sample_fps=SAMPLE_FPS,
        settings=IndexSettings(fps=SAMPLE_FPS).to_dict(),
        seconds=0.0,
        times=np.array(times),
        probabilities=np.concatenate(probabilities),
        shots=shots,
        segments=segments,
        picture=None,
    )
    timed("SQLite", store.write, record)
    store.close()
    return (
        {stage: round(seconds, 2) for stage, seconds in clock.items()},
        {stage: round(seconds, 2) for stage, seconds in cpu.items()},
    )


def levers(args, work: Path, model) -> dict:
    """name -> (what it is, how to run it): a context to patch the pipeline with, and the
    analysed() keywords or another model."""
    int8 = (
        quantized(args.run, args.data, work / "model-int8.onnx", model.image_size)
        if not args.levers or "int8" in args.levers.split(",")
        else None
    )
    one_thread = load_engine(args.run, "onnx", threads=1)
    return {
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
        "model input: PIL (before)": (
            "full-size RGB copy resized by PIL",
            lambda: mock.patch.object(video_scan, "to_pixels", pil_pixels),
            {},
            model,
        ),
        "shot input: swscale area (before)": (
            "the 128-wide copy scaled by swscale from the whole frame, area averaging",
            contextlib.nullcontext,
            {"shot_input": "scaled"},
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
        **{
            f"still {level:g}": (
                f"a sample within {level:g} levels (mean absolute difference of the model's "
                "input) of the last one tagged takes its probabilities",
                contextlib.nullcontext,
                {"still": level},
                model,
            )
            for level in STILL_LEVELS
        },
    }


def agreement(reference, record, thresholds) -> float | None:
    """Share of sampled frames (at the same times) whose decisions at the thresholds agree."""
    if len(reference.times) != len(record.times) or not np.allclose(reference.times, record.times):
        return None
    th = np.array(thresholds)
    same = ((reference.probabilities >= th) == (record.probabilities >= th)).all(axis=1)
    return round(float(same.mean()), 4)


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
    options = levers(args, work, model)
    if args.levers:
        wanted = {"defaults", *args.levers.split(",")}
        if unknown := wanted - set(options):
            parser.error(f"unknown levers: {', '.join(sorted(unknown))}")
        options = {name: lever for name, lever in options.items() if name in wanted}
    for name, (path, clip, _) in videos.items():
        if "short" not in name:
            continue
        reference = None
        for lever, (what, patch, kwargs, engine) in options.items():
            with patch():
                record, seconds, tagged = analysed(engine, path, **kwargs)
            reference = reference or record
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


def render(payload: dict) -> str:
    lines = [
        "# Indexing speed at real resolutions",
        "",
        f"`toontag index` with its shipped defaults and one fixed model (`{payload['model']}`, "
        f"`{payload['run']}`, input {payload['image_size'][0]}x{payload['image_size'][1]}, "
        f"{ENGINE_NAMES[payload['engine']]} on {payload['device']}), "
        f"{payload['sample_fps']:g} sampled frames per second, on videos made "
        "from the run's validation sequences (H.264, 25 fps). Real-time factor = video "
        "seconds / wall seconds, end to end (decode a thread ahead, shots, inference, "
        "smoothing, SQLite).",
        "",
        "## End to end, against the goals",
        "",
        "Decode only: the same file decoded alone as `index` decodes it (FFmpeg's threads, "
        f"every frame), in the same run; decode-only ratio = index wall / decode-only wall "
        f"(goal <= {RATIO_GOAL}).",
        "",
        "| video | seconds | wall (s) | real-time factor | goal | met | sampled / video s | "
        "decode only (s) | decode-only ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["speed"]:
        goal = payload["goals"][r["size"]]
        lines.append(
            f"| {r['video']} | {r['video_seconds']} | {r['wall_seconds']} | "
            f"**{r['realtime_factor']}x** | {goal:g}x | "
            f"{'yes' if r['realtime_factor'] >= goal else 'no'} | "
            f"{r['sampled_per_video_second']} | "
            f"{r.get('decode_only', {}).get('wall_seconds', '')} | "
            f"{r.get('decode_only_ratio', '')} |"
        )
    stages = list(dict.fromkeys(s for r in payload["speed"] for s in r["stages"]))
    lines += [
        "",
        "## Where the time goes",
        "",
        "Seconds per stage in one sequential pass with a clock around each step, FFmpeg "
        "decoding on one thread so that no clock holds another stage's work (the shipped run "
        "decodes with FFmpeg's threads, a thread ahead of the rest, so its wall time is less "
        "than the sum):",
        "",
        "| video | " + " | ".join(stages) + " | sum |",
        "|---|" + "---|" * (len(stages) + 1),
        *(
            f"| {r['video']} | "
            + " | ".join(str(r["stages"].get(s, "")) for s in stages)
            + f" | {sum(r['stages'].values()):.1f} |"
            for r in payload["speed"]
        ),
    ]
    cpu_rows = [r for r in payload["speed"] if "stage_cpu_seconds" in r]
    if cpu_rows:
        heads = [*dict.fromkeys(CPU_STAGES.values()), "the rest"]
        lines += [
            "",
            "Process CPU seconds per stage in that pass (ONNX Runtime's threads count in "
            "inference's); beside decoding = the other stages' CPU over decoding's (goal "
            f"<= {RATIO_GOAL - 1:.2f} at 720p and 1080p):",
            "",
            "| video | " + " | ".join(heads) + " | beside decoding |",
            "|---|" + "---|" * (len(heads) + 1),
            *(
                f"| {r['video']} | "
                + " | ".join(str(r["stage_cpu_seconds"].get(h, 0.0)) for h in heads)
                + f" | {r['beside_decode_cpu_share']:.0%} |"
                for r in cpu_rows
            ),
        ]
    if payload["levers"]:
        lines += [
            "",
            "## Each lever alone",
            "",
            "On the short videos, one change at a time against the defaults (first row of each "
            "video). Time IoU: mean over the eight queries on this validation-made video; "
            "agreement: share of sampled frames whose decisions at the thresholds equal the "
            "defaults' (where the same frames are sampled).",
            "",
            "| video | lever | real-time factor | frames decoded | sampled | tagged | time IoU | "
            "agreement |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {r['video']} | {r['lever']} | {r['realtime_factor']}x | "
                f"{r['frames_decoded']} | {r['frames_sampled']} | {r.get('frames_tagged', '')} | "
                f"{r['time_iou']} | "
                f"{'' if r['agreement'] is None else r['agreement']} |"
                for r in payload["levers"]
            ),
        ]
    if payload.get("overlap"):
        lines += [
            "",
            "Two videos (plain and hard) one after the other, and at once in two threads:",
            "",
            "| size | one by one (s) | overlapped (s) |",
            "|---|---|---|",
            *(
                f"| {o['size']} | {o['one_by_one_seconds']} | {o['overlapped_seconds']} |"
                for o in payload["overlap"]
            ),
        ]
    lines += [
        "",
        "## The videos",
        "",
        "| video | encoder options | motion | grain | frames (I / P / B) | kbit/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in payload["videos"].items():
        types = v["frame_types"]
        options = ", ".join(f"{k}={val}" for k, val in v["encoder_options"].items())
        lines.append(
            f"| {name} | {options} | {v['motion']} | {v['grain']} | "
            f"{types.get('I', 0)} / {types.get('P', 0)} / {types.get('B', 0)} | "
            f"{v['bitrate_kbps']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
