"""One pass over a video: decode it once, find its shots, sample frames and tag them in
batches. Decoding (PyAV and PIL work) runs a thread ahead of detection and inference."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from av.video.reformatter import VideoReformatter

from toontag.data.borders import Picture
from toontag.data.images import PICTURE_ASPECT
from toontag.parallel import prefetch
from toontag.video.decode import Video, to_pixels
from toontag.video.sampling import HeldFrames, SampleGrid
from toontag.video.shots import ShotDetector

CUT_LOOKBACK = 2.0  # seconds of frames kept: the shot detector reports a cut late


def decoded(
    video: Video,
    detector: ShotDetector,
    fps: float,
    model,
    picture: Picture | None = None,
    cut_samples: bool = False,
    sample_from: float = 0.0,
    halves: bool = False,
) -> Iterator:
    """Per decoded frame: its time, its shrunk copy for shot detection (None when
    `cut_samples`: then the shots are detected here), and, for the frames sampled at `fps`,
    the model's input (else None): the `picture` inside any borders, fitted to the model's
    training pictures, from the first grid time at or after `sample_from` on. With
    `cut_samples`, the first frame of every shot is sampled too: the detector names a cut
    some frames after it, so the recent frames are kept, as the model's input only (a decoded
    4K frame is 12 MB, its input some 60 KB), and the one at the cut is yielded then, out
    of time order, as (time, None, pixels, False, False); decoded frames come as (..., True,
    between), `between` True, when `halves`, for a frame the grid at twice `fps` samples at
    one of its odd times and the grid at `fps` does not sample. All PyAV and PIL work, so it
    can run in the decoding thread."""
    grid = SampleGrid(fps, start=sample_from)
    half = SampleGrid(2 * fps, start=sample_from) if halves else None
    size, aspect = model.image_size, getattr(model, "picture_aspect", PICTURE_ASPECT)
    recent = HeldFrames(window=CUT_LOOKBACK)  # the model's input of frames not sampled
    scaler = VideoReformatter()
    for t, frame in video.frames():
        on_grid, on_half = grid.due(t), halves and half.due(t)
        between = on_half and not on_grid and half.slot % 2 == 1
        pixels = None
        if on_grid or between or cut_samples:
            pixels = to_pixels(frame, size, picture, aspect, scaler)
        shrunk = detector.shrink(frame)
        if not cut_samples:
            yield t, shrunk, pixels, True, between
            continue
        if not on_grid:  # a midway frame too: the first of a shot is sampled whatever else
            recent.add(t, pixels)
        cuts = detector.add(shrunk)
        yield t, None, pixels if on_grid or between else None, True, between
        for cut in cuts:
            for when, held in recent.at(cut - video.start):
                yield when, None, held, False, False


def scan(
    video: Video,
    model,
    *,
    fps: float,
    batch_size: int = 32,
    on_time=None,
    picture=None,
    cut_samples: bool = False,
    shot_input: str = "scaled",
    still: float | None = None,
    busy: bool = False,
    sample_from: float = 0.0,
):
    """Decode `video` once: sampled times, their (T, C) probabilities, the shots, and the
    number of frames decoded. Decoding runs a thread ahead of detection and inference.
    `still`: a sample whose model input differs from the last one tagged in at most this
    percentage of its pixels (`changed_share`) takes that one's probabilities without
    inference (a held drawing, a still shot); None tags every sample. `busy`: the frame
    midway between two samples whose decisions at the thresholds differ is tagged too
    (its model input is made for every such midpoint and kept until both are known). `video`
    may be a stretch of one (`video.skim.Stretch`): then the grid starts at `sample_from`."""
    detector = ShotDetector(video.fps, source=shot_input)
    times, batch, rows, source = [], [], [], []  # rows: the probabilities of tagged samples
    count, last, last_row = 0, None, -1  # the last tagged sample's model input and row
    grid, midway = [], []  # indexes in `times` of the grid's samples; midways waiting
    decisions = np.asarray(model.thresholds)

    def tag(images) -> None:
        rows.extend(model.probabilities(np.stack(images)))
        images.clear()

    def settle(final: bool) -> None:
        """Tag the midway samples whose grid neighbours are both tagged and disagree."""
        chosen = []
        while midway and (final or midway[0][2] + 1 < len(grid)):
            t, pixels, k = midway.pop(0)
            if 0 <= k < len(grid) - 1:
                a, b = (rows[source[grid[j]]] >= decisions for j in (k, k + 1))
                if (a != b).any():
                    times.append(t)
                    source.append(len(rows) + len(chosen))
                    chosen.append(pixels)
        if chosen:
            tag(chosen)

    frames = decoded(video, detector, fps, model, picture, cut_samples, sample_from, busy)
    for t, shrunk, pixels, new_frame, between in prefetch(frames):
        count += new_frame
        if shrunk is not None:
            detector.add(shrunk)
        if pixels is None:
            continue
        if between:  # only with `busy`
            midway.append((t, pixels, len(grid) - 1))
            if len(midway) > batch_size:  # still samples fill no batch: settle them anyway
                if batch:
                    tag(batch)
                settle(final=False)
            continue
        grid.append(len(times))
        times.append(t)
        if on_time and len(times) % batch_size == 0:  # progress by samples, tagged or reused
            on_time(t, video.declared_duration)
        if still is not None and last is not None and changed_share(pixels, last) <= still:
            source.append(last_row)
            continue
        last_row = len(rows) + len(batch)
        source.append(last_row)
        last = pixels
        batch.append(pixels)
        if len(batch) == batch_size:
            tag(batch)
            settle(final=False)
    if batch:
        tag(batch)
    settle(final=True)
    shots = detector.shots(video.start, video.end)
    order = np.argsort(times, kind="stable")  # samples at cuts and midway came late
    if not rows:  # a stretch shorter than a grid step (`video.skim`) samples nothing
        rows = np.zeros((0, len(model.thresholds)), np.float32)
    tagged_probabilities = np.array(rows)[np.array(source, dtype=np.intp)]
    return np.array(times)[order], tagged_probabilities[order], shots, count


CHANGE_LEVELS = 16  # a pixel changed: some channel moved by more (grain and codec noise: less)


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """The percentage of pixels of two (H, W, C) uint8 pictures of one size where some channel
    differs by more than `CHANGE_LEVELS`: a character entering changes its own area however
    small the mean change over the picture."""
    changed = (np.abs(a.astype(np.int16) - b) > CHANGE_LEVELS).any(axis=-1)
    return 100.0 * float(changed.mean())
