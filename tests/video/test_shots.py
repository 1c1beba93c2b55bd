"""The shot detector's small copy read in place from the decoder's planes (an option): the same
picture as FFmpeg's scaled copy (colours, range), the same cuts, other pixel formats scaled."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from toontag.video.shots import ShotDetector


def frame_of(rgb: np.ndarray, index: int = 0, fmt: str = "yuv420p") -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    frame.pts, frame.time_base = index, Fraction(1, 25)
    return frame


def gradient(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth picture (point and area sampling agree on it), different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [
        np.sin(x * rng.uniform(1, 4) + y * rng.uniform(1, 4) + rng.uniform(0, 6)) for _ in "rgb"
    ]
    return ((np.stack(channels, axis=-1) + 1) * 110 + 15).astype(np.uint8)


@pytest.mark.parametrize("size", [(180, 320), (720, 1280), (1080, 1920)])
def test_the_copy_from_the_planes_is_the_scaled_picture(size):
    rgb = gradient(*size, seed=1)
    planes, scaled = ShotDetector(25.0, source="planes"), ShotDetector(25.0)
    _, small = planes.shrink(frame_of(rgb))
    _, reference = scaled.shrink(frame_of(rgb))
    assert small.shape == reference.shape == (round(size[0] * 128 / size[1]), 128, 3)
    assert np.abs(small.astype(int) - reference.astype(int)).mean() < 2.0


@pytest.mark.parametrize(("fmt", "full"), [("yuv420p", False), ("yuvj420p", True)])
def test_a_flat_colour_keeps_its_value_in_either_range(fmt, full):
    rgb = np.empty((72, 128, 3), np.uint8)
    rgb[:] = (200, 40, 90)
    frame = frame_of(rgb, fmt=fmt)
    assert (frame.format.name == "yuvj420p") == full
    _, small = ShotDetector(25.0, source="planes").shrink(frame)
    assert np.abs(small[..., ::-1].astype(int) - (200, 40, 90)).max() <= 4  # BGR


def test_both_sources_find_the_same_cuts():
    pictures = [gradient(360, 640, seed) for seed in (1, 2, 3)]
    found = {}
    for source in ("planes", "scaled"):
        detector = ShotDetector(25.0, source=source)
        for i in range(75):  # three shots of one second each
            detector.add(detector.shrink(frame_of(pictures[i // 25], i)))
        found[source] = detector.shots(0.0, 3.0)
    assert found["planes"] == found["scaled"]
    assert [round(a, 2) for a, _ in found["planes"]] == [0.0, 1.0, 2.0]


def test_other_pixel_formats_are_scaled_by_ffmpeg():
    frame = frame_of(gradient(180, 320, seed=4), fmt="yuv444p")
    _, small = ShotDetector(25.0, source="planes").shrink(frame)
    _, reference = ShotDetector(25.0).shrink(frame)
    assert np.array_equal(small, reference)


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError, match="source"):
        ShotDetector(25.0, source="gpu")


def test_the_index_stores_the_shot_input_and_still_where_they_differ_from_before():
    from toontag.video.indexer import IndexSettings

    settings = IndexSettings().to_dict()
    assert "shot_input" not in settings and settings["still"] == 1.0  # scaled: as before
    assert IndexSettings(shot_input="planes", still=None).to_dict()["shot_input"] == "planes"
    assert "still" not in IndexSettings(still=None).to_dict()  # every sample tagged: as before
