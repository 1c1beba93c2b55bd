"""The frames an enrolment by fine-tuning learns from (`enrol_finetune`): a project's shots and
the shot-mates of its positives, the old frames taken as unlabelled, and every frame's feature
map at the cut, computed once (the answers held out to judge them: enrol_guard.py)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from toontag.data.cache import build_cache
from toontag.data.dataset import PROJECT_POOL
from toontag.data.groups import pool_shots
from toontag.labelling.enrol import BACKGROUND, background_frames, decoded_rows, sample_frames
from toontag.labelling.finetune import sigmoid, top_outputs
from toontag.labelling.project import Project
from toontag.models.inference import default_device, map_batches
from toontag.models.stages import split
from toontag.runs import run_data

MATES = 8  # shot-mates taken at most from each positive's shot, spread evenly over it


@dataclass(frozen=True)
class Asked:
    """What a person said, as resolved paths: the examples, the frames answered yes, and those
    given or answered no."""

    examples: list[Path]
    yes: list[Path]
    no: list[Path]

    @property
    def labelled(self) -> set[Path]:
        return {*self.examples, *self.yes, *self.no}


@dataclass(frozen=True)
class Part:
    """The frames one fine-tune learns from, as rows of the cached maps."""

    positives: np.ndarray
    negatives: np.ndarray
    mates: np.ndarray  # shot-mates of the positives: weak positives
    unlabelled: np.ndarray

    @property
    def rows(self) -> np.ndarray:
        return np.concatenate([self.positives, self.negatives, self.mates, self.unlabelled])


class Cached:
    """Every enrolment frame's map at the cut, the base run's probabilities (the old outputs'
    targets) and pooled features, one row per frame that decoded.

    `blocks` (lists of frames, resolved paths) are computed apart, so that a block's figures
    do not depend on what else is enrolled: the examples-only fine-tune is the same with answers
    or without. A frame of `labelled` that cannot be read is an error, any other is left out."""

    def __init__(self, trained, blocks, labelled: set[Path], cache_root: Path | None):
        begun = time.perf_counter()
        self.trained, self.device = trained, default_device()
        base = trained.model.to(self.device).eval()
        bottom = split(base)[0]
        self.paths, maps, outputs, self.scoring = [], [], [], 0.0
        for block in blocks:
            paths = list(block)
            cache = build_cache(
                paths, size=trained.image_size, root=cache_root, description="enrolment frames"
            )
            decoded_rows(paths, cache.ok, [i for i, p in enumerate(paths) if p in labelled])
            if not len(cache.ok):
                continue
            self.paths += [paths[i] for i in cache.ok]
            maps.append(
                map_batches(bottom, cache.images, cache.ok, device=self.device, description="maps")
            )
            started = time.perf_counter()
            outputs.append(top_outputs(base, maps[-1]))
            self.scoring += time.perf_counter() - started  # a pass over every frame's map
        self.maps = np.concatenate(maps)
        self.teacher = sigmoid(np.concatenate([logits for logits, _ in outputs]))
        self.features = np.concatenate([pooled for _, pooled in outputs])
        self.index = {path: row for row, path in enumerate(self.paths)}
        self.seconds = time.perf_counter() - begun  # decoding, maps and the base's outputs

    def rows(self, frames) -> np.ndarray:
        """The rows of `frames` (resolved paths) that decoded, in their order."""
        return np.array([self.index[f] for f in frames if f in self.index], np.int64)


def project_shots(project: Path) -> dict[Path, str]:
    """A labelling project's video frames (resolved paths) -> their shots, in pool order."""
    pool = Path(project) / PROJECT_POOL
    if not pool.is_file():
        return {}
    return {key(Path(project) / path): shot for path, shot in pool_shots(pool).items()}


def shot_mates(frames, shots: dict[Path, str], *, exclude: set[Path]) -> list[Path]:
    """Up to `MATES` frames of each of `frames`' shots (`shots`: frame -> shot), spread evenly
    over the shot, none of `exclude` (resolved paths), each once."""
    members = defaultdict(list)
    for frame, shot in shots.items():
        members[shot].append(frame)
    found: dict[Path, None] = {}
    for shot in dict.fromkeys(shots[k] for k in map(key, frames) if k in shots):
        free = [f for f in members[shot] if f not in exclude]
        spread = np.linspace(0, len(free) - 1, min(MATES, len(free))).round().astype(int)
        found.update((free[i], None) for i in np.unique(spread))
    return list(found)


def old_frames(run: Path, background, project: Path | None, seed: int) -> list[Path]:
    """The unlabelled candidates: `background` where given, else `BACKGROUND` old frames, half
    of them drawn from the project's pool where there is one (all of them where the run's data
    is gone), the rest from the run's training frames."""
    if background is not None:
        return list(background)
    if project is None:
        return background_frames(run, BACKGROUND, seed)
    pool = [Path(project) / f.path for f in Project.open(project).read_pool()]
    if run_data(run) is None:
        return sample_frames(pool, BACKGROUND, seed)
    from_pool = sample_frames(pool, BACKGROUND // 2, seed)
    return [*from_pool, *background_frames(run, BACKGROUND - len(from_pool), seed)]


def key(path) -> Path:
    """A frame as the enrolment knows it: its resolved path."""
    return Path(path).resolve()
