"""Shot boundaries with PySceneDetect's content detector, fed the frames we already decode.

The detector works on a copy about 128 pixels wide, scaled by FFmpeg (swscale, area
averaging). With `source="planes"` the copy is read in place from the planes the decoder
produced (8-bit 4:2:0, the usual H.264/HEVC/VP9/AV1 output): the pixel at the centre of each
cell of the luma and chroma planes and one small colour conversion, no scaling of the whole
frame; other pixel formats are scaled as before. It is cheaper and finds slightly different
cuts (results/indexing-speed.md: on validation it lost time IoU on one video of six, so it is
an option, not the default).
"""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.common import Timecode

# The detector's working width: PySceneDetect's own default is 256; at 128 each frame costs
# less and the index's time IoU was the same or higher on every video of
# benchmarks/indexing_speed.py (results/indexing-speed.md, "shot input" rows).
DETECT_WIDTH = 128
SOURCES = ("planes", "scaled")  # how the small copy is made: in place, or by swscale
PLANAR_420 = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0 planar: read in place (j: full range)
FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_LEVELS = np.arange(256, dtype=np.float64)
LIMITED_TO_FULL = np.dstack(  # per channel (Y, Cr, Cb): 16-235 and 16-240 to 0-255
    [np.clip(np.round((_LEVELS - 16) * 255 / 219), 0, 255)]
    + [np.clip(np.round((_LEVELS - 128) * 255 / 224 + 128), 0, 255)] * 2
).astype(np.uint8)


class ShotDetector:
    """Feed every decoded frame, made small by `shrink`, to `add`; `shots(start, duration)`
    gives (start, end) seconds. `shrink` is PyAV work and may run in the decoding thread."""

    THRESHOLD = 27.0  # PySceneDetect's content score that makes a cut (its default)

    def __init__(
        self,
        fps: float | None,
        threshold: float = THRESHOLD,
        min_shot: float = 0.5,
        width: int = DETECT_WIDTH,
        interpolation: str = "AREA",
        source: str = "scaled",
    ):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
        self.width, self.interpolation, self.source = width, interpolation, source
        self.rate = Fraction(fps or 25.0).limit_denominator(1001)
        self.detector = ContentDetector(threshold=threshold, min_scene_len=min_shot)
        self.cuts: list[float] = []
        self.last: FrameTimecode | None = None
        self.reformatter = VideoReformatter()  # reused: a new scaler per frame costs 5x
        self._grid: tuple = ()  # (frame and copy sizes, rows, columns) of the planes' pixels

    def shrink(self, frame: av.VideoFrame) -> tuple[Timecode, np.ndarray]:
        """The frame's timestamp and a small BGR copy, as PySceneDetect works on."""
        width = min(self.width, frame.width)
        height = max(2, round(frame.height * width / frame.width))
        if self.source == "planes" and frame.format.name in PLANAR_420:
            small = self._from_planes(frame, width, height)
        else:
            small = self.reformatter.reformat(
                frame, width, height, "bgr24", interpolation=self.interpolation
            ).to_ndarray()
        return Timecode(pts=frame.pts, time_base=Fraction(frame.time_base)), small

    def _from_planes(self, frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
        """(height, width) BGR from the pixel at the centre of each cell of the decoder's own
        luma and chroma planes (point sampling: a third of the CPU of swscale's area average
        at 720p), limited-range BT.601 expanded to full range as swscale does by default."""
        if self._grid[:1] != ((frame.width, frame.height, width, height),):
            rows = ((np.arange(height) + 0.5) * frame.height / height).astype(np.intp)
            cols = ((np.arange(width) + 0.5) * frame.width / width).astype(np.intp)
            self._grid = ((frame.width, frame.height, width, height), rows, cols)
        _, rows, cols = self._grid
        y, u, v = (
            np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
            for plane in frame.planes[:3]
        )
        picks = ((y, rows, cols), (v, rows // 2, cols // 2), (u, rows // 2, cols // 2))
        ycrcb = cv2.merge([p.take(r, axis=0).take(c, axis=1) for p, r, c in picks])
        if not (frame.format.name == "yuvj420p" or frame.color_range == FULL_RANGE):
            ycrcb = cv2.LUT(ycrcb, LIMITED_TO_FULL)
        return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2BGR)

    def add(self, shrunk: tuple[Timecode, np.ndarray]) -> list[float]:
        """Detect on the next frame; the cuts it revealed (stream seconds), which lie some
        frames back: `video.sampling.HeldFrames` keeps the frames they concern."""
        stamp, small = shrunk
        self.last = FrameTimecode(stamp, fps=self.rate)
        found = [c.seconds for c in self.detector.process_frame(self.last, small)]
        self.cuts.extend(found)
        return found

    def shots(self, start: float, duration: float) -> list[tuple[float, float]]:
        """Shots covering [0, duration]; `start` is the stream's first timestamp."""
        if self.last is not None:
            self.cuts.extend(c.seconds for c in self.detector.post_process(self.last))
        edges = sorted({round(c - start, 6) for c in self.cuts if 0 < c - start < duration})
        bounds = [0.0, *edges, duration]
        return list(zip(bounds[:-1], bounds[1:], strict=True))


def content_change(a: np.ndarray, b: np.ndarray) -> float:
    """PySceneDetect's content score between two small BGR copies (`ShotDetector.shrink`):
    the mean absolute change of hue, saturation and value, averaged. A cut scores over
    `ShotDetector.THRESHOLD`."""
    ha, hb = (cv2.cvtColor(x, cv2.COLOR_BGR2HSV).astype(np.int16) for x in (a, b))
    return float(np.abs(ha - hb).reshape(-1, 3).mean(axis=0).mean())
