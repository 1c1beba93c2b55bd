"""Fill a project's pool: candidate frames from the user's videos and images, minus
near-duplicates, each saved with where it came from.

From a video: the middle frame of each shot (PySceneDetect, as `index` finds shots) and one
frame every `every` seconds, from one decoding pass. From images (a folder, searched
recursively, or single files): every image. A candidate as close as `max_distance` to a frame
already in the pool, or to one kept before it, is dropped; the measure is the split audit's
(mean absolute difference of 14x24 grayscale thumbnails, 0-255), and a shot's middle is
preferred to a regular sample. Each source is committed alone (pool.csv, then thumbs.npy,
then project.json), so a killed run leaves the pool as it was before that source; the frame
files it had written are removed when that source is added again. A source already in the
pool (same size and mtime, or same content) is left as it is. A file that cannot be read is
reported and the rest go on; only a project that cannot be written stops the batch.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
from PIL import Image

from toontag.data.audit import TWIN_THRESHOLD, nearest_thumbnails, thumbnail_distances
from toontag.data.images import IMAGE_SUFFIXES, open_rgb, resize_rgb
from toontag.data.split import SOURCE_SIZE, THUMB_SIZE, thumbnails
from toontag.errors import BadImageError, ProjectError, ToontagError, VideoError
from toontag.io import hash_file
from toontag.labelling.project import FRAMES, PoolFrame, Project
from toontag.parallel import prefetch
from toontag.video.decode import Video, upright
from toontag.video.indexer import VIDEO_SUFFIXES
from toontag.video.shots import ShotDetector

EVERY = 2.0  # seconds between regular samples of a video
PER_SHOT = 1  # frames taken from each shot, evenly inside it (1: its middle)
MAX_SIDE = 1280  # pixels on a saved frame's long side; larger frames are scaled down
JPEG_QUALITY = 92  # high enough that labelling and features see what the video shows
SHOT_FRAMES = 16  # frames of the open shot held (evenly thinned) to pick its middle from
BATCH = 256  # candidates compared with each other at a time when dropping near-duplicates
THUMB_BATCH = 64  # frames (at 112x192) waiting for their thumbnails

Progress = Callable[[Path, float, float | None], None]  # (source, done, total): s or images


@dataclass(frozen=True)
class SourceOutcome:
    path: Path  # as given
    kind: str  # "video" or "images"
    status: str  # "added", "unchanged" or "failed"
    detail: str = ""
    added: int = 0  # frames now in the pool
    candidates: int = 0
    dropped: int = 0  # near-duplicates
    shots: int = 0
    duration: float = 0.0  # seconds of video
    seconds: float = 0.0  # wall time
    unreadable: tuple[tuple[str, str], ...] = ()  # (image, reason) left out

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path), "unreadable": list(self.unreadable)}


@dataclass(frozen=True)
class PoolSummary:
    project: Path
    sources: list[SourceOutcome]
    total: int  # frames in the pool
    broken: list[tuple[str, str]] = field(default_factory=list)  # pool frames unreadable


@dataclass
class _Candidate:
    frame: PoolFrame
    file: Path
    thumb: np.ndarray | None = None  # (14, 24) uint8, made in batches


class _Thumbnails:
    """Candidates' thumbnails made `THUMB_BATCH` at a time: one torch call a frame costs
    tens of times more, and the frames at thumbnail size are small enough to wait."""

    def __init__(self):
        self.waiting: list[tuple[_Candidate, np.ndarray]] = []

    def add(self, candidate: _Candidate, image: Image.Image) -> None:
        self.waiting.append((candidate, np.array(resize_rgb(image, SOURCE_SIZE))))
        if len(self.waiting) >= THUMB_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.waiting:
            made = _thumbnails([pixels for _, pixels in self.waiting])
            for (candidate, _), thumb in zip(self.waiting, made, strict=True):
                candidate.thumb = thumb
            self.waiting.clear()


def add_to_pool(
    project: Path | str,
    sources: list[Path],
    *,
    every: float = EVERY,
    per_shot: int = PER_SHOT,
    max_distance: float = TWIN_THRESHOLD,
    progress: Progress | None = None,
) -> PoolSummary:
    """Add the frames of `sources` (videos, folders of videos or images, images) to the
    project at `project`, made when new. One outcome per source, in the order given."""
    if not (every > 0 and per_shot >= 1 and 0 <= max_distance <= 255):
        raise ValueError(f"every={every}, per_shot={per_shot}, max_distance={max_distance}")
    store = Project.open(project, create=True)
    with store.lock():
        pool = _Pool(store)
        outcomes = []
        for source in _expand(store, sources):
            start, path, kind = time.perf_counter(), source.path, source.kind
            try:
                if source.problem:
                    outcome = SourceOutcome(path, kind, "failed", source.problem)
                elif kind == "video":
                    outcome = _add_video(pool, path, every, per_shot, max_distance, progress)
                else:
                    outcome = _add_images(pool, path, source.images, max_distance, progress)
            except ProjectError:
                raise  # the project cannot be written: every later source would fail too
            except (ToontagError, OSError, av.error.FFmpegError) as e:
                outcome = SourceOutcome(path, kind, "failed", _reason(e, path))
            outcomes.append(_timed(outcome, start))
        return PoolSummary(store.root, outcomes, len(pool.frames), pool.broken)


# What the sources are


@dataclass(frozen=True)
class _Source:
    kind: str  # "video" or "images"
    path: Path
    images: list[Path] = field(default_factory=list)
    problem: str = ""  # why it cannot be a source at all


def _expand(store: Project, paths: list[Path]) -> Iterator[_Source]:
    """Each video file alone, a folder's images (searched recursively) together, an image
    file alone. A folder with neither, or inside the project's frames, cannot be a source."""
    frames = (store.root / FRAMES).resolve()
    seen = set()
    for path in paths:
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        if resolved == frames or frames in resolved.parents:
            yield _Source("images", path, problem="is inside the project's own frames")
        elif path.is_dir():
            files = sorted(
                f
                for f in path.rglob("*")
                if f.suffix.lower() in VIDEO_SUFFIXES | IMAGE_SUFFIXES
                and frames not in f.resolve().parents
                and f.is_file()
            )
            videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
            images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
            if not files:
                suffixes = " ".join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
                yield _Source("images", path, problem=f"no videos or images in it ({suffixes})")
            for video in videos:
                if video.resolve() not in seen:
                    seen.add(video.resolve())
                    yield _Source("video", video)
            if images:
                yield _Source("images", path, images)
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            yield _Source("images", path, [path])
        else:
            yield _Source("video", path)


