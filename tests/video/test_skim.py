"""Skimming (`index --skim`): a keyframe pass, then every frame only where the keyframes
differ; a stretch read after a seek; an intra-only stream decoded as `scan` decodes it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toontag.evaluation.segments import segment_scores
from toontag.video.decode import Video
from toontag.video.query import parse_query
from toontag.video.scan import scan
from toontag.video.search import query_ranges
from toontag.video.segments import smooth
from toontag.video.skim import Keyframes, skim, stretches
from toontag.video.synth import write_clip

GOP = {"crf": "20", "preset": "veryfast", "x264-params": "keyint=20:min-keyint=20:scenecut=0"}


@pytest.fixture(scope="module")
def fixed_gop(clip, tmp_path_factory):
    """The test clip at 10 fps with a keyframe every 2 s wherever the cuts are."""
    path = tmp_path_factory.mktemp("skim") / "gop.mp4"
    write_clip(clip, path, fps=10, options=GOP)
    return path


def keyframes(decisions, change=None) -> Keyframes:
    decisions = np.array(decisions, dtype=np.float32)
    change = np.zeros(len(decisions)) if change is None else np.array(change, dtype=float)
    return Keyframes(np.arange(len(decisions)) * 2.0, decisions * 0.9 + 0.05, change)


def test_stretches_merge_the_intervals_whose_ends_differ_and_the_last_is_always_decoded():
    found = keyframes([[1, 0], [1, 0], [0, 1], [1, 1], [1, 1], [1, 1]])
    # 0-2 alike; 2-4 and 4-6 differ (merged); the rest alike but the last is decoded
    assert stretches(found, (0.5, 0.5), "changes") == [(2.0, 6.0), (10.0, None)]
    cut = keyframes([[1, 0]] * 4, change=[math.nan, 3.0, 40.0, 3.0])
    assert stretches(cut, (0.5, 0.5), "changes") == [(6.0, None)]
    assert stretches(cut, (0.5, 0.5), "cuts") == [(2.0, 4.0), (6.0, None)]
    ending = keyframes([[1, 0], [1, 0], [0, 1]])  # a change into the last keyframe
    assert stretches(ending, (0.5, 0.5), "changes") == [(2.0, None)]
    with pytest.raises(ValueError, match="trigger"):
        stretches(found, (0.5, 0.5), "frames")


def test_a_stretch_starts_at_its_keyframe_and_ends_at_the_frame_named(clip, fixed_gop):
    with Video(fixed_gop) as video:
        times = [round(t, 3) for t, _ in video.stretch(4.0, 6.0)]
        assert times == [round(4.0 + k / 10, 3) for k in range(21)]
        later = [t for t, _ in video.stretch(2.0, 2.5)]  # a seek back after reading on
        assert np.allclose(later, np.arange(2.0, 2.55, 0.1))
        rest = [t for t, _ in video.stretch(36.0, None)]
        assert rest[0] == pytest.approx(36.0) and video.end == pytest.approx(clip.duration)


def test_skimming_decodes_fewer_frames_and_finds_the_timeline_of_full_decoding(
    clip, fixed_gop, oracle
):
    with Video(fixed_gop) as video:
        full = scan(video, oracle, fps=2.0)
    grid = np.arange(math.ceil(clip.duration * 2)) / 2.0
    for trigger in ("changes", "cuts"):
        with Video(fixed_gop) as video:
            times, probabilities, shots, decoded = skim(video, oracle, trigger=trigger, fps=2.0)
            assert video.end == pytest.approx(clip.duration)
        assert decoded < full[3] if trigger == "changes" else decoded <= full[3] + 21
        assert np.allclose(times, grid, atol=0.051)  # the grid: decoded or held
        assert shots[0][0] == 0 and shots[-1][1] == pytest.approx(clip.duration)
        ours = smooth(times, probabilities, oracle.thresholds, clip.duration, shots=shots)
        for name in clip.classes:  # each character's time on screen
            query = parse_query(name, clip.classes)
            scores = segment_scores(
                query_ranges(query, ours, clip.duration),
                query_ranges(query, clip.segments(), clip.duration),
            )
            assert scores["time_precision"] > 0.9 and scores["time_recall"] > 0.9, (name, scores)


def test_a_stream_of_keyframes_only_is_decoded_as_scan_decodes_it(clip, tmp_path, oracle):
    path = tmp_path / "intra.mp4"
    write_clip(clip, path, fps=10, options={"crf": "20", "x264-params": "keyint=1"})
    with Video(path) as video:
        full = scan(video, oracle, fps=2.0)
    with Video(path) as video:
        skimmed = skim(video, oracle, trigger="changes", fps=2.0)
    assert np.array_equal(skimmed[0], full[0]) and np.array_equal(skimmed[1], full[1])
    assert skimmed[2] == full[2]
    assert full[3] < skimmed[3] <= full[3] + 21  # only the keyframes before it gave up


def test_the_grid_sample_that_falls_on_a_stretchs_closing_keyframe_is_kept(tmp_path):
    """At 15 fps with a keyframe every 8 frames, no frame lies in [0.5 s, 0.533 s): grid time
    0.5's sample is the keyframe at 0.533 s that closes the first stretch (the picture
    darkens between the first two keyframes). Skimming samples it as full decoding does."""
    import av

    path = tmp_path / "gop8.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 128, 72, "yuv420p"
        stream.options = {"x264-params": "keyint=8:min-keyint=8:scenecut=0:bframes=0"}
        for k in range(60):  # bright, then dark from 0.27 s, bright again from 2.4 s
            level = 40 if 4 <= k < 36 else 220
            image = np.full((72, 128, 3), level, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    model = Brightness()
    with Video(path) as video:
        full = scan(video, model, fps=2.0)
    with Video(path) as video:
        skimmed = skim(video, model, trigger="changes", fps=2.0)
    assert np.allclose(skimmed[0][:2], full[0][:2]) and skimmed[0][1] == pytest.approx(8 / 15)
    assert len(skimmed[0]) == len(full[0])
    decided = (skimmed[1] >= 0.5) == (full[1] >= 0.5)
    assert decided.all()


class Brightness:
    """Bright pictures are one character, dark ones none."""

    image_size, thresholds = (36, 64), (0.5,)

    def probabilities(self, images):
        return (images.reshape(len(images), -1).mean(axis=1, keepdims=True) / 255).astype(
            np.float32
        )
