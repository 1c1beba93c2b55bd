"""Index videos: stream-decode, sample at a fixed rate, tag in batches, smooth, store.

A video already in the index with the same content and settings is skipped (its size and
mtime are checked first, its hash only when they changed); each finished video is committed
alone, so a killed run resumes at the video it was on. Anything that fails on one file is
reported in one line and the others are still indexed.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from av.codec.hwaccel import hwdevices_available

from toontag.data.walk import (
    VIDEO_SUFFIXES,
    entries,
    file_problem,
    files_under,
    unreadable_reason,
)
from toontag.errors import IndexDbError, VideoError, failure_reason
from toontag.io import hash_file
from toontag.progress import progress_bar
from toontag.video.borders import detect_picture
from toontag.video.db import Index
from toontag.video.db_write import VideoRecord
from toontag.video.decode import Video
from toontag.video.scan import scan
from toontag.video.segments import Smoothing, smooth
from toontag.video.shots import SOURCES
from toontag.video.skim import TRIGGERS, skim

DEFAULT_SMOOTHING = Smoothing()


@dataclass(frozen=True)
class Outcome:
    path: Path
    status: str  # "indexed", "unchanged" or "failed"
    detail: str = ""
    video_id: int | None = None
    duration: float = 0.0
    seconds: float = 0.0  # wall time
    sampled: int = 0  # frames tagged

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; folders searched recursively for video files (`data.walk`'s rule), in
    name order. A folder inside that cannot be read (or a link, FIFO, ... that cannot be taken)
    stays in the list where its videos would be, for `known_state` to make it that entry's
    failed outcome."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            videos = files_under(path, VIDEO_SUFFIXES)
            if not videos.files and not videos.unreadable:
                suffixes = " ".join(sorted(VIDEO_SUFFIXES))
                raise VideoError(path, f"a folder without video files ({suffixes})")
            found.extend(sorted(videos.files + [folder for folder, _ in videos.unreadable]))
        else:
            found.append(path)
    return list(dict.fromkeys(Path(os.path.realpath(p)) for p in found))  # a loop: unresolved


REFERENCE_FRAMES = "reference frames"  # the stored settings' "decode" under fast_decode


@dataclass(frozen=True)
class IndexSettings:
    """What decides a video's rows besides its content and the model (stored per video: a
    video indexed under other settings is indexed again)."""

    fps: float = 2.0  # frames sampled per second
    smoothing: Smoothing = DEFAULT_SMOOTHING  # how samples become segments (segments.py)
    borders: bool = True  # find black borders that stay all through it and crop them
    cut_samples: bool = False  # sample the first frame of every shot too
    fast_decode: bool = False  # decode reference frames only (`Video(reference_only=True)`)
    shot_input: str = "scaled"  # the shot detector's copy (`video.shots.SOURCES`)
    # a sample whose input changed in at most this % of pixels reuses the last tags (`scan`;
    # None: every sample tagged, as before: stored without the key). Chosen on validation
    still: float | None = 1.0
    # decode keyframes, then in full only the stretches this trigger picks (`video.skim`);
    # None: every frame. Chosen on validation with `busy` (results/indexing-speed.md)
    skim: str | None = "changes"
    busy: bool = True  # tag the frame midway between two samples that disagree (`scan`)
    # how, not what: decode on this device type (`video.hardware`; None: on
    # the CPU). Not stored: a conformant decoder's frames are the same wherever it runs
    hwaccel: str | None = None

    def __post_init__(self):
        if self.shot_input not in SOURCES:  # one error here, not one per video later
            raise ValueError(f"shot_input must be one of {SOURCES}, not {self.shot_input!r}")
        if self.skim is not None and self.skim not in TRIGGERS:
            raise ValueError(f"skim must be one of {TRIGGERS} or None, not {self.skim!r}")
        if self.hwaccel is not None and self.hwaccel not in (known := hwdevices_available()):
            raise ValueError(f"hwaccel must be one of {known} or None, not {self.hwaccel!r}")

    def to_dict(self) -> dict:
        """The settings as the index stores them (keys of options left off are absent)."""
        settings = {"fps": self.fps, "smoothing": self.smoothing.to_dict(), "borders": self.borders}
        settings |= {"shot_input": self.shot_input} if self.shot_input != "scaled" else {}
        settings |= {"still": float(self.still)} if self.still is not None else {}
        settings |= {"cut_samples": True} if self.cut_samples else {}
        settings |= {"skim": self.skim} if self.skim is not None else {}
        settings |= {"busy": True} if self.busy else {}
        return settings | ({"decode": REFERENCE_FRAMES} if self.fast_decode else {})


def known_state(
    index: Index, path: Path, settings: IndexSettings
) -> tuple[Outcome | None, str | None]:
    """The driver's look before any work: an "unchanged" outcome when the index holds `path`
    with the same size, mtime and settings; else the content hash it holds under the same
    settings (a moved mtime may hide the same content), or None."""
    if path.is_dir():  # one `expand` could not search: its outcome says why
        try:
            entries(path)
        except OSError as e:
            raise VideoError(path, unreadable_reason(e)) from None
        raise VideoError(path, "a folder, not a video file")
    if problem := file_problem(path):  # a FIFO, a link loop: one line, never opened
        raise VideoError(path, problem)
    stat = path.stat()
    known = index.lookup(str(path))
    same_settings = known is not None and known["settings"] == json.dumps(
        settings.to_dict(), sort_keys=True
    )
    if same_settings and (known["bytes"], known["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
        return Outcome(path, "unchanged", "same size and mtime", known["id"]), None
    return None, known["sha256"] if same_settings else None


def analyse_video(
    model,
    path: Path,
    *,
    settings: IndexSettings,
    key: str | None = None,
    known_sha256: str | None = None,
    batch_size: int = 32,
    on_time=None,
) -> VideoRecord | str:
    """The work on one file (a worker's part: reading, hashing, decoding, inference): its
    `VideoRecord` under `key` (the path the index knows it by; default `path`), or its hash
    alone when that is `known_sha256` (same content: nothing to do)."""
    start = time.perf_counter()
    stat = path.stat()
    digest = hash_file(path).hexdigest()
    if digest == known_sha256:
        return digest
    fps = settings.fps
    picture = None
    if settings.borders:
        with Video(path) as probe:
            picture = detect_picture(probe)
    with Video(path, reference_only=settings.fast_decode, hwaccel=settings.hwaccel) as video:
        how = partial(skim, trigger=settings.skim) if settings.skim is not None else scan
        times, probabilities, shots, count = how(
            video,
            model,
            fps=fps,
            batch_size=batch_size,
            on_time=on_time,
            picture=picture,
            cut_samples=settings.cut_samples,
            shot_input=settings.shot_input,
            still=settings.still,
            busy=settings.busy,
        )
        duration = video.end
        segments = smooth(
            times,
            probabilities,
            model.thresholds,
            duration,
            shots=shots,
            smoothing=settings.smoothing,
        )
        return VideoRecord(
            path=key or str(path),
            sha256=digest,
            bytes=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            duration=duration,
            fps=video.fps,
            width=video.width,
            height=video.height,
            frames=count,
            sample_fps=fps,
            settings=settings.to_dict(),
            seconds=time.perf_counter() - start,
            times=times,
            probabilities=probabilities,
            shots=shots,
            segments=segments,
            picture=picture and picture.to_dict(),
        )


def commit(index: Index, path: Path, result: VideoRecord | str, seconds: float) -> Outcome:
    """The driver's part: write a video's record in one transaction (or, for the same
    content, note its new mtime) and say what was done."""
    if isinstance(result, str):
        known = index.lookup(str(path))
        index.touch(known["id"], path.stat().st_mtime_ns)
        return Outcome(path, "unchanged", "same content", known["id"])
    video_id = index.write(result)
    detail = f"{len(result.times)} frames sampled, {len(result.segments)} segments"
    return Outcome(
        path, "indexed", detail, video_id, result.duration, seconds, sampled=len(result.times)
    )


def index_video(
    index: Index,
    model,
    path: Path,
    *,
    settings: IndexSettings = IndexSettings(),
    batch_size: int = 32,
    on_time=None,
) -> Outcome:
    """Index one file unless it is already there with the same content and settings."""
    start = time.perf_counter()
    done, known_sha256 = known_state(index, path, settings)
    if done:
        return done
    result = analyse_video(
        model,
        path,
        settings=settings,
        known_sha256=known_sha256,
        batch_size=batch_size,
        on_time=on_time,
    )
    return commit(index, path, result, time.perf_counter() - start)


def index_videos(
    index: Index,
    model,
    paths: list[Path],
    *,
    settings: IndexSettings = IndexSettings(),
    batch_size: int = 32,
) -> list[Outcome]:
    """Index every video in `paths`. Whatever fails on one file (a bad video, a refused
    read, an engine error) becomes its "failed" outcome and the next file is indexed; only an
    index that cannot be written (`IndexDbError`: locked, read-only, full) stops the batch."""
    outcomes = []
    with progress_bar() as bar:
        overall = bar.add_task("videos", total=len(paths))
        for path in paths:
            task = bar.add_task(path.name[:40], total=None)

            def on_time(t: float, total: float | None, task=task) -> None:
                bar.update(task, completed=int(t), total=int(total) if total else None)

            try:
                outcome = index_video(
                    index, model, path, settings=settings, batch_size=batch_size, on_time=on_time
                )
            except IndexDbError:
                raise  # the index cannot be read or written: every later video would fail too
            except Exception as e:  # noqa: BLE001  (one file's failure, whatever it is, is its own)
                outcome = Outcome(path, "failed", failure_reason(e, path))
            finally:
                bar.remove_task(task)
            bar.advance(overall)
            outcomes.append(outcome)
    return outcomes
