"""Tags for image files from a trained model's engine (under ONNX Runtime PyTorch is never
loaded)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from toontag.data.images import PICTURE_ASPECT, load_resized
from toontag.data.predictions import probability_column
from toontag.data.walk import IMAGE_SUFFIXES, find_files
from toontag.errors import BadImageError, FileError
from toontag.io import write_json
from toontag.parallel import prefetch


def find_images(paths: list[Path]) -> tuple[list[Path], list[dict]]:
    """The image files `paths` name, each folder searched recursively (`data.walk`'s rule),
    and an error result for each folder that could not be read, or gave no image and held no
    such folder."""
    found = find_files(paths, IMAGE_SUFFIXES)
    unreadable = [folder for folder, _ in found.unreadable]
    empty = [
        p
        for p in paths
        if p.is_dir()
        and not any(p in q.parents for q in found.files)
        and not any(p == q or p in q.parents for q in unreadable)
    ]
    errors = [{"path": str(p), "error": "no image files in this folder"} for p in empty]
    errors += [{"path": str(folder), "error": reason} for folder, reason in found.unreadable]
    return found.files, errors


def tag_images(
    engine,
    paths: list[Path],
    *,
    batch_size: int = 64,
    sidecars: bool = False,
    borders: bool = True,
    advance: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """One result per path, in order: the characters at the model's thresholds and every
    probability, or the reason it could not be read. `engine`: `load_engine`'s object (or
    any with `classes`, `thresholds`, `image_size` and `probabilities`). Images are decoded
    on a thread while the previous batch runs through the model. `sidecars`: also write
    ``IMAGE.json`` beside each image (`sidecar`); one that cannot be written is that image's
    error. `borders`: a still's black bars (letterbox, pillarbox) are cropped off and the
    picture fitted to the model's training pictures first, as `index` does to a video's
    (`data.borders.still_picture`; the note says so). `advance(n)` is called after each
    batch of n."""
    size = engine.image_size
    aspect = getattr(engine, "picture_aspect", PICTURE_ASPECT) if borders else None
    batches = (paths[i : i + batch_size] for i in range(0, len(paths), batch_size))
    for results, pixels in prefetch((_load(b, size, aspect) for b in batches), depth=1):
        ok = [r for r in results if "error" not in r]
        if ok:
            probs = engine.probabilities(np.stack(pixels))
            for result, p in zip(ok, probs, strict=True):
                result.update(_tags(engine, p))
                if sidecars:
                    _write_sidecar(engine, result)
        if advance is not None:
            advance(len(results))
        yield from results


def sidecar(path: Path | str) -> Path:
    """Where an image's tags are written beside it: ``NAME.EXT.json`` (the image's full name,
    so frame.jpg and frame.png in one folder keep theirs apart)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def table(results: list[dict], classes) -> tuple[list[str], list[list]]:
    """The CSV header and rows of `tag_images` results: path, characters (joined by ;), one
    probability column per class (``p_<class>``, as in every table toontag writes), note and
    error."""
    header = ["path", "characters", *map(probability_column, classes), "note", "error"]
    rows = []
    for r in results:
        probs = r.get("probabilities", {})
        rows.append(
            [
                r["path"],
                ";".join(r.get("characters", [])),
                *(probs.get(c, "") for c in classes),
                r.get("note", ""),
                r.get("error", ""),
            ]
        )
    return header, rows


def _load(paths: list[Path], size, aspect) -> tuple[list[dict], list[np.ndarray]]:
    results, pixels = [], []
    for path in paths:
        try:
            array, note = load_resized(path, size, aspect=aspect)
        except BadImageError as e:
            results.append({"path": str(path), "error": e.reason})
            continue
        pixels.append(array)
        results.append({"path": str(path), "note": note} if note else {"path": str(path)})
    return results, pixels


def _tags(engine, probs: np.ndarray) -> dict:
    rule = zip(engine.classes, probs, engine.thresholds, strict=True)
    return {
        "characters": [c for c, p, t in rule if p >= t],
        "probabilities": {
            c: round(float(p), 4) for c, p in zip(engine.classes, probs, strict=True)
        },
    }


def _write_sidecar(engine, result: dict) -> None:
    path = Path(result["path"])
    document = {
        "image": path.name,
        "model": engine.model,
        "model_id": getattr(engine, "model_id", None),
        "characters": result["characters"],
        "probabilities": result["probabilities"],
        "thresholds": {
            c: round(float(t), 4) for c, t in zip(engine.classes, engine.thresholds, strict=True)
        },
    }
    try:
        write_json(sidecar(path), document)
    except FileError as e:
        result["error"] = f"tagged, but its sidecar {e.reason}"