# The pool in memory


class _Pool:
    """The project's pool and thumbnails, kept in step with the files at each commit."""

    def __init__(self, store: Project):
        self.store = store
        self.frames = store.read_pool()
        self.thumbs, self.broken = self._thumbs()
        self.folders = {f.folder for f in self.frames}
        self.sources = {f.source for f in self.frames}

    def _thumbs(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """thumbs.npy, made good from the frame files when it does not match pool.csv: the
        rows it lacks (a run killed between the two writes) or all (pool.csv edited)."""
        thumbs = self.store.read_thumbs()
        if thumbs is not None and len(thumbs) == len(self.frames):
            return thumbs, []
        if thumbs is None or len(thumbs) > len(self.frames):
            thumbs = np.zeros((0, *THUMB_SIZE), np.uint8)
        made, broken = [thumbs], []
        lacking = self.frames[len(thumbs) :]
        for start in range(0, len(lacking), THUMB_BATCH):
            pixels = []
            for frame in lacking[start : start + THUMB_BATCH]:
                try:
                    image = open_rgb(self.store.root / frame.path)[0]
                    pixels.append(np.array(resize_rgb(image, SOURCE_SIZE)))
                except BadImageError as e:
                    broken.append((frame.path, e.reason))
                    pixels.append(np.zeros((*SOURCE_SIZE, 3), np.uint8))  # rows stay in step
            made.append(_thumbnails(pixels))
        thumbs = np.concatenate(made)
        self.store.write_thumbs(thumbs)
        return thumbs, broken

    def keep(self, thumbs: np.ndarray, max_distance: float) -> np.ndarray:
        """Which of `thumbs` (in order of preference) to keep: each one farther than
        `max_distance` from every pool frame and every one kept before it."""
        near_pool = nearest_thumbnails(thumbs, self.thumbs)[0] <= max_distance
        keep = np.zeros(len(thumbs), bool)
        for start in range(0, len(thumbs), BATCH):
            batch = thumbs[start : start + BATCH]
            earlier = thumbs[:start][keep[:start]]
            near = near_pool[start : start + BATCH].copy()
            near |= nearest_thumbnails(batch, earlier)[0] <= max_distance
            inner = thumbnail_distances(batch, batch).numpy() <= max_distance
            for j in range(len(batch)):
                kept = keep[start : start + j]
                keep[start + j] = not near[j] and not inner[j, :j][kept].any()
        return keep

    def referenced(self, folder: str) -> set[str]:
        return {f.path for f in self.frames if f.folder == folder}

    def commit(self, candidates: list[_Candidate], entry: dict) -> None:
        """Add `candidates` (in capture order) to the pool files: pool.csv first, the truth."""
        frames = self.frames + [c.frame for c in candidates]
        thumbs = np.concatenate(
            [
                self.thumbs,
                np.array([c.thumb for c in candidates], np.uint8).reshape(-1, *THUMB_SIZE),
            ]
        )
        self.store.write_pool(frames)
        self.store.write_thumbs(thumbs)
        self.store.record(entry)
        self.frames, self.thumbs = frames, thumbs
        self.folders.update(c.frame.folder for c in candidates)
        self.sources.update(c.frame.source for c in candidates)


# Videos


def _add_video(pool, path, every, per_shot, max_distance, progress) -> SourceOutcome:
    store = pool.store
    if not path.is_file():
        raise VideoError(path, "no such file")
    label, stat = store.label(path), path.stat()
    known = store.source(path=label, kind="video")
    same_file = known and (known["bytes"], known["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    if same_file and _in_pool(pool, known):
        return SourceOutcome(path, "video", "unchanged", "same size and mtime")
    digest = hash_file(path).hexdigest()
    same = store.source(sha256=digest)
    if same and _in_pool(pool, same):
        return SourceOutcome(path, "video", "unchanged", f"same content as {same['path']}")
    folder = f"{FRAMES}/{_slug(path.stem)}-{digest[:8]}"
    entry = {
        "path": label,
        "kind": "video",
        "sha256": digest,
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "frames": folder,
    }
    if folder in pool.folders:  # committed by a run killed before it wrote project.json
        store.record({**entry, "added": _now(), "kept": len(pool.referenced(folder))})
        return SourceOutcome(path, "video", "unchanged", "already in the pool")
    target = store.root / folder
    shutil.rmtree(target, ignore_errors=True)  # what a killed run left: in no pool row
    try:
        with Video(path) as video:
            candidates, shots = _scan(video, store, label, folder, every, per_shot, progress)
            duration, info = (
                video.end,
                {"fps": video.fps, "width": video.width, "height": video.height},
            )
        kept, dropped = _dedupe(pool, candidates, max_distance)
    except BaseException:  # nothing of it was committed: its files go
        shutil.rmtree(target, ignore_errors=True)
        raise
    entry.update(
        added=_now(),
        duration=round(duration, 3),
        **info,
        shots=len(shots),
        candidates=len(candidates),
        kept=len(kept),
        dropped=len(dropped),
    )
    pool.commit(kept, entry)
    return SourceOutcome(
        path,
        "video",
        "added",
        added=len(kept),
        candidates=len(candidates),
        dropped=len(dropped),
        shots=len(shots),
        duration=duration,
    )


def _in_pool(pool: _Pool, entry: dict) -> bool:
    """A recorded source counts as in the pool while its frames are (or none were kept)."""
    return entry.get("kept") == 0 or entry.get("frames") in pool.folders


def _decoded(video: Video, detector: ShotDetector) -> Iterator:
    """Each frame with its time and its shrunk copy for shot detection (PyAV work, for the
    decoding thread)."""
    for t, frame in video.frames():
        yield t, frame, detector.shrink(frame)


def _scan(video, store, label, folder, every, per_shot, progress):
    """One pass over `video`: the candidate frames (saved as they are taken) and the shots."""
    detector = ShotDetector(video.fps)
    taken: dict[int, _Candidate] = {}
    batch = _Thumbnails()

    def take(t: float, frame: av.VideoFrame, reason: str) -> None:
        ms = round(max(t, 0.0) * 1000)
        if ms in taken:  # already taken as a regular sample: it is this shot's pick as well
            if reason == "shot":
                taken[ms].frame = replace(taken[ms].frame, reason="shot")
            return
        name = f"{folder}/{ms:09d}.jpg"
        frame_row = PoolFrame(name, label, t, None, reason, 0, 0)
        taken[ms] = _save(upright(frame), store.root / name, frame_row, batch)

    held, opened, cuts_seen, next_time = _ShotFrames(), 0.0, 0, 0.0
    for t, frame, shrunk in prefetch(_decoded(video, detector)):
        detector.add(shrunk)
        held.add(t, frame)
        if t >= next_time - 1e-6:
            take(t, frame, "regular")
            next_time = (np.floor(t / every + 1e-6) + 1) * every
            if progress:
                progress(video.path, t, video.declared_duration)
        for cut in detector.cuts[cuts_seen:]:  # a shot has ended: take its middle
            cut -= video.start
            for ft, f in held.pick(opened, cut, per_shot):
                take(ft, f, "shot")
            held, opened = held.after(cut), cut
        cuts_seen = len(detector.cuts)
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


class _ShotFrames:
    """The frames of the open shot, at most `SHOT_FRAMES`, evenly spread: when full, every
    other one goes and from then on half as many are held."""

    def __init__(self):
        self.frames: list[tuple[float, av.VideoFrame]] = []
        self.stride, self.seen = 1, 0

    def add(self, t: float, frame) -> None:
        if self.seen % self.stride == 0:
            self.frames.append((t, frame))
            if len(self.frames) > SHOT_FRAMES:
                self.frames, self.stride = self.frames[::2], self.stride * 2
        self.seen += 1

    def pick(self, start: float, end: float, n: int) -> list[tuple[float, av.VideoFrame]]:
        """The held frames nearest `n` evenly spaced times inside [start, end)."""
        inside = [(t, f) for t, f in self.frames if start - 1e-6 <= t < end - 1e-6]
        picks = {}
        for i in range(n if inside else 0):
            target = start + (i + 0.5) * (end - start) / n
            t, f = min(inside, key=lambda item: abs(item[0] - target))
            picks[t] = f
        return sorted(picks.items(), key=lambda item: item[0])

    def after(self, cut: float) -> _ShotFrames:
        """The frames from `cut` on (a cut is known a little after it happens), as a new shot."""
        rest = _ShotFrames()
        for t, f in self.frames:
            if t >= cut - 1e-6:
                rest.add(t, f)
        return rest


# Images


def _add_images(pool, root, files, max_distance, progress) -> SourceOutcome:
    store = pool.store
    label = store.label(root)
    base = root if root.is_dir() else root.parent
    listing = hashlib.sha256()
    for file in files:
        stat = file.stat()
        listing.update(f"{file.relative_to(base)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    fingerprint = listing.hexdigest()
    known = store.source(path=label, kind="images")
    if known and known["fingerprint"] == fingerprint:
        left_out = len(known.get("unreadable", []))
        note = f"; {left_out} unreadable images left out" if left_out else ""
        return SourceOutcome(
            path=root,
            kind="images",
            status="unchanged",
            detail=f"same images, sizes and times{note}",
        )
    name = root.name if root.is_dir() else root.stem
    folder = f"{FRAMES}/{_slug(name)}-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
    target = store.root / folder
    keep_files = pool.referenced(folder)
    if target.is_dir():  # what a killed run left: files in no pool row
        for stray in target.iterdir():
            if f"{folder}/{stray.name}" not in keep_files:
                stray.unlink(missing_ok=True)
    todo = [f for f in files if store.label(f) not in pool.sources]
    candidates, unreadable, batch = [], [], _Thumbnails()
    try:
        for i, file in enumerate(todo):
            try:
                image, _ = open_rgb(file)
            except BadImageError as e:
                unreadable.append((str(file), e.reason))
                continue
            relative = file.relative_to(base).with_suffix("").as_posix()
            key = hashlib.sha256(relative.encode()).hexdigest()[:8]
            name = f"{folder}/{_slug(relative)}-{key}.jpg"
            frame = PoolFrame(name, store.label(file), None, None, "image", 0, 0)
            candidates.append(_save(image, store.root / name, frame, batch))
            if progress:
                progress(root, i + 1, len(todo))
        batch.flush()
        kept, dropped = _dedupe(pool, candidates, max_distance)
    except BaseException:  # nothing of it was committed: its files go
        for c in candidates:
            c.file.unlink(missing_ok=True)
        raise
    entry = {
        "path": label,
        "kind": "images",
        "fingerprint": fingerprint,
        "frames": folder,
        "added": _now(),
        "images": len(files),
        "kept": len(kept),
        "dropped": len(dropped),
        "unreadable": [u for u, _ in unreadable],
    }
    pool.commit(kept, entry)
    before = len(files) - len(todo)
    detail = f"{before} already in the pool" if before else ""
    return SourceOutcome(
        root,
        "images",
        "added",
        detail,
        added=len(kept),
        candidates=len(candidates),
        dropped=len(dropped),
        unreadable=tuple(unreadable),
    )


# Shared by both


def thumbnail(image: Image.Image) -> np.ndarray:
    """A picture's 14x24 uint8 thumbnail, as the split and its audit compute it."""
    return _thumbnails([np.array(resize_rgb(image, SOURCE_SIZE))])[0]


def _thumbnails(pixels: list[np.ndarray]) -> np.ndarray:
    """(N, 14, 24) uint8 thumbnails of frames already at the split's `SOURCE_SIZE` (writable
    arrays: torch warns about read-only ones)."""
    if not pixels:
        return np.zeros((0, *THUMB_SIZE), np.uint8)
    return np.round(thumbnails(np.stack(pixels))).astype(np.uint8)


def _save(image: Image.Image, file: Path, frame: PoolFrame, batch: _Thumbnails) -> _Candidate:
    """Write `image` (its long side capped at `MAX_SIDE`) as a JPEG; its candidate, whose
    thumbnail `batch` makes."""
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        image.save(file, "JPEG", quality=JPEG_QUALITY)
    except OSError as e:
        raise ProjectError(file, f"cannot write it ({e.strerror or e})") from None
    candidate = _Candidate(replace(frame, width=image.width, height=image.height), file)
    batch.add(candidate, image)
    return candidate


def _dedupe(pool: _Pool, candidates: list[_Candidate], max_distance: float):
    """(kept in capture order, dropped): shot middles are preferred, then time order. The
    dropped frames' files are deleted."""
    order = sorted(candidates, key=lambda c: (c.frame.reason != "shot", c.frame.time or 0))
    if not order:
        return [], []
    keep = pool.keep(np.stack([c.thumb for c in order]), max_distance)
    kept = [c for c, k in zip(order, keep, strict=True) if k]
    dropped = [c for c, k in zip(order, keep, strict=True) if not k]
    for c in dropped:
        c.file.unlink(missing_ok=True)
    return sorted(kept, key=lambda c: (c.frame.time or 0, c.frame.path)), dropped


def _slug(text: str) -> str:
    """A file-name-safe form of `text` that keeps its order when sorted."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "source"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _timed(outcome: SourceOutcome, start: float) -> SourceOutcome:
    return SourceOutcome(**{**asdict(outcome), "seconds": time.perf_counter() - start})


def _reason(error: Exception, path: Path) -> str:
    """Why one source failed, in one line, without repeating its path."""
    if isinstance(error, ToontagError) and getattr(error, "path", None) is not None:
        text = error.reason if Path(error.path) == path else f"{error.path}: {error.reason}"
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())[:300]
