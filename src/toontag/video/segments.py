"""From per-frame probabilities to who is on screen when.

Each sampled frame stands for the time halfway to the samples either side of it, so an edge
with no shot cut near it lies halfway between the sample before and the first one of a
segment (likewise at its end): a change happens anywhere between two samples, and an edge
placed on a sample is late by half a sample on average (`between_samples=False` places them
so, as indexes made before it did). Per character, hysteresis
switches it on at its decision threshold (or at `floor`, if that is higher: a very low tuned
threshold makes for long false tails) and off only below `low_ratio` of it (a flicker around
the threshold is not a cut). A shot holding at most `shot_samples` samples is decided as a
whole: its samples all take their mean probability, so a character is on for the whole shot
or not at all, and its edges land on the shot's cuts. A character appears somewhere between
the sample before a segment and its first one: a shot boundary in that window is where, so
the edge moves onto it (and likewise at the end). Gaps shorter than `max_gap` close;
segments shorter than `min_segment` go.

Searching works on time intervals, not samples: the segments' edges cut a video into
elementary intervals in which the set of characters on screen is constant.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Smoothing:
    low_ratio: float = 0.5  # switch off below this fraction of the class threshold
    min_segment: float = 1.0  # seconds; shorter segments are dropped
    max_gap: float = 1.0  # seconds; shorter gaps inside a character's presence are closed
    snap_to_shots: bool = True  # edges move onto a shot boundary between their samples
    shot_samples: int = 0  # shots with at most this many samples are decided whole (0: none)
    floor: float = 0.0  # the lowest on-threshold, whatever the tuned one
    between_samples: bool = True  # an edge without a cut near it lies halfway between samples

    def to_dict(self) -> dict:
        """The settings as an index stores them; edges on samples (an index made before
        `between_samples`) leave the key off, so such an index is recognised as what it is."""
        settings = asdict(self)
        if not self.between_samples:
            del settings["between_samples"]
        return settings


@dataclass(frozen=True)
class Segment:
    character: int  # class index
    start: float
    end: float
    confidence: float  # mean probability over the samples inside

    @property
    def duration(self) -> float:
        return self.end - self.start


def hysteresis(p: np.ndarray, high: float, low: float) -> np.ndarray:
    """On from the first p >= high until p < low, per sample."""
    on = np.zeros(len(p), dtype=bool)
    state = False
    for i, value in enumerate(p):
        state = value >= high or (state and value >= low)
        on[i] = state
    return on


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[first, last + 1) index pairs of the True runs of a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return list(zip(change[::2].tolist(), change[1::2].tolist(), strict=True))


def snap_to(cuts: np.ndarray, after: float, upto: float, *, latest: bool) -> float | None:
    """The latest (or earliest) of the sorted `cuts` in (after, upto], or None."""
    inside = cuts[(cuts > after + 1e-6) & (cuts <= upto + 1e-6)]
    if len(inside) == 0:
        return None
    return float(inside[-1] if latest else inside[0])


def smooth(
    times: np.ndarray,
    probabilities: np.ndarray,
    thresholds,
    duration: float,
    *,
    shots: list[tuple[float, float]] = (),
    smoothing: Smoothing = Smoothing(),
) -> list[Segment]:
    """Per-character segments from sampled (T,) `times` and (T, C) `probabilities`."""
    times = np.asarray(times, dtype=np.float64)
    ends = np.append(times[1:], duration)
    cuts = np.array([start for start, _ in shots[1:]] if smoothing.snap_to_shots else [])
    if smoothing.shot_samples:
        probabilities = shot_means(times, probabilities, shots, smoothing.shot_samples)
    segments = []
    for c, tuned in enumerate(thresholds):
        p = probabilities[:, c]
        threshold = max(tuned, smoothing.floor)
        spans: list[list] = []  # [start, end, first sample, last sample + 1]
        for first, last in runs(hysteresis(p, threshold, threshold * smoothing.low_ratio)):
            before, after = times[first - 1] if first else times[first], ends[last - 1]
            start, end = times[first], after  # on the samples, as indexes made before
            if smoothing.between_samples:
                start = (before + times[first]) / 2
                end = (times[last - 1] + after) / 2 if last < len(times) else after
            start = snap_to(cuts, before, times[first], latest=True) or start
            end = snap_to(cuts, times[last - 1], after, latest=False) or end
            if spans and start - spans[-1][1] < smoothing.max_gap:
                spans[-1][1], spans[-1][3] = end, last
            else:
                spans.append([start, end, first, last])
        for start, end, first, last in spans:
            if end - start >= smoothing.min_segment:
                segments.append(Segment(c, start, end, float(p[first:last].mean())))
    return sorted(segments, key=lambda s: (s.start, s.character))


def shot_means(times: np.ndarray, probabilities: np.ndarray, shots, most: int) -> np.ndarray:
    """`probabilities` with the samples of every shot holding 1 to `most` of them replaced by
    their mean."""
    out = np.array(probabilities, dtype=np.float64)
    for start, end in shots:
        inside = np.flatnonzero((times >= start - 1e-9) & (times < end - 1e-9))
        if 0 < len(inside) <= most:
            out[inside] = out[inside].mean(axis=0)
    return out


def elementary(
    segments: list[Segment], n_classes: int, duration: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cut [0, duration] at every segment edge: (K + 1,) edges and the (K, C) presence in
    each interval."""
    spans = np.array([(s.start, s.end) for s in segments], dtype=np.float64).reshape(-1, 2)
    characters = np.array([s.character for s in segments], dtype=np.int64)
    edges = np.unique(np.clip(np.concatenate([[0.0, duration], spans.ravel()]), 0, duration))
    # A segment covers the intervals from its start's edge to its end's: +1 / -1 per class,
    # summed along time (one pass, whatever the number of segments).
    count = np.zeros((len(edges), n_classes), dtype=np.int64)
    first = np.searchsorted(edges, np.clip(spans[:, 0], 0, duration))
    last = np.searchsorted(edges, np.clip(spans[:, 1], 0, duration))
    np.add.at(count, (first, characters), 1)
    np.add.at(count, (last, characters), -1)
    present = np.cumsum(count, axis=0)[:-1] > 0
    return edges, present


def merged_ranges(
    edges: np.ndarray, mask: np.ndarray, min_duration: float = 0.0
) -> list[tuple[float, float]]:
    """The time ranges where `mask` holds on the intervals between `edges`, adjacent ones
    merged, those shorter than `min_duration` left out."""
    ranges = [(float(edges[a]), float(edges[b])) for a, b in runs(mask)]
    return [(a, b) for a, b in ranges if b - a >= min_duration - 1e-9]
