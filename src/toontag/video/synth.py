"""A test video made from labelled frames, with the timeline of who is on screen in it.

Runs of consecutive frame ids that share their labels are real animation sequences; a clip
strings some of them together in a shuffled order, each frame held for `hold` seconds (or,
with `holds`, each sequence for its own time a frame), so that the true timeline is known to
the frame. Tests, benchmarks and the README's walkthrough
index such clips and score `search` against their truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from toontag.data.dataset import LabelledData, Sample
from toontag.data.images import open_rgb
from toontag.errors import DataError, FileError
from toontag.io import check_replaceable, replace_file, write_json
from toontag.video.segments import Segment


@dataclass(frozen=True)
class Clip:
    frames: tuple[Sample, ...]
    hold: float  # seconds each frame stays on screen (unless `holds` says otherwise)
    classes: tuple[str, ...]
    holds: tuple[float, ...] = ()  # per frame, when they differ

    def held(self) -> np.ndarray:
        """Each frame's time on screen."""
        return np.array(self.holds) if self.holds else np.full(len(self.frames), self.hold)

    def starts(self) -> np.ndarray:
        """Each frame's start, and the end of the last: (len(frames) + 1,) seconds."""
        return np.concatenate([[0.0], np.cumsum(self.held())])

    @property
    def duration(self) -> float:
        return float(self.starts()[-1])

    def truth(self) -> dict[str, list[tuple[float, float]]]:
        """Per class, the merged (start, end) seconds in which it is on screen."""
        ranges: dict[str, list[tuple[float, float]]] = {c: [] for c in self.classes}
        bounds = self.starts()
        for i, frame in enumerate(self.frames):
            start, end = float(bounds[i]), float(bounds[i + 1])
            for name in frame.labels:
                spans = ranges[name]
                if spans and abs(spans[-1][1] - start) < 1e-9:
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((start, end))
        return ranges

    def cuts(self) -> list[float]:
        """The times at which one sequence gives way to the next: the clip's shot changes."""
        frames, bounds = self.frames, self.starts()
        return [
            float(bounds[i])
            for i in range(1, len(frames))
            if frames[i].frame_id != frames[i - 1].frame_id + 1
        ]

    def segments(self) -> list[Segment]:
        """The true timeline as segments (confidence 1), as the index stores them."""
        return [
            Segment(self.classes.index(name), start, end, 1.0)
            for name, spans in self.truth().items()
            for start, end in spans
        ]


def sequences(data: LabelledData, min_frames: int) -> list[list[Sample]]:
    """Runs of consecutive frame ids with identical labels, at least `min_frames` long."""
    ordered = sorted(data.samples, key=lambda s: s.frame_id)
    runs: list[list[Sample]] = []
    for sample in ordered:
        last = runs[-1][-1] if runs else None
        if last and sample.frame_id == last.frame_id + 1 and sample.labels == last.labels:
            runs[-1].append(sample)
        else:
            runs.append([sample])
    return [run for run in runs if len(run) >= min_frames]


def make_clip(
    data: LabelledData,
    *,
    seconds: float = 60.0,
    hold: float = 0.5,
    min_frames: int = 4,
    max_frames: int = 12,
    seed: int = 0,
    holds: tuple[float, ...] = (),
) -> Clip:
    """About `seconds` of shuffled sequences of `data` (each cut to `max_frames`); with
    `holds`, each sequence's frames are held one of them, drawn at random."""
    runs = sequences(data, min_frames)
    if not runs:
        raise DataError(f"{data.root}: no run of {min_frames} consecutive frames to make a clip")
    rng = np.random.default_rng(seed)
    frames: list[Sample] = []
    held: list[float] = []
    for i in rng.permutation(len(runs)):
        if (sum(held) if holds else len(frames) * hold) >= seconds:
            break
        run = runs[i][:max_frames]
        frames.extend(run)
        if holds:
            held.extend([float(rng.choice(holds))] * len(run))
    return Clip(tuple(frames), hold, data.classes, tuple(held))


MAX_SIDE = 8192  # pixels; beyond 8K the encoders refuse or memory runs out
# The containers a clip is written in, by suffix, with their muxer's options: those of the
# videos toontag reads that carry H.264 (WebM does not); MP4's index goes first, so that a
# browser plays the file while it loads.
FASTSTART = {"movflags": "+faststart"}
CONTAINERS = {
    ".mp4": FASTSTART,
    ".m4v": FASTSTART,
    ".mov": FASTSTART,
    ".mkv": {},
    ".avi": {},
    ".ts": {},
    ".mpg": {},
    ".mpeg": {},
}


