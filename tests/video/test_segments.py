"""Smoothing per-frame probabilities into segments, and time ranges from segments."""

from __future__ import annotations

import numpy as np

from toontag.evaluation.segments import segment_scores
from toontag.video.segments import (
    Segment,
    Smoothing,
    elementary,
    hysteresis,
    merged_ranges,
    smooth,
)


def test_hysteresis_holds_through_a_dip_above_the_low_threshold():
    p = np.array([0.1, 0.6, 0.4, 0.3, 0.2, 0.6, 0.1])
    assert hysteresis(p, high=0.5, low=0.25).tolist() == [0, 1, 1, 1, 0, 1, 0]


def test_smooth_closes_short_gaps_drops_short_segments_and_snaps_to_shots():
    times = np.arange(20) * 0.5  # 2 samples a second, 10 s
    p = np.zeros((20, 2), np.float32)
    p[2:8, 0] = 0.9  # 1.0-4.0 s
    p[9:14, 0] = 0.9  # 4.5-7.0 s: a 0.5 s gap, closed
    p[16, 1] = 0.9  # 8.0-8.5 s: too short, dropped
    p[4:12, 1] = 0.8  # samples 2.0-5.5 s; shots cut at 1.8 and 5.7 s: the edges move there
    shots = [(0.0, 1.8), (1.8, 5.7), (5.7, 10.0)]
    segments = smooth(times, p, (0.5, 0.5), 10.0, shots=shots, smoothing=Smoothing())
    assert [(s.character, s.start, s.end) for s in segments] == [(0, 1.0, 7.0), (1, 1.8, 5.7)]
    assert segments[0].confidence > 0.7  # the gap's sample (0) is inside the mean


def test_ranges_of_a_query_are_merged_over_elementary_intervals():
    segments = [Segment(0, 0.0, 6.0, 1.0), Segment(1, 2.0, 4.0, 1.0), Segment(1, 4.0, 9.0, 1.0)]
    edges, present = elementary(segments, 2, 10.0)
    assert edges.tolist() == [0.0, 2.0, 4.0, 6.0, 9.0, 10.0]
    both = present[:, 0] & present[:, 1]
    assert merged_ranges(edges, both) == [(2.0, 6.0)]
    assert merged_ranges(edges, ~present[:, 0]) == [(6.0, 10.0)]
    assert merged_ranges(edges, present[:, 1], min_duration=5.5) == [(2.0, 9.0)]


def test_segment_scores_match_by_overlap():
    truth = [(0.0, 4.0), (10.0, 12.0)]
    scores = segment_scores([(0.5, 4.0), (6.0, 7.0)], truth)
    assert (scores["matched"], scores["precision"], scores["recall"]) == (1, 0.5, 0.5)
    assert scores["time_precision"] == 3.5 / 4.5 and scores["time_recall"] == 3.5 / 6.0
    assert segment_scores([], [])["f1"] == 1.0
