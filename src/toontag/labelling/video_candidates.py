"""A video's candidate frames for the pool, from one decoding pass: the middle of each shot
(PySceneDetect, as `index` finds shots) and one frame every `every` seconds."""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import replace

import av

from toontag.labelling.candidates import Candidate, Thumbnails, save_frame
from toontag.labelling.project import PoolFrame, Project
from toontag.labelling.sources import Progress
from toontag.parallel import prefetch
from toontag.video.decode import Video, upright
from toontag.video.sampling import HeldFrames, SampleGrid
from toontag.video.shots import ShotDetector

SHOT_FRAMES = 16  # frames of the open shot held (evenly thinned) to pick its middle from


def video_candidates(
    video: Video,
    store: Project,
    *,
    label: str,
    folder: str,
    every: float,
    per_shot: int,
    progress: Progress | None = None,
) -> tuple[list[Candidate], list[tuple[float, float]]]:
    """The candidate frames of `video` (saved under `folder` as they are taken, `label` their
    source), and its shots. `per_shot` frames are taken evenly inside each shot."""
    detector = ShotDetector(video.fps)
    taken: dict[int, Candidate] = {}
    batch = Thumbnails()

    def take(t: float, frame: av.VideoFrame, reason: str) -> None:
        t = max(t, 0.0)  # a frame before the stream's declared start: at 0, in name and row
        ms = round(t * 1000)
        if ms in taken:  # already taken as a regular sample: it is this shot's pick as well
            if reason == "shot":
                taken[ms].frame = replace(taken[ms].frame, reason="shot")
            return
        name = f"{folder}/{ms:09d}.jpg"
        frame_row = PoolFrame(name, label, t, None, reason, 0, 0)
        taken[ms] = save_frame(upright(frame), store.root / name, frame_row, batch)

    grid, held, opened = SampleGrid(1 / every), HeldFrames(limit=SHOT_FRAMES), 0.0
    for t, frame, shrunk in prefetch(_decoded(video, detector)):
        cuts = detector.add(shrunk)
        held.add(t, frame)
        if grid.due(t):
            take(t, frame, "regular")
            if progress:
                progress(video.path, t, video.declared_duration)
        for cut in cuts:  # a shot has ended: take its middle
            cut -= video.start
            for ft, f in held.pick(opened, cut, per_shot):
                take(ft, f, "shot")
            held, opened = held.after(cut), cut
    shots = detector.shots(video.start, video.end)
    if progress:
        progress(video.path, video.end, video.end)
    for start, end in shots:
        if start >= opened - 1e-6:
            for ft, f in held.pick(start, end, per_shot):
                take(ft, f, "shot")
    batch.flush()
    starts = [start for start, _ in shots]
    for c in taken.values():
        shot = max(bisect.bisect_right(starts, c.frame.time + 1e-6) - 1, 0)
        c.frame = replace(c.frame, shot=shot)
    return list(taken.values()), shots


def _decoded(video: Video, detector: ShotDetector) -> Iterator:
    """Each frame with its time and its shrunk copy for shot detection (PyAV work, for the
    decoding thread)."""
    for t, frame in video.frames():
        yield t, frame, detector.shrink(frame)
