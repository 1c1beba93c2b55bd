"""Decode every image once into a memory-mapped uint8 array at the training resolution.

The cache lives outside the repository (``$TOONTAG_CACHE`` or ``~/.cache/toontag``) and is keyed
by a hash of the file list (path, size, mtime) and the resolution, so a changed dataset or size
gets a fresh cache. It is built on all cores, written under a temporary name and renamed only
when complete; its index (``.json``) is written last, so a killed build is simply rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toontag.data.images import load_resized
from toontag.errors import BadImageError
from toontag.io import replace_file, write_json
from toontag.parallel import map_chunks

CACHE_VERSION = 2  # 2: EXIF orientation applied, 16-bit grayscale scaled
CHUNK = 64  # images per worker task: large enough to amortise the hand-off


def cache_dir() -> Path:
    return Path(os.environ.get("TOONTAG_CACHE", Path.home() / ".cache" / "toontag"))


@dataclass(frozen=True)
class ImageCache:
    images: np.ndarray  # (N, H, W, 3) uint8, memory-mapped; failed rows are zeros
    failed: dict[int, str]  # row -> why the image could not be decoded
    notes: dict[int, str]  # row -> conversion applied (grayscale, CMYK, alpha)
    seconds: float  # wall time of the build (0 when it was reused)

    @property
    def ok(self) -> np.ndarray:
        """Indices of the rows that hold a decoded image."""
        mask = np.ones(len(self.images), dtype=bool)
        mask[list(self.failed)] = False
        return np.flatnonzero(mask)


def cache_key(paths: list[Path], size: tuple[int, int]) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION} {size[0]}x{size[1]}\n".encode())
    for path in paths:
        try:
            st = path.stat()
            digest.update(f"{path.resolve()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\tmissing\n".encode())
    return digest.hexdigest()[:20]


def _decode_chunk(args) -> tuple[dict[int, str], dict[int, str]]:
    array_path, paths, start, size = args
    images = np.load(array_path, mmap_mode="r+")
    failed, notes = {}, {}
    for offset, path in enumerate(paths):
        row = start + offset
        try:
            images[row], note = load_resized(path, size)
            if note:
                notes[row] = note
        except BadImageError as e:
            failed[row] = e.reason
    images.flush()
    return failed, notes


def build_cache(
    paths: list[Path],
    *,
    size: tuple[int, int],
    root: Path | None = None,
    workers: int | None = None,
    description: str = "decoding images",
) -> ImageCache:
    """Return the cache for `paths` at (height, width) `size`, building it if needed."""
    import time

    root = Path(root) if root is not None else cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = cache_key(paths, size)
    array_path, index_path = root / f"images-{key}.npy", root / f"images-{key}.json"
    if array_path.exists() and index_path.exists():
        index = json.loads(index_path.read_text())
        return ImageCache(
            np.load(array_path, mmap_mode="r"),
            {int(k): v for k, v in index["failed"].items()},
            {int(k): v for k, v in index["notes"].items()},
            0.0,
        )

    start = time.perf_counter()
    tmp = root / f".images-{key}.{os.getpid()}.tmp"
    np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(paths), *size, 3)).flush()
    tasks = [(tmp, paths[i : i + CHUNK], i, size) for i in range(0, len(paths), CHUNK)]
    failed, notes = {}, {}
    sizes = [len(task[1]) for task in tasks]
    try:
        for f, n in map_chunks(
            _decode_chunk, tasks, sizes, description=description, workers=workers
        ):
            failed.update(f)
            notes.update(n)
        replace_file(tmp, array_path)
    finally:
        tmp.unlink(missing_ok=True)
    seconds = time.perf_counter() - start
    index = {
        "size": list(size),
        "paths": [str(p) for p in paths],
        "failed": {str(k): v for k, v in sorted(failed.items())},
        "notes": {str(k): v for k, v in sorted(notes.items())},
        "seconds": seconds,
    }
    write_json(index_path, index)
    return ImageCache(np.load(array_path, mmap_mode="r"), failed, notes, seconds)
