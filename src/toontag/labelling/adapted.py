"""A pool's show-adapted backbone, made once per project from its unlabelled frames.

    PROJECT/adapted/model.safetensors   the backbone (timm's keys), ImageNet's but for its top
    PROJECT/adapted/adapted.json        how it was made: settings, shots, steps, minutes

`adapt_pool` computes the feature maps at the cut of every pool frame (two views each, cached
beside the pool's features: a killed run keeps its finished blocks), trains the top on them
with the shot-contrastive objective (`training/adapt.py`), and writes the backbone; adapted.json
is written last, so a folder without it is unfinished and ignored. The label page's head and
`toontag train --data PROJECT` start from this backbone once it exists (`adapted_weights`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from toontag.data.groups import group_index, pool_shots
from toontag.errors import DataError, ProjectError
from toontag.io import write_json
from toontag.labelling.features import pool_maps
from toontag.runs import WEIGHTS, save_weights
from toontag.training.adapt import DEFAULT, AdaptSettings, adapt_top

FOLDER = "adapted"
INFO = "adapted.json"
VERSION = 1  # adapted.json's format


def adapted_weights(folder: Path) -> Path | None:
    """The adapted backbone in `folder` (a project's adapted/), or None when there is none or
    its making was never finished."""
    folder = Path(folder)
    if (folder / INFO).is_file() and (folder / WEIGHTS).is_file():
        return folder / WEIGHTS
    return None


def project_backbone(data: Path, model: str) -> Path | None:
    """The show-adapted backbone of the labelling project `data` (its folder or its
    labels.csv) when it has one made for `model`; None for other data."""
    from toontag.data.dataset import PROJECT_FILE

    folder = Path(data) if Path(data).is_dir() else Path(data).parent
    weights = adapted_weights(folder / FOLDER) if (folder / PROJECT_FILE).is_file() else None
    if weights is None:
        return None
    made_for = json.loads((folder / FOLDER / INFO).read_text()).get("model")
    return weights if made_for == model else None


def adapt_pool(
    paths: list[Path],
    groups,
    *,
    cache: Path,
    out: Path,
    root: Path | None = None,
    settings: AdaptSettings = DEFAULT,
    model: str = "efficientnet_lite0",
    image_size: tuple[int, int] = (112, 192),
    maps_progress: Callable[[int, int], None] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict:
    """Adapt `model`'s backbone to the frames of `paths` whose shots are `groups` (one id per
    path, any kind), write it to `out` (model.safetensors, then adapted.json) and return what
    adapted.json says. `cache` holds the maps (and the pool's features); `root` as in
    `pool_features`."""
    from toontag.models.registry import create_model
    from toontag.models.stages import split
    from toontag.training.run import device_name  # lightning: only when adapting

    started = time.perf_counter()
    found = pool_maps(
        paths, cache, model=model, image_size=image_size, root=root, progress=maps_progress
    )
    maps_seconds = time.perf_counter() - started
    usable = np.setdiff1d(np.arange(len(paths)), list(found.failed))
    if not len(usable):
        raise DataError("no pool frame could be read: nothing to adapt to")
    shots = group_index(list(groups))[usable]
    net = create_model(model, num_classes=1, pretrained=True)
    _, top = split(net)
    report = adapt_top(top, np.asarray(found.features[usable]), shots, settings, progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    (out / INFO).unlink(missing_ok=True)  # unfinished until the new one is written
    save_weights(out, net.backbone)
    info = {
        "version": VERSION,
        "model": model,
        "image_size": list(image_size),
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": device_name(),
        "frames": int(len(usable)),
        "unreadable": len(found.failed),
        "shots": report.shots,
        "maps_computed": found.computed,
        "maps_seconds": round(maps_seconds, 1),
        "steps": report.steps,
        "maps_seen": report.maps_seen,
        "train_seconds": report.seconds,
        "loss": {"first": report.first_loss, "last": report.last_loss},
        "settings": settings.as_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(out / INFO, info)
    return info


def adapt_project(project: Path, *, settings: AdaptSettings = DEFAULT, **options) -> dict:
    """`adapt_pool` over a labelling project's pool: its frames, grouped by pool.csv's shots (a
    still image is a shot of its own), the maps cached in PROJECT/features, the backbone
    written to PROJECT/adapted."""
    from toontag.labelling.project import Project
    from toontag.labelling.session import FEATURES_FOLDER

    opened = Project.open(project)
    frames = opened.read_pool()
    if not frames:
        raise ProjectError(opened.root, "has no pool frames yet: add a video with toontag frames")
    shots = pool_shots(opened.pool_path)
    groups = [shots.get(f.path, f.path) for f in frames]
    return adapt_pool(
        [opened.root / f.path for f in frames],
        groups,
        cache=opened.root / FEATURES_FOLDER,
        out=opened.root / FOLDER,
        root=opened.root,
        settings=settings,
        **options,
    )
