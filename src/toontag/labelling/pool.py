"""Fill a project's pool: candidate frames from the user's videos and images, minus
near-duplicates, each saved with where it came from.

From a video: the middle of each shot and one frame every `every` seconds
(`labelling.video_candidates`). From images (a folder, searched by `data.walk`'s rule, or
single files): every image. Near-duplicates of the pool or of each other are dropped
(`labelling.dedupe`). Each source is committed alone (pool.csv, then thumbs.npy, then
project.json), so a killed run leaves the pool as it was before that source; the frame files it
had written are removed when that source is added again. A source already in the pool (same
size and mtime, or same content) is left as it is. A file or folder that cannot be read is
reported and the rest go on; only a project that cannot be written stops the batch.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import av

from toontag.data.audit import TWIN_THRESHOLD
from toontag.data.images import open_rgb
from toontag.errors import BadImageError, ProjectError, ToontagError, VideoError
from toontag.io import hash_file
from toontag.labelling.candidates import Thumbnails, save_frame
from toontag.labelling.dedupe import Pool, dedupe
from toontag.labelling.project import FRAMES, PoolFrame, Project
from toontag.labelling.sources import Progress, SourceOutcome, find_sources
from toontag.labelling.video_candidates import video_candidates
from toontag.video.decode import Video

EVERY = 2.0  # seconds between regular samples of a video
PER_SHOT = 1  # frames taken from each shot, evenly inside it (1: its middle)


@dataclass(frozen=True)
class PoolSummary:
    project: Path
    sources: list[SourceOutcome]
    total: int  # frames in the pool
    broken: list[tuple[str, str]] = field(default_factory=list)  # pool frames unreadable


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
        pool = Pool(store)
        outcomes = []
        for source in find_sources(store, sources):
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


def _add_video(pool, path, every, per_shot, max_distance, progress) -> SourceOutcome:
    store = pool.store
    if not path.is_file():
        raise VideoError(path, "no such file")
    label, stat = store.label(path), path.stat()
    known = store.source(path=label, kind="video")
    same_file = known and (known["bytes"], known["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns)
    if same_file and pool.holds(known):
        return SourceOutcome(path, "video", "unchanged", "same size and mtime")
    digest = hash_file(path).hexdigest()
    same = store.source(sha256=digest)
    if same and pool.holds(same):
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
            candidates, shots = video_candidates(
                video,
                store,
                label=label,
                folder=folder,
                every=every,
                per_shot=per_shot,
                progress=progress,
            )
            duration, info = (
                video.end,
                {"fps": video.fps, "width": video.width, "height": video.height},
            )
        kept, dropped = dedupe(pool, candidates, max_distance)
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
    candidates, unreadable, batch = [], [], Thumbnails()
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
            candidates.append(save_frame(image, store.root / name, frame, batch))
            if progress:
                progress(root, i + 1, len(todo))
        batch.flush()
        kept, dropped = dedupe(pool, candidates, max_distance)
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