def write_clip(
    clip: Clip,
    out: Path,
    *,
    fps: int = 10,
    size: tuple[int, int] | None = None,
    codec: str = "libx264",
    options: dict[str, str] | None = None,
    motion: float = 0.0,
    grain: float = 0.0,
) -> dict:
    """Encode `clip` to `out` (H.264 MP4 by default, playable in browsers) at `fps` and
    (height, width) `size` (the frames' own by default); write `<out>.truth.json` beside it.
    `options`: the encoder's (default for x264: crf 20, preset veryfast). A harder rendition
    than still frames cut hard: `motion` zooms slowly into each frame while it is held (by
    that fraction of its size by the end of the hold, drifting towards a random corner) and
    `grain` adds noise of that standard deviation (in 0-255 levels) to every frame, so that
    no two frames are the same."""
    out = Path(out)
    check_replaceable(out, folder="--out names the video file to write")
    if out.suffix.lower() not in CONTAINERS:
        raise FileError(
            out,
            f"toontag writes videos as {', '.join(CONTAINERS)}; "
            f"name the file with one of these suffixes, e.g. {out.with_suffix('.mp4').name}",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    repeats = [round(h * fps) for h in clip.held()]
    for h, repeat in zip(clip.held(), repeats, strict=True):
        if repeat < 1 or abs(repeat / fps - h) > 1e-9:
            raise DataError(f"hold {h}s is not a whole number of frames at {fps} fps")
    first, _ = open_rgb(clip.frames[0].path)
    height, width = size or (first.height, first.width)
    if not (2 <= height <= MAX_SIDE and 2 <= width <= MAX_SIDE):
        raise DataError(f"{height}x{width}: a video side is 2 to {MAX_SIDE} pixels")
    if codec == "libx264" and (height % 2 or width % 2):
        raise DataError(
            f"{height}x{width}: H.264 (4:2:0) needs an even height and width, "
            f"e.g. {height // 2 * 2}x{width // 2 * 2}"
        )
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp{out.suffix}")
    try:
        _encode(
            clip,
            tmp,
            fps=fps,
            size=(height, width),
            codec=codec,
            repeats=repeats,
            options=options,
            motion=motion,
            grain=grain,
        )
        replace_file(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    truth = {
        "video": out.name,
        "duration": clip.duration,
        "hold": clip.hold,
        "classes": list(clip.classes),
        "segments": {c: [list(r) for r in spans] for c, spans in clip.truth().items()},
        "frames": [
            {"start": float(start), "hold": float(h), "path": str(s.path), "labels": list(s.labels)}
            for start, h, s in zip(clip.starts(), clip.held(), clip.frames, strict=False)
        ],
    }
    write_json(truth_path(out), truth)
    return truth


def truth_path(video: Path) -> Path:
    return Path(video).with_suffix(".truth.json")


X264_DEFAULTS = {"crf": "20", "preset": "veryfast"}


def _encode(
    clip: Clip,
    path: Path,
    *,
    fps: int,
    size: tuple[int, int],
    codec: str,
    repeats: list[int],
    options=None,
    motion=0.0,
    grain=0.0,
):
    """Each frame of `clip`, its `repeats` times over (moved and grained when asked), into a
    new video file at `path`."""
    import av

    height, width = size
    rng = np.random.default_rng(0)
    noise = [_noise(rng, (height, width), grain) for _ in range(8)] if grain else []
    with av.open(str(path), "w", options=dict(CONTAINERS[path.suffix.lower()])) as container:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = (
            options if options is not None else (X264_DEFAULTS if codec == "libx264" else {})
        )
        shown = 0
        for sample, repeat in zip(clip.frames, repeats, strict=True):
            image, _ = open_rgb(sample.path)
            if not (motion or grain):
                if image.size != (width, height):
                    image = image.resize((width, height))
                frame = av.VideoFrame.from_image(image)
                for _ in range(repeat):
                    container.mux(stream.encode(frame))
                continue
            toward, still = rng.uniform(-1, 1, size=2), np.asarray(image)
            for k in range(repeat):
                pixels = _moved(still, (height, width), motion * k / repeat, toward)
                if noise:
                    import cv2

                    plus, minus = noise[shown % len(noise)]
                    pixels = cv2.subtract(cv2.add(pixels, plus), minus)
                shown += 1
                container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())


def _noise(rng, size: tuple[int, int], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian grain as two uint8 planes to add and subtract (saturating, cheap at 1080p)."""
    grain = rng.normal(0.0, sigma, size=(*size, 1)).round().clip(-255, 255).astype(np.int16)
    grain = np.repeat(grain, 3, axis=2)  # grain in brightness, not colour
    return np.clip(grain, 0, 255).astype(np.uint8), np.clip(-grain, 0, 255).astype(np.uint8)


def _moved(image: np.ndarray, size: tuple[int, int], zoom: float, toward) -> np.ndarray:
    """`image` scaled to (height, width) `size`, zoomed in by `zoom` (a fraction) with its
    centre drifted `toward` a corner by as much: a slow camera move over a still."""
    import cv2

    height, width = size
    scale = width / image.shape[1] * (1 + zoom), height / image.shape[0] * (1 + zoom)
    shift = (
        width * (1 - (1 + zoom)) / 2 * (1 + toward[0]),
        height * (1 - (1 + zoom)) / 2 * (1 + toward[1]),
    )
    matrix = np.array([[scale[0], 0, shift[0]], [0, scale[1], shift[1]]], dtype=np.float32)
    return cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
