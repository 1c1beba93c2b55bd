"""Stream-decode a video with PyAV, a frame at a time, with one-line errors for bad files.

Times come from each frame's presentation timestamp, so variable frame rate video is timed
exactly; nothing but the current frame is held in memory. A file of one picture (an image
renamed .mp4, a one-frame stream) is not a video.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
from av.codec.hwaccel import HWAccel
from av.video.reformatter import VideoReformatter
from PIL import Image

from toontag.data.borders import Picture, fit_picture
from toontag.data.images import PICTURE_ASPECT, resize_rgb
from toontag.errors import VideoError
from toontag.io import descriptor_path, open_regular
from toontag.video.hardware import DEVICE_FORMATS, no_device, opens_plain

TRUNCATION_SLACK = 1.0  # seconds of declared duration that may lack frames at the end
STILL = "not a video (a still image)"  # a file of one picture, whatever its name says
SEEK_BACK = (0.0, 2.0, 10.0, 60.0)  # seconds before a time to seek to, until one lands before


def ffmpeg_logs_off() -> None:
    """Keep FFmpeg's log messages out of Python, as PyAV does by default. A library may have
    let them in: torchvision's video module (removed in 0.26) calls `av.logging.set_level(ERROR)`
    as torchvision is imported. Then each message from FFmpeg's own decoding threads waits for
    the GIL (all of them in PyAV 15; in later releases those at or above the level), while
    freeing a decoder waits for those threads with the GIL held: a deadlock (PyAV issues 751
    and 909) that hung a thumbnail request to the server for good."""
    if av.logging.get_level() is not None:
        av.logging.set_level(None)


class Video:
    """An open video file: its `fps`, size and `declared_duration`, `frames()` in order,
    `image_at(seconds)`; `end` (where the frames stop) once `frames()` has run.
    `reference_only`: decode only the frames others are predicted from (skipping most
    B-frames: about half the frames of an x264 stream at its defaults). `hwaccel`: a device
    type (`video.hardware`; "cuda"): decoded there, frames copied back to memory (as NV12);
    a stream that device cannot decode is decoded here (`hardware` says which, once a frame
    has been decoded)."""

    def __init__(
        self, path: Path | str, *, reference_only: bool = False, hwaccel: str | None = None
    ):
        self.path = Path(path)
        self.reference_only, self.hwaccel = reference_only, hwaccel
        ffmpeg_logs_off()
        try:
            file = open_regular(self.path, error=VideoError)  # a FIFO must not hang the open
        except FileNotFoundError:
            raise VideoError(self.path, "no such file") from None
        except OSError as e:
            raise VideoError(self.path, f"not a readable video ({_reason(e)})") from None
        with file:  # FFmpeg opens the file checked, not whatever is at the path by then
            if os.fstat(file.fileno()).st_size == 0:
                raise VideoError(self.path, "empty file (0 bytes)")
            try:
                self.container = av.open(
                    descriptor_path(file.fileno()), "r", hwaccel=hwaccel and HWAccel(hwaccel)
                )
            except (av.error.FFmpegError, UnicodeDecodeError) as e:
                if hwaccel and opens_plain(file):  # the file is fine without the device
                    raise no_device(hwaccel, e) from None
                raise VideoError(self.path, f"not a readable video ({_reason(e)})") from e
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(self.path, "no video stream (audio or data only)")
        self.stream = self.container.streams.video[0]
        if self.stream.codec_context is None:  # a codec tag damaged or unknown to FFmpeg
            self.close()
            raise VideoError(self.path, "no decoder for its video stream (damaged or unknown)")
        if self.stream.frames == 1:  # declared by MP4, GIF: one picture, no need to decode it
            self.close()
            raise VideoError(self.path, STILL)
        self.stream.thread_type = "AUTO"  # with a device too, as FFmpeg's own command does
        if reference_only:  # frames no other frame refers to (most B-frames) are not decoded
            self.stream.codec_context.skip_frame = "NONREF"
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.width, self.height = self.stream.width, self.stream.height
        if not self.width or not self.height:
            self.close()
            raise VideoError(self.path, "video stream has no picture size")
        self.declared_duration, self.declared_from_zero = self._declared_duration()
        self.end = 0.0  # where the frames decoded so far stop
        self.start = (
            float(self.stream.start_time * self.stream.time_base)
            if self.stream.start_time is not None
            else 0.0
        )

    def again(self) -> Video:
        """The same file opened again with the same options: a second read position."""
        return type(self)(self.path, reference_only=self.reference_only, hwaccel=self.hwaccel)

    @property
    def hardware(self) -> bool:
        """Whether the frames decoded so far came from the device: FFmpeg falls back to its
        own decoder when the device rejects a stream as decoding starts (10-bit H.264, 4:2:2),
        and the context's pixel format then is the stream's own, not the device's."""
        context = self.stream.codec_context
        return bool(context.is_hwaccel) and context.pix_fmt in DEVICE_FORMATS

    def _declared_duration(self) -> tuple[float | None, bool]:
        """The stream's length when it declares one (MP4); else the container's duration
        (MKV, WebM), which counts from time 0, not from the first frame (then True)."""
        if self.stream.duration is not None and self.stream.time_base:
            return float(self.stream.duration * self.stream.time_base), False
        if self.container.duration is not None:
            return self.container.duration / av.time_base, True
        return None, False

    def frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """Every frame with its time in seconds from the start; checks the file ends where
        it says (a cut-off download is an error, not a short video)."""
        self.end = 0.0
        count = 0
        for time, frame in self._timed():
            count += 1
            yield time, frame
        if count == 0:
            raise VideoError(self.path, "no decodable frame (truncated or empty stream)")
        if count == 1:  # an image renamed .mp4 (PNG, JPEG), a one-frame MJPEG or H.264 file
            raise VideoError(self.path, STILL)
        if reason := self._truncated():
            raise VideoError(self.path, reason)

    def _timed(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """The decoder's frames from where the container stands, timed; `end` follows them."""
        try:
            for frame in self.container.decode(self.stream):
                if frame.pts is None:
                    continue
                time = float(frame.pts * frame.time_base) - self.start
                step = float(frame.duration * frame.time_base) if frame.duration else 0.0
                self.end = max(self.end, time + (step or 1.0 / (self.fps or 25.0)))
                yield time, frame
        except av.error.FFmpegError as e:
            # A cut-off download ends in a broken packet that some FFmpeg releases report and
            # others pass over: truncated either way, when frames stop short of the declared end.
            reason = self._truncated() or f"corrupt after {self.end:.1f}s ({_reason(e)})"
            raise VideoError(self.path, reason) from e

    def keyframes(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """The keyframes alone, timed (FFmpeg skips decoding the rest: a fraction of the
        work), and None for each other frame a decoder that does not skip returns. Call it
        on a `Video` of its own: the decoder keeps skipping afterwards."""
        self.stream.codec_context.skip_frame = "NONKEY"
        for time, frame in self._timed():
            yield (time, frame) if frame.key_frame else None

    def stretch(self, start: float, until: float | None) -> Iterator[tuple[float, av.VideoFrame]]:
        """The frames from `start` seconds (a keyframe's time) to the first at or after
        `until`, that one included; None: to the end, checked for truncation as `frames`
        checks it. `end` keeps the furthest frame seen. A seek that lands after `start`
        (MPEG-TS seeks by byte position) is tried again further back, as in `image_at`."""
        frames = None
        for back in SEEK_BACK:
            self.container.seek(
                max(0, round((start - back + self.start) / self.stream.time_base)),
                stream=self.stream,
                backward=True,
            )
            frames = self._timed()
            first = next(frames, None)
            if first is None or first[0] <= start + 1e-6 or start - back <= 0:
                break
        for time, frame in itertools.chain([first] if first else [], frames):
            if time < start - 1e-6:  # from the keyframe before, where `start` is none
                continue
            yield time, frame
            if until is not None and time >= until - 1e-6:
                return
        if until is None and (reason := self._truncated()):
            raise VideoError(self.path, reason)

    def _truncated(self) -> str | None:
        """Why the frames decoded so far end short of the duration the file declares, if
        they do."""
        declared = self.declared_duration
        # A stream cut from t=10 s starts at 10 s: a duration counted from 0 ends at start + end.
        last = self.end + (self.start if self.declared_from_zero else 0.0)
        if declared and last < declared - max(TRUNCATION_SLACK, 2.0 / (self.fps or 25.0)):
            return f"truncated: frames stop at {self.end:.1f}s of a declared {declared:.1f}s"
        return None

    def image_at(self, seconds: float) -> Image.Image:
        """The frame on screen at `seconds`: seek to the keyframe before, decode forward. A
        seek that lands after the time (MPEG-TS seeks by byte position, not to the keyframe
        before; past its last keyframe it lands on nothing) is tried again further back."""
        target = seconds + self.start
        try:
            for back in SEEK_BACK:
                found = self._shown_at(target, max(0.0, target - back), late=False)
                if found is not None:
                    return upright(found)
            # from the very start: a first frame later than `target` is then the one shown
            found = self._shown_at(target, 0.0, late=True)
        except av.error.FFmpegError as e:  # a file damaged in its index or its frames
            raise VideoError(self.path, f"cannot decode at {seconds:.1f}s ({_reason(e)})") from e
        if found is None:
            raise VideoError(self.path, f"no frame at {seconds:.1f}s")
        return upright(found)

    def _shown_at(self, target: float, seek: float, *, late: bool) -> av.VideoFrame | None:
        """The last frame at or before `target` seconds, decoding on from a seek to `seek`;
        None where the seek landed after `target`, unless `late` (then its first frame)."""
        self.container.seek(
            max(0, math.floor(seek / self.stream.time_base)), stream=self.stream, backward=True
        )
        found = None
        try:
            for frame in self.container.decode(self.stream):
                if frame.pts is None:
                    continue
                if float(frame.pts * frame.time_base) > target + 1e-6:
                    if found is None and late:
                        found = frame
                    break
                found = frame
        except av.error.FFmpegError:
            if found is None:
                raise
        return found

    def spread_frames(self, count: int) -> list[av.VideoFrame]:
        """About `count` frames spread over the video, each the keyframe at or before an even
        step (one seek and one decode each); without a declared duration, every tenth of the
        first frames. Call it on a `Video` of its own: it moves the read position."""
        found: dict[int, av.VideoFrame] = {}
        try:
            if not self.declared_duration:
                for k, (_, frame) in enumerate(self.frames()):
                    if k % 10 == 0:
                        found[k] = frame
                    if len(found) == count:
                        break
                return list(found.values())
            for k in range(count):
                target = self.start + (k + 0.5) / count * self.declared_duration
                self.container.seek(
                    max(0, math.floor(target / self.stream.time_base)),
                    stream=self.stream,
                    backward=True,
                )
                frame = next(
                    (f for f in self.container.decode(self.stream) if f.pts is not None), None
                )
                if frame is not None:
                    found.setdefault(frame.pts, frame)
        except (av.error.FFmpegError, VideoError):
            pass  # a damaged part: the main decoding names it; these frames are enough
        return list(found.values())

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def to_pixels(
    frame: av.VideoFrame,
    size: tuple[int, int],
    picture: Picture | None = None,
    aspect: float = PICTURE_ASPECT,
    reformatter: VideoReformatter | None = None,
) -> np.ndarray:
    """A frame as the model saw its training images: RGB, upright (as a player shows it, by
    the stream's rotation), resized to (height, width) uint8; with a `picture` that has
    borders, cropped to it and fitted to `aspect` first. A whole frame is converted and
    resized in one FFmpeg (swscale) step, bilinear with area averaging when shrinking like
    PIL's resize of the training images: at 1080p 2 ms instead of 40 for a full-size RGB
    copy resized by PIL (benchmarks/indexing_speed.py measures both and how often their
    decisions agree); pass one `reformatter` for every frame."""
    # a stream whose size changes mid-way: the borders were found at the size it started at
    cropped = picture is not None and picture.cropped
    if cropped and (frame.width, frame.height) == (picture.width, picture.height):
        return resize_rgb(fit_picture(frame.to_image(), picture, aspect), size)
    turns = quarter_turns(frame)
    height, width = size if turns % 2 == 0 else size[::-1]
    scaled = (reformatter or VideoReformatter()).reformat(
        frame, width, height, "rgb24", interpolation="BILINEAR"
    )
    return np.ascontiguousarray(np.rot90(scaled.to_ndarray(), turns))


def quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that make the frame upright: its display matrix (a
    phone's portrait video is stored sideways with rotation 90 or -90)."""
    return round((frame.rotation or 0) / 90) % 4


def upright(frame: av.VideoFrame) -> Image.Image:
    """The frame as a player shows it (rotated by its display matrix)."""
    image = frame.to_image()
    turns = quarter_turns(frame)
    return image.rotate(90 * turns, expand=True) if turns else image


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or type(error).__name__
