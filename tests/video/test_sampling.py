"""The sampling grid and the frames held for cuts named late, shared by the index and the pool."""

from __future__ import annotations

from toontag.video.sampling import HeldFrames, SampleGrid


def test_the_grid_takes_the_first_frame_at_or_after_each_grid_time():
    grid = SampleGrid(2.0)
    times = [i / 25 for i in range(100)]  # 25 fps for 4 s
    taken = [t for t in times if grid.due(t)]
    assert taken == [0.0, 0.52, 1.0, 1.52, 2.0, 2.52, 3.0, 3.52]  # 0.5 s falls between frames
    sparse = SampleGrid(10.0)  # frames further apart than the grid: each one is taken
    assert all(sparse.due(t) for t in (0.0, 0.3, 0.6, 0.9))
    early = SampleGrid(1.0)
    assert early.due(0.0) and early.due(1.0 - 1e-7)  # a timestamp rounded down is on time


def test_a_limit_keeps_the_shot_evenly_thinned_and_a_window_only_the_recent():
    shot = HeldFrames(limit=4)
    for i in range(10):
        shot.add(i * 0.1, i)
    assert [item for _, item in shot.frames] == [0, 4, 8]  # thinned twice: every 4th frame
    assert shot.pick(0.0, 1.0, 1) == [(0.4, 4)]  # the middle of [0, 1)
    assert [item for _, item in shot.after(0.35).frames] == [4, 8]
    recent = HeldFrames(window=0.25)
    for i in range(10):
        recent.add(i * 0.1, i)
    assert [item for _, item in recent.frames] == [7, 8, 9]
    assert recent.at(0.8) == [(0.8, 8)] and recent.at(0.85) == []
