"""Decode less: a pass over the keyframes alone, then every frame only where it may matter.

The keyframe pass tags each keyframe (FFmpeg decodes nothing else: a fraction of the work).
Between two keyframes the stretch is decoded in full, shots found and samples tagged as
`scan` does, only where the trigger says the picture may change there:

- "changes": the keyframes at its ends differ in the characters on screen (the decisions
  at the model's thresholds), a coarse pass then a fine pass where they change;
- "cuts": besides, the keyframes' pictures differ as a shot cut does (the shot detector's
  content score over its threshold): a cut inside is found and placed as `scan` places it.

Elsewhere the grid's samples take the tags of the keyframe before them and no cut is sought,
so a shot shorter than a keyframe interval whose neighbours show the same characters is not
seen: results/indexing-speed.md measures what that costs. The last stretch is always decoded
(it finds where the video ends and checks it is whole); damage inside a stretch that is not
decoded goes unseen. Where keyframes come at least every other sample (an intra-only
stream) or the decoder does not skip the other frames, the whole video is decoded as `scan`
does, as are files whose container cannot seek to a keyframe by its time (MPEG-TS, raw
streams) and videos of one keyframe (a still image named .mp4 fails as it does there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from av.video.reformatter import VideoReformatter

from toontag.data.borders import Picture
from toontag.data.images import PICTURE_ASPECT
from toontag.video.decode import Video, to_pixels
from toontag.video.scan import scan
from toontag.video.shots import ShotDetector, content_change

TRIGGERS = ("changes", "cuts")
# containers whose index seeks to a keyframe by its time: MPEG-TS and raw streams seek by
# byte position or not at all, so they are decoded in full
SEEKABLE = frozenset({"mov", "mp4", "matroska", "webm"})
DENSE_AFTER = 20  # keyframes seen before a stream may be judged to have keyframes too often
SLACK = 1e-6


@dataclass
class Keyframes:
    """What the keyframe pass keeps (a few numbers per keyframe, never its pixels): times,
    probabilities, and each one's content change from the keyframe before (NaN first)."""

    times: np.ndarray
    probabilities: np.ndarray
    change: np.ndarray


class Stretch:
    """A stretch of an open video from the keyframe at `start` to the frame at `until` (None:
    the end), read as `scan` reads a whole video."""

    def __init__(self, video: Video, start: float, until: float | None):
        self.video, self.first, self.until = video, start, until
        self.fps, self.start = video.fps, video.start
        self.declared_duration = video.declared_duration

    def frames(self):
        return self.video.stretch(self.first, self.until)

    @property
    def end(self) -> float:  # a cut at `until` itself is kept: the next keyframe's shot
        return self.video.end if self.until is None else self.until + 1e-3


def keyframe_pass(
    video: Video, model, *, fps: float, picture: Picture | None, batch_size: int
) -> tuple[Keyframes | None, int]:
    """Tag the keyframes of `video` (read from a second opening of its file); None when they
    come at least every other sample (skimming them saves nothing). Also the number of
    frames decoded."""
    size, aspect = model.image_size, getattr(model, "picture_aspect", PICTURE_ASPECT)
    detector, scaler = ShotDetector(None), VideoReformatter()
    times, change, batch, probabilities, previous = [], [], [], [], None
    with video.again() as keys:
        for found in keys.keyframes():
            if found is None:  # a decoder that does not skip: the keyframe pass saves nothing
                return None, len(times) + 1
            t, frame = found
            small = detector.shrink(frame)[1]
            times.append(t)
            change.append(math.nan if previous is None else content_change(previous, small))
            previous = small
            batch.append(to_pixels(frame, size, picture, aspect, scaler))
            if len(batch) == batch_size:
                probabilities.append(model.probabilities(np.stack(batch)))
                batch.clear()
            if len(times) >= DENSE_AFTER and t < (len(times) - 1) * 2 / fps:
                return None, len(times)
    if not times:  # nothing decodable: the full decoding says what is wrong
        return None, 0
    if batch:
        probabilities.append(model.probabilities(np.stack(batch)))
    found = Keyframes(np.array(times), np.concatenate(probabilities), np.array(change))
    return found, len(times)


