"""Which decoded frames to sample: a regular grid in time, and frames around the shot cuts,
which the detector names late. The indexer and a labelling project's pool both sample this way.
"""

from __future__ import annotations

from collections import deque

import numpy as np

SLACK = 1e-6  # seconds: a frame this much early is on time (timestamps are rounded)


class SampleGrid:
    """The frames sampled at `fps`: the first frame at or after each multiple of 1 / fps
    seconds (one frame for several grid times when frames are further apart), from the
    first multiple at or after `start` on."""

    def __init__(self, fps: float, start: float = 0.0):
        self.fps, self.next = fps, float(np.ceil(start * fps - SLACK * fps) / fps)

    def due(self, t: float) -> bool:
        """Whether the frame at `t` is sampled; frames come in time order. `slot`: the index
        of the last grid time at or before the frame sampled last."""
        if t < self.next - SLACK:
            return False
        self.slot = int(np.floor(t * self.fps + SLACK))
        self.next = (self.slot + 1) / self.fps
        return True


class HeldFrames:
    """Decoded frames held back for a cut named late: the shot detector names a cut some
    frames after it happens, when those frames have left the decoder, so the frames a cut
    concerns are looked up here. `limit`: at most this many, evenly spread (when full, every
    other one goes and from then on half as many are held), for a shot of any length;
    `window`: only those of the last this many seconds."""

    def __init__(self, *, limit: int | None = None, window: float | None = None):
        self.limit, self.window = limit, window
        self.frames: deque = deque()  # (time, item)
        self.stride, self.seen = 1, 0

    def add(self, t: float, item) -> None:
        if self.seen % self.stride == 0:
            self.frames.append((t, item))
            if self.limit is not None and len(self.frames) > self.limit:
                self.frames, self.stride = deque(list(self.frames)[::2]), self.stride * 2
        self.seen += 1
        while self.window is not None and self.frames and self.frames[0][0] < t - self.window:
            self.frames.popleft()

    def at(self, t: float) -> list[tuple[float, object]]:
        """(time, item) of the frames held at `t`: the first frame of a shot, named late."""
        return [(when, item) for when, item in self.frames if abs(when - t) < 1e-4]

    def pick(self, start: float, end: float, n: int) -> list[tuple[float, object]]:
        """(time, item) of the held frames nearest `n` evenly spaced times inside
        [start, end), in time order."""
        inside = [(t, f) for t, f in self.frames if start - SLACK <= t < end - SLACK]
        picks = {}
        for i in range(n if inside else 0):
            target = start + (i + 0.5) * (end - start) / n
            t, f = min(inside, key=lambda held: abs(held[0] - target))
            picks[t] = f
        return sorted(picks.items(), key=lambda held: held[0])

    def after(self, cut: float) -> HeldFrames:
        """The frames from `cut` on, held anew as the next shot's."""
        rest = HeldFrames(limit=self.limit, window=self.window)
        for t, f in self.frames:
            if t >= cut - SLACK:
                rest.add(t, f)
        return rest
