"""Shot boundaries with PySceneDetect's content detector, fed the frames we already decode."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter
from scenedetect import ContentDetector, FrameTimecode
from scenedetect.common import Timecode

# The detector's working width: PySceneDetect's own default is 256; at 128 each frame costs
# less and the index's time IoU was the same or higher on every video of
# benchmarks/indexing_speed.py (results/indexing-speed.md, "shot input" rows).
DETECT_WIDTH = 128


class ShotDetector:
    """Feed every decoded frame, made small by `shrink`, to `add`; `shots(start, duration)`
    gives (start, end) seconds. `shrink` is PyAV work and may run in the decoding thread."""

    def __init__(
        self,
        fps: float | None,
        threshold: float = 27.0,
        min_shot: float = 0.5,
        width: int = DETECT_WIDTH,
        interpolation: str = "AREA",
    ):
        self.width, self.interpolation = width, interpolation
        self.rate = Fraction(fps or 25.0).limit_denominator(1001)
        self.detector = ContentDetector(threshold=threshold, min_scene_len=min_shot)
        self.cuts: list[float] = []
        self.last: FrameTimecode | None = None
        self.reformatter = VideoReformatter()  # reused: a new scaler per frame costs 5x

    def shrink(self, frame: av.VideoFrame) -> tuple[Timecode, np.ndarray]:
        """The frame's timestamp and a small BGR copy, as PySceneDetect works on."""
        width = min(self.width, frame.width)
        height = max(2, round(frame.height * width / frame.width))
        small = self.reformatter.reformat(
            frame, width, height, "bgr24", interpolation=self.interpolation
        )
        small = small.to_ndarray()
        return Timecode(pts=frame.pts, time_base=Fraction(frame.time_base)), small

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