def stretches(keyframes: Keyframes, thresholds, trigger: str) -> list[tuple[float, float | None]]:
    """(start, until) of the stretches to decode in full: runs of keyframe intervals the
    trigger picks, merged, and the last interval (until None)."""
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {TRIGGERS}, not {trigger!r}")
    decisions = keyframes.probabilities >= np.asarray(thresholds)
    picked = (decisions[1:] != decisions[:-1]).any(axis=1)
    if trigger == "cuts":
        picked |= keyframes.change[1:] > ShotDetector.THRESHOLD
    times = keyframes.times
    spans: list[tuple[float, float | None]] = []
    for i in np.flatnonzero(picked):
        if spans and spans[-1][1] == times[i]:
            spans[-1] = (spans[-1][0], times[i + 1])
        else:
            spans.append((times[i], times[i + 1]))
    if spans and spans[-1][1] == times[-1]:
        return [*spans[:-1], (spans[-1][0], None)]
    return [*spans, (times[-1], None)]


def skim(
    video: Video,
    model,
    *,
    trigger: str,
    fps: float,
    batch_size: int = 32,
    picture: Picture | None = None,
    **options,
):
    """`scan`'s answer (sampled times, their probabilities, the shots, frames decoded) from
    a keyframe pass and full decoding of the stretches `trigger` picks (module docstring).
    `video` decodes those stretches; the keyframe pass opens the file again. `options`:
    `scan`'s other keywords, for the stretches."""
    settings = dict(batch_size=batch_size, picture=picture, **options)
    keyframes, count = None, 0
    if SEEKABLE & set(video.container.format.name.split(",")):
        keyframes, count = keyframe_pass(
            video, model, fps=fps, picture=picture, batch_size=batch_size
        )
    if keyframes is None or len(keyframes.times) < 2:  # one keyframe: decode it all
        times, probabilities, shots, decoded = scan(video, model, fps=fps, **settings)
        return times, probabilities, shots, count + decoded
    full = stretches(keyframes, model.thresholds, trigger)
    if keyframes.times[0] > SLACK:  # frames before the first keyframe seen: decoded too
        first, until = full[0]
        merged = first == keyframes.times[0]
        full = [(0.0, until)] + full[1:] if merged else [(0.0, keyframes.times[0]), *full]
    times, probabilities, cuts = [], [], set()
    for start, until in full:
        part = Stretch(video, start, until)
        t, p, shots, decoded = scan(part, model, fps=fps, sample_from=start, **settings)
        # the first frame at or after a grid time may be the one at `until`: it is kept
        # unless `until` is a grid time itself, where the keyframe's own interval begins
        keep = np.ones(len(t), bool)
        if until is not None:
            keep = np.floor(t * fps + SLACK) < math.ceil(until * fps - SLACK)
        times.append(t[keep])
        probabilities.append(p[keep])
        cuts.update(end for _, end in shots[:-1])
        count += decoded
    end = video.end
    for i, start in enumerate(keyframes.times):  # the rest: each keyframe's tags held
        until = keyframes.times[i + 1] if i + 1 < len(keyframes.times) else end
        if any(a - SLACK <= start and (b is None or until <= b + SLACK) for a, b in full):
            continue
        grid = np.arange(math.ceil(start * fps - SLACK), math.ceil(until * fps - SLACK)) / fps
        times.append(grid)
        probabilities.append(np.repeat(keyframes.probabilities[i : i + 1], len(grid), axis=0))
    times_all = np.concatenate(times)
    order = np.argsort(times_all, kind="stable")
    edges = sorted(c for c in cuts if 0 < c < end)
    bounds = [0.0, *edges, end]
    shots_all = list(zip(bounds[:-1], bounds[1:], strict=True))
    return times_all[order], np.concatenate(probabilities)[order], shots_all, count
