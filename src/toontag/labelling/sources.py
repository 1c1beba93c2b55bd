"""What a pool's sources are, and what became of each: a video file alone, the images of a
folder (searched by `data.walk`'s rule) together, an image file alone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from toontag.data.walk import IMAGE_SUFFIXES, VIDEO_SUFFIXES, file_problem, files_under
from toontag.labelling.project import FRAMES, Project

Progress = Callable[[Path, float, float | None], None]  # (source, done, total): s or images


@dataclass(frozen=True)
class Source:
    kind: str  # "video" or "images"
    path: Path
    images: list[Path] = field(default_factory=list)
    problem: str = ""  # why it cannot be a source at all


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


def find_sources(store: Project, paths: list[Path]) -> Iterator[Source]:
    """Each video file alone, a folder's images (searched recursively) together, an image
    file alone. A folder with neither, or inside the project's frames, cannot be a source,
    nor can a folder inside one that cannot be read, nor a FIFO, device or link loop."""
    frames = (store.root / FRAMES).resolve()
    seen = set()
    for path in paths:
        resolved = Path(os.path.realpath(path))  # a link loop stays as it is, for its error
        if resolved in seen:
            continue
        seen.add(resolved)
        if resolved == frames or frames in resolved.parents:
            yield Source("images", path, problem="is inside the project's own frames")
        elif path.is_dir():
            found = files_under(path, VIDEO_SUFFIXES | IMAGE_SUFFIXES)
            files = [f for f in found.files if frames not in f.resolve().parents]
            videos = [f for f in files if f.suffix.lower() in VIDEO_SUFFIXES]
            images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
            if not files and not found.unreadable:
                suffixes = " ".join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
                yield Source("images", path, problem=f"no videos or images in it ({suffixes})")
            for video in videos:
                if video.resolve() not in seen:
                    seen.add(video.resolve())
                    yield Source("video", video)
            if images:
                yield Source("images", path, images)
            for folder, reason in found.unreadable:
                yield Source("images", folder, problem=reason)
        elif (problem := file_problem(path)) not in (None, "no such file"):  # FIFO, link loop
            yield Source("images" if is_image(path) else "video", path, problem=problem)
        elif is_image(path):
            yield Source("images", path, [path])
        else:
            yield Source("video", path)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES
