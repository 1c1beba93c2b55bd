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
    on_samples = Smoothing(between_samples=False)
    segments = smooth(times, p, (0.5, 0.5), 10.0, shots=shots, smoothing=on_samples)
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
    assert scores["time_iou"] == 3.5 / (4.5 + 6.0 - 3.5)
    assert segment_scores([], [])["f1"] == 1.0


def test_a_short_shot_is_decided_whole_and_its_edges_are_its_cuts():
    times = np.arange(12) * 0.5  # 6 s
    p = np.full((12, 1), 0.1, np.float32)
    p[3:7, 0] = 0.5, 0.1, 0.9, 0.2  # a 1.3-3.4 s shot holds samples 1.5-3.0: mean 0.425
    shots = [(0.0, 1.3), (1.3, 3.4), (3.4, 6.0)]
    plain = smooth(
        times, p, (0.5,), 6.0, shots=shots, smoothing=Smoothing(min_segment=0, max_gap=0)
    )
    assert [(s.start, s.end) for s in plain] == [(1.3, 1.75), (2.25, 2.75)]  # two flickers
    whole = Smoothing(min_segment=0, max_gap=0, shot_samples=4)
    assert smooth(times, p, (0.5,), 6.0, shots=shots, smoothing=whole) == []  # mean 0.425
    p[4, 0] = 0.9  # now the shot's mean is 0.625: on for the whole shot, cut to cut
    [segment] = smooth(times, p, (0.5,), 6.0, shots=shots, smoothing=whole)
    assert (segment.start, segment.end) == (1.3, 3.4)
    longer = Smoothing(min_segment=0, max_gap=0, shot_samples=3)  # 4 samples: not short
    assert [
        (s.start, s.end) for s in smooth(times, p, (0.5,), 6.0, shots=shots, smoothing=longer)
    ] == [(1.3, 2.75)]


def test_an_edge_with_no_cut_near_lies_halfway_between_samples_and_a_cut_wins():
    times = np.arange(20) * 0.5  # 2 samples a second, 10 s
    p = np.zeros((20, 1), np.float32)
    p[4:8, 0] = 0.9  # samples 2.0-3.5 s: on somewhere after 1.5 s, off before 4.0 s
    p[16:, 0] = 0.9  # from 8.0 s on to the end of the video
    plain = Smoothing(min_segment=0)
    segments = smooth(times, p, (0.5,), 10.0, smoothing=plain)
    assert [(s.start, s.end) for s in segments] == [(1.75, 3.75), (7.75, 10.0)]
    old = smooth(times, p, (0.5,), 10.0, smoothing=Smoothing(min_segment=0, between_samples=False))
    assert [(s.start, s.end) for s in old] == [(2.0, 4.0), (8.0, 10.0)]  # half a sample late
    shots = [(0.0, 1.6), (1.6, 3.9), (3.9, 10.0)]  # cuts between the samples: edges on them
    snapped = smooth(times, p, (0.5,), 10.0, shots=shots, smoothing=plain)
    assert [(s.start, s.end) for s in snapped][0] == (1.6, 3.9)
    assert (
        p[0, 0] == 0 and smooth(times, p[::-1].copy(), (0.5,), 10.0, smoothing=plain)[0].start == 0
    )
    assert "between_samples" not in Smoothing(between_samples=False).to_dict()  # older indexes


def test_a_floor_keeps_a_very_low_tuned_threshold_from_long_tails():
    times = np.arange(10) * 0.5
    p = np.full((10, 1), 0.14, np.float32)
    p[2:4, 0] = 0.9
    low = smooth(times, p, (0.13,), 5.0, smoothing=Smoothing(min_segment=0))
    assert [(s.start, s.end) for s in low] == [(0.0, 5.0)]  # 0.14 >= 0.13: always on
    floored = smooth(times, p, (0.13,), 5.0, smoothing=Smoothing(min_segment=0, floor=0.3))
    assert [(s.start, s.end) for s in floored] == [(0.75, 1.75)]


def test_a_clip_with_varied_holds_keeps_its_timeline(dataset, tmp_path):
    import json

    from toontag.video.decode import Video
    from toontag.video.synth import make_clip, write_clip

    clip = make_clip(dataset.subset("test"), seconds=10, holds=(0.32, 0.8), seed=4)
    assert set(clip.held()) == {0.32, 0.8} and clip.duration == sum(clip.held())
    first = next(
        i
        for i in range(1, len(clip.frames))
        if clip.frames[i].frame_id != clip.frames[i - 1].frame_id + 1
    )
    assert clip.cuts()[0] == clip.starts()[first]  # a cut where the second sequence starts
    truth = write_clip(clip, tmp_path / "v.mp4", fps=25)
    with Video(tmp_path / "v.mp4") as video:
        frames = sum(1 for _ in video.frames())
    assert frames == round(clip.duration * 25) and truth["frames"][1]["start"] == clip.held()[0]
    saved = json.loads((tmp_path / "v.truth.json").read_text())
    assert saved["duration"] == clip.duration


def test_a_hard_rendition_moves_and_grains_every_frame_under_a_fixed_gop(dataset, tmp_path):
    from av.video.frame import PictureType

    from toontag.video.decode import Video
    from toontag.video.synth import make_clip, write_clip

    clip = make_clip(dataset.subset("test"), seconds=3, holds=(0.4,), seed=2)
    options = {
        "crf": "23",
        "preset": "veryfast",
        "x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=3",
    }
    write_clip(
        clip, tmp_path / "hard.mp4", fps=25, size=(90, 160), options=options, motion=0.1, grain=2.0
    )
    write_clip(clip, tmp_path / "plain.mp4", fps=25, size=(90, 160))
    with Video(tmp_path / "hard.mp4") as video:
        hard = [
            (f.key_frame, PictureType(f.pict_type).name, f.to_ndarray(format="rgb24").astype(int))
            for _, f in video.frames()
        ]
    with Video(tmp_path / "plain.mp4") as video:
        plain = [f.to_ndarray(format="rgb24").astype(int) for _, f in video.frames()]
    assert len(hard) == len(plain) == round(clip.duration * 25)
    # every GOP is 10 frames, whatever the picture does; B-frames are used
    assert [k for k, (key, _, _) in enumerate(hard) if key] == list(range(0, len(hard), 10))
    assert any(kind == "B" for _, kind, _ in hard)
    # no two consecutive frames alike (a still is held 10 frames in the plain rendition)
    assert min(np.abs(a[2] - b[2]).mean() for a, b in zip(hard, hard[1:], strict=False)) > 0.3
    still = sum(np.abs(a - b).mean() < 0.3 for a, b in zip(plain, plain[1:], strict=False))
    assert still >= len(plain) // 2
    # the zoom stays on the still: the picture is near the plain rendition's
    assert np.mean([np.abs(h[2] - p).mean() for h, p in zip(hard, plain, strict=True)]) < 25
