"""One pass over a video (`video.scan`): with `still`, a sample that shows the same picture as
the last one tagged takes its probabilities instead of a run of the model; every sample is
still there, in time order, and a changed picture is always tagged."""

from __future__ import annotations

import numpy as np

from toontag.video.decode import Video
from toontag.video.scan import scan


class Counting:
    """A model whose probabilities are its input's mean colour; it counts the rows it ran."""

    image_size, thresholds = (36, 64), (0.5, 0.5, 0.5)

    def __init__(self):
        self.rows = 0

    def probabilities(self, images):
        self.rows += len(images)
        return images.reshape(len(images), -1, 3).mean(axis=1).astype(np.float32) / 255


def held_pictures(tmp_path, encode_video):
    """Three pictures each held 3 s (30 frames at 10 fps), then 3 s of a picture that moves."""
    rng = np.random.default_rng(0)
    stills = [
        np.full((72, 128, 3), c, np.uint8) for c in ((200, 40, 90), (20, 180, 60), (90, 90, 220))
    ]
    for still in stills:
        still[10:40, 20:70] = rng.integers(0, 255, 3)
    moving = [np.roll(stills[0], 4 * i, axis=1) for i in range(30)]
    images = [s for s in stills for _ in range(30)] + moving
    return encode_video(tmp_path / "held.mp4", images, [i / 10 for i in range(len(images))])


def test_still_samples_reuse_the_last_tagged_and_changes_are_tagged(tmp_path, encode_video):
    path = held_pictures(tmp_path, encode_video)
    runs = {}
    for still in (None, 1.0):
        model = Counting()
        with Video(path) as video:
            times, probabilities, _, _ = scan(video, model, fps=2.0, still=still)
        runs[still] = (times, probabilities, model.rows)
    every, reused = runs[None], runs[1.0]
    assert len(every[0]) == every[2] == 24  # 2 a second over 12 s, each tagged
    assert np.array_equal(every[0], reused[0])  # the same samples, in time order
    assert reused[2] <= 3 + 6  # one per held picture, every moving one
    assert reused[2] >= 3 + 5  # the moving picture changes between samples: tagged each time
    assert np.abs(every[1] - reused[1]).max() < 0.01  # what a reused sample would have been


def test_a_small_character_entering_counts_and_grain_does_not():
    from toontag.video.scan import changed_share

    rng = np.random.default_rng(1)
    background = rng.integers(40, 200, (112, 192, 3), dtype=np.uint8)
    grain = np.clip(background + rng.normal(0, 3, background.shape), 0, 255).astype(np.uint8)
    entering = background.copy()
    entering[50:58, 90:98] = 255  # 64 of 21,504 pixels: 0.3% of the picture
    assert changed_share(background, grain) == 0.0
    assert changed_share(background, entering) > 0.29
    assert np.abs(entering.astype(int) - background).mean() < 1.0  # a mean would miss it


def test_busy_tags_the_frame_midway_between_samples_that_disagree_and_only_there(
    tmp_path, encode_video
):
    path = held_pictures(tmp_path, encode_video)
    for still in (None, 1.0):
        found = {}
        for busy in (False, True):
            model = Counting()
            with Video(path) as video:
                found[busy] = scan(video, model, fps=2.0, still=still, busy=busy), model.rows
        (times, probabilities, _, _), rows = found[False]
        (busy_times, busy_probabilities, _, _), busy_rows = found[True]
        midway = np.setdiff1d(np.round(busy_times, 3), np.round(times, 3))
        # the pictures change at 3 s, 6 s and 9 s: only there do two samples disagree
        assert midway.tolist() == [2.8, 5.8, 8.8], still  # the first frame after 2.75 s ...
        assert busy_rows == rows + 3
        on_grid = np.isin(np.round(busy_times, 3), np.round(times, 3))
        assert np.array_equal(busy_probabilities[on_grid], probabilities)
        before = np.searchsorted(times, midway) - 1  # each takes the picture before the change
        assert np.abs(busy_probabilities[~on_grid] - probabilities[before]).max() < 0.01
        assert np.all(np.diff(busy_times) > 0)  # in time order


def test_the_threaded_pass_tags_each_sample_once_as_a_sequential_pass_decides(
    tmp_path, encode_video
):
    """`scan` decodes a thread ahead and tags in batches; a plain loop (decode a frame, shrink
    it for the detector, tag it if the grid samples it) must find the same samples, the same
    probabilities and the same shots, and the model must see each sample once."""
    from toontag.video.decode import to_pixels
    from toontag.video.sampling import SampleGrid
    from toontag.video.shots import ShotDetector

    path = held_pictures(tmp_path, encode_video)
    model = Counting()
    with Video(path) as video:
        times, probabilities, shots, count = scan(video, model, fps=2.0, batch_size=5)
    assert model.rows == len(times)  # each sampled frame tagged once: none twice, none lost
    one = Counting()
    seen, rows = [], []
    with Video(path) as video:
        detector, grid = ShotDetector(video.fps), SampleGrid(2.0)
        for t, frame in video.frames():
            detector.add(detector.shrink(frame))
            if grid.due(t):
                seen.append(t)
                rows.append(one.probabilities(to_pixels(frame, one.image_size, None)[None])[0])
        assert shots == detector.shots(video.start, video.end)
    assert np.array_equal(times, seen) and count == 120
    assert np.array_equal(probabilities, np.array(rows))


def test_busy_keeps_every_grid_sample_where_frames_are_further_apart_than_a_half_step(
    tmp_path, encode_video
):
    """Frames 0.8 s apart: the frame the grid samples may fall on an odd time of the doubled
    grid; it is still the grid's sample, not a midway waiting for a disagreement."""
    rng = np.random.default_rng(3)
    images = [np.full((72, 128, 3), rng.integers(0, 255), np.uint8) for _ in range(8)]
    path = encode_video(tmp_path / "sparse.mp4", images, [0.8 * k for k in range(8)])
    found = {}
    for busy in (False, True):
        with Video(path) as video:
            found[busy] = scan(video, Counting(), fps=2.0, busy=busy)[0]
    assert np.allclose(found[False], [0.8 * k for k in range(8)], atol=1e-3)
    assert set(np.round(found[False], 3)) <= set(np.round(found[True], 3))
