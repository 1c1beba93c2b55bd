"""Pooled backbone features of every frame in a labelling pool, computed once and kept on disk.

The learning loop refits a light head on these features after every few labels, so the backbone
runs once per frame, never per refit. Under `cache`, one folder per backbone and input size
holds *blocks*: a float16 ``.npy`` of rows and a ``.json`` naming each row's frame (a hash of its
path, size and mtime) and the rows whose image could not be decoded (zeros). Each file
is written under a temporary name and renamed; the ``.json`` last, so a block without one is
unfinished and ignored, and a build killed at any moment keeps every finished block.

Frames are computed `block_rows` at a time; once every frame has a row, the rows are gathered in
the pool's order into one block covering the whole pool (the view returned) and the blocks it
makes redundant are deleted, so the disk holds the features about once. A pool that grows,
shrinks or is reordered computes only the frames no block holds.

Why one assembled file rather than a view stitched from the blocks: the head and the queue read
the whole pool on every refit; one contiguous memmap is read in large sequential chunks by one
matmul and can be handed to another process by its path. Gathering costs one copy of the
features per change of the pool, never per refit.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toontag.data.images import load_resized
from toontag.errors import BadImageError, DataError
from toontag.io import hash_file, replace_file, write_json, write_npy
from toontag.models.stages import CUT
from toontag.parallel import prefetch

FEATURES_VERSION = 1  # bump when decoding or pooling changes: old blocks are then ignored
BLOCK_ROWS = 2048  # frames per block, the most a kill loses: ~45 s of Lite0 on 2 CPU cores
GATHER_ROWS = 8192  # rows copied at a time when assembling the pool's view


@dataclass(frozen=True, eq=False)  # compared by identity: `features` is an array
class PoolFeatures:
    features: np.ndarray  # (N, D) float16, read-only memmap, in the order of the paths given
    failed: dict[int, str]  # row -> why its image could not be decoded (its row is zeros)
    computed: int  # frames the backbone ran on in this call (0 when all were cached)
    path: Path  # the .npy holding `features`, for another process to open


def pool_features(
    paths: list[Path],
    cache: Path,
    *,
    model: str = "efficientnet_lite0",
    image_size: tuple[int, int] = (112, 192),
    weights: Path | None = None,
    batch_size: int = 64,
    block_rows: int = BLOCK_ROWS,
    root: Path | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PoolFeatures:
    """Pooled features of `model` for every image of `paths` (in order), at (height, width)
    `image_size`, computing only the frames `cache` does not hold yet: ImageNet's backbone, or
    the backbone in `weights` (a show-adapted one: its own folder, named by the file's hash).
    With `root` (a project folder) frames are known by their path inside it, so a moved project
    keeps its features. `progress` is called with (frames done, frames to compute) after every
    batch."""
    what = "" if weights is None else f"-w{_file_hash(Path(weights))}"

    def make(dev: str) -> Callable[[torch.Tensor], torch.Tensor]:
        return _backbone(model, dev, weights).pooled_features

    folder = Path(cache) / f"{model}-{image_size[0]}x{image_size[1]}{what}-v{FEATURES_VERSION}"
    return _cached(
        paths,
        folder,
        make,
        image_size,
        batch_size=batch_size,
        block_rows=block_rows,
        root=root,
        device=device,
        progress=progress,
    )


def pool_maps(
    paths: list[Path],
    cache: Path,
    *,
    model: str = "efficientnet_lite0",
    image_size: tuple[int, int] = (112, 192),
    cut: int = CUT,
    **options,
) -> PoolFeatures:
    """The ImageNet backbone's feature maps at `cut` (`models/stages.py`) of every frame, in
    two views: the frame as it is and one augmented copy (zoom, shift, mirror, brightness,
    contrast; seeded), (N, 2, C, H, W) float16: what adapting the top trains on. `options`
    (batch_size, block_rows, root, device, progress) as `pool_features`'."""

    def make(dev: str) -> Callable[[torch.Tensor], torch.Tensor]:
        from toontag.data.augment import affine_batch
        from toontag.models.stages import Bottom

        bottom = Bottom(_backbone(model, dev, None), cut)
        generator = torch.Generator(dev).manual_seed(0)

        def views(pixels: torch.Tensor) -> torch.Tensor:
            x = bottom.normalize(pixels)
            return torch.stack([bottom.maps(x), bottom.maps(affine_batch(x, generator))], 1)

        return views

    folder = Path(cache) / f"{model}-{image_size[0]}x{image_size[1]}-maps{cut}-v{FEATURES_VERSION}"
    return _cached(paths, folder, make, image_size, **options)


def _cached(
    paths,
    folder,
    make,
    image_size,
    *,
    batch_size: int = 64,
    block_rows: int = BLOCK_ROWS,
    root: Path | None = None,
    device: str | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """The rows `make(device)(uint8 batch)` gives for `paths`, from the blocks under `folder`,
    computing the frames they lack (see the module)."""
    if not paths:
        raise DataError("no frames to compute features of: the pool is empty")
    folder.mkdir(parents=True, exist_ok=True)
    keys = [frame_key(Path(p), root) for p in paths]
    name = _block_name(keys)
    if (folder / f"{name}.json").is_file() and (folder / f"{name}.npy").is_file():  # as last time
        return _open(folder, name, computed=0)
    _remove_stale_temporaries(folder)
    blocks = _finished_blocks(folder)
    held = {key for block in blocks for key in block["keys"]}
    missing = list(dict.fromkeys(k for k in keys if k not in held))
    if missing:
        if progress:  # the backbone is made first: the work is known before the first batch
            progress(0, len(missing))
        where = dict(zip(keys, paths, strict=True))
        dev = _device(device)
        fn = make(dev)
        for start in range(0, len(missing), block_rows):
            part = missing[start : start + block_rows]
            report = _offset(progress, start, len(missing)) if progress else None
            files = [Path(where[k]) for k in part]
            rows, failed = _compute(fn, files, image_size, batch_size, device=dev, progress=report)
            blocks.append(_write_block(folder, part, rows, failed))
    _assemble(folder, name, keys, blocks)
    wanted = set(keys)
    for block in blocks:  # every row of theirs is in the view now
        if block["name"] != name and wanted.issuperset(block["keys"]):
            for suffix in (".json", ".npy"):
                (folder / f"{block['name']}{suffix}").unlink(missing_ok=True)
    return _open(folder, name, computed=len(missing))


def frame_key(path: Path, root: Path | None = None) -> str:
    """What identifies a frame's features: its path (absolute, or inside `root`), size and
    mtime (an edited or replaced image is a new frame). A missing file has a key too: it
    becomes a zero row."""
    path = Path(os.path.abspath(path))
    name = path if root is None else os.path.relpath(path, os.path.abspath(root))
    try:
        st = path.stat()
        text = f"{name}\t{st.st_size}\t{st.st_mtime_ns}"
    except OSError:
        text = f"{name}\tmissing"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _device(device: str | None) -> str:
    from toontag.models.inference import default_device

    return device or default_device()


def _backbone(model: str, device: str, weights: Path | None) -> torch.nn.Module:
    """The ImageNet backbone (or the one in `weights`) with its normalisation."""
    from toontag.models.registry import create_model

    net = create_model(model, num_classes=1, pretrained=True, weights=weights)
    net = net.to(device).eval()
    # uint8 NHWC batches arrive channels-last; weights to match run ~2.5x faster on a CPU.
    return net.to(memory_format=torch.channels_last)


def _decoded(paths: list[Path], size: tuple[int, int], batch_size: int) -> Iterator:
    """(uint8 pixels, {offset in batch: reason}) per batch; a bad image is a zero picture."""
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        pixels = np.zeros((len(chunk), *size, 3), np.uint8)
        failed = {}
        for i, path in enumerate(chunk):
            try:
                pixels[i] = load_resized(path, size)[0]
            except BadImageError as e:
                failed[i] = e.reason
        yield pixels, failed


@torch.inference_mode()
def _compute(fn, paths, size, batch_size, *, device, progress) -> tuple[np.ndarray, dict]:
    """`fn`'s rows for `paths` (float16, zero rows for images that cannot be decoded)."""
    out: list[np.ndarray] = []
    failed: dict[int, str] = {}
    done = 0
    # Decoding (PIL releases the GIL) runs a few batches ahead of the backbone.
    for pixels, bad in prefetch(_decoded(paths, size, batch_size), depth=2):
        rows = fn(torch.from_numpy(pixels).to(device)).float().cpu().numpy()
        rows[list(bad)] = 0.0
        failed |= {done + i: reason for i, reason in bad.items()}
        out.append(rows.astype(np.float16))
        done += len(pixels)
        if progress:
            progress(done)
    return np.concatenate(out), failed


def _offset(progress: Callable[[int, int], None], start: int, total: int) -> Callable:
    return lambda done: progress(start + done, total)


def _block_name(keys: list[str]) -> str:
    return "block-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:20]


def _write_block(folder: Path, keys: list[str], rows: np.ndarray, failed: dict) -> dict:
    name = _block_name(keys)
    write_npy(folder / f"{name}.npy", rows)  # a block is a few MB
    return _publish(folder, name, keys, failed, rows.shape)


def _publish(folder: Path, name: str, keys: list[str], failed: dict, shape) -> dict:
    """Write the block's index, which marks it finished; its ``.npy`` must be in place."""
    block = {
        "name": name,
        "shape": list(shape),
        "keys": keys,
        "failed": {str(row): reason for row, reason in sorted(failed.items())},
    }
    write_json(folder / f"{name}.json", block)
    return block


def _finished_blocks(folder: Path) -> list[dict]:
    """The blocks whose index and array are both complete; anything else is left unused."""
    blocks = []
    for index in sorted(folder.glob("block-*.json")):
        try:
            block = json.loads(index.read_text())
            array = np.load(index.with_suffix(".npy"), mmap_mode="r")
        except (OSError, ValueError):
            continue
        if list(array.shape) == block["shape"] and len(block["keys"]) == array.shape[0]:
            blocks.append(block)
    return blocks


def _assemble(folder: Path, name: str, keys: list[str], blocks: list[dict]) -> None:
    """Gather the rows of `keys`, in order, from `blocks` into the block `name`."""
    where: dict[str, tuple[int, int]] = {}
    for b, block in enumerate(blocks):
        for row, key in enumerate(block["keys"]):
            where.setdefault(key, (b, row))
    shape = tuple(blocks[0]["shape"][1:])
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(keys), *shape))
    source = np.array([where[k] for k in keys], dtype=np.int64).reshape(len(keys), 2)
    failed = {}
    for b, block in enumerate(blocks):
        mine = np.flatnonzero(source[:, 0] == b)
        if not len(mine):
            continue
        array = np.load(folder / f"{block['name']}.npy", mmap_mode="r")
        for start in range(0, len(mine), GATHER_ROWS):
            target = mine[start : start + GATHER_ROWS]
            out[target] = array[source[target, 1]]
        bad = {int(row): reason for row, reason in block["failed"].items()}
        for target in mine[np.isin(source[mine, 1], list(bad))]:
            failed[int(target)] = bad[int(source[target, 1])]
    out.flush()
    del out
    replace_file(tmp, folder / f"{name}.npy")
    _publish(folder, name, keys, failed, (len(keys), *shape))


def _file_hash(path: Path) -> str:
    """Names a weights file's features: its bytes' hash (a new adaptation, new features)."""
    if not path.is_file():
        raise DataError(f"{path}: weights file not found")
    return hash_file(path).hexdigest()[:12]


def _open(folder: Path, name: str, *, computed: int) -> PoolFeatures:
    block = json.loads((folder / f"{name}.json").read_text())
    path = folder / f"{name}.npy"
    failed = {int(row): reason for row, reason in block["failed"].items()}
    return PoolFeatures(np.load(path, mmap_mode="r"), failed, computed, path)


def _remove_stale_temporaries(folder: Path) -> None:
    """Half-written files of builds that were killed (their process is gone)."""
    for tmp in folder.glob(".block-*.tmp"):
        pid = tmp.suffixes[-2].lstrip(".")
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
