"""The probes of benchmarks/indexing_speed.py and indexing_gpu.py: decoders tuned one way,
the previous pixel path, a model that counts what it tags, decoding alone, the sequential pass
with a clock (wall and CPU) around each stage of the shipped pipeline, and one video analysed
at given settings with its time IoU and its decisions' agreement with another analysis."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from av.video.reformatter import VideoReformatter

from toontag.benchmark.speed_tables import CPU_STAGES, SAMPLE_FPS
from toontag.benchmark.videos import FPS, mean_of, score
from toontag.data.images import resize_rgb
from toontag.video import scan as video_scan
from toontag.video.borders import detect_picture
from toontag.video.db import Index
from toontag.video.db_write import VideoRecord
from toontag.video.decode import Video
from toontag.video.indexer import DEFAULT_SMOOTHING, IndexSettings, analyse_video
from toontag.video.sampling import SampleGrid
from toontag.video.scan import changed_share
from toontag.video.segments import smooth
from toontag.video.shots import ShotDetector


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


class Counted:
    """A model that counts the rows it tags."""

    def __init__(self, model):
        self.model, self.rows = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def probabilities(self, images):
        self.rows += len(images)
        return self.model.probabilities(images)


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
    scaler, settings = VideoReformatter(), IndexSettings(fps=SAMPLE_FPS)
    times, batch, probabilities, source, tagged, last = [], [], [], [], 0, None
    with tuned_video("NONE")(path) as video:
        detector = ShotDetector(video.fps, source=settings.shot_input)
        frames, grid = video.frames(), SampleGrid(SAMPLE_FPS)
        while (item := timed("decode", next, frames, None)) is not None:
            t, frame = item
            shrunk = timed("shot input (shrink)", detector.shrink, frame)
            timed("shot detection", detector.add, shrunk)
            if grid.due(t):
                pixels = timed(
                    "model input",
                    video_scan.to_pixels,
                    frame,
                    model.image_size,
                    picture,
                    model.picture_aspect,
                    scaler,
                )
                times.append(t)
                still = last is not None and settings.still is not None
                if still and timed("model input", changed_share, pixels, last) <= settings.still:
                    source.append(tagged - 1)  # as `scan`: the last tagged sample's row
                else:
                    source.append(tagged)
                    tagged, last = tagged + 1, pixels
                    batch.append(pixels)
            if len(batch) == 32:
                probabilities.append(timed("inference", model.probabilities, np.stack(batch)))
                batch.clear()
        if batch:
            probabilities.append(timed("inference", model.probabilities, np.stack(batch)))
        shots = detector.shots(video.start, video.end)
        sampled = np.concatenate(probabilities)[np.array(source, dtype=np.intp)]
        segments = timed(
            "smoothing",
            smooth,
            np.array(times),
            sampled,
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
        settings=settings.to_dict(),
        seconds=0.0,
        times=np.array(times),
        probabilities=sampled,
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


def analysed(model, path: Path, *, batch_size=32, **settings):
    """`analyse_video` at the benchmark's sample rate and `settings` (`IndexSettings`'
    fields): its record, wall seconds and the rows the model tagged."""
    counted = Counted(model)
    started = time.perf_counter()
    record = analyse_video(
        counted, path, settings=IndexSettings(fps=SAMPLE_FPS, **settings), batch_size=batch_size
    )
    return record, time.perf_counter() - started, counted.rows


def accuracy(clip, record, thresholds) -> float:
    stored = (record.times, record.probabilities, record.shots, record.duration)
    return round(mean_of(score(clip, stored, thresholds, DEFAULT_SMOOTHING))["time_iou"], 4)


def agreement(reference, record, thresholds) -> float | None:
    """Share of sampled frames (at the same times) whose decisions at the thresholds agree."""
    if len(reference.times) != len(record.times) or not np.allclose(reference.times, record.times):
        return None
    th = np.array(thresholds)
    same = ((reference.probabilities >= th) == (record.probabilities >= th)).all(axis=1)
    return round(float(same.mean()), 4)
