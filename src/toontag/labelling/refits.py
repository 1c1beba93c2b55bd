"""Features that follow the labels: the backbone's top refitted on the answers at milestones,
in the background, and adopted only when the blind audit finds it no worse.

    PROJECT/refits/0050/model.safetensors   the tuned backbone (timm's keys)
    PROJECT/refits/0050/features.npy        the pool's features through it (float16, pool order)
    PROJECT/refits/0050/refit.json          how it was made; written last: the refit is finished
    PROJECT/refits/0050/decision.json       its audit score beside the live model's, adopted or not

At each milestone of training answers (not audit answers: 50, 100, 200, 400, then each
doubling) a thread fine-tunes the top of the project's backbone (the show-adapted one where
`toontag label adapt` made it, else ImageNet's; always that one, never the last refit, so an
unlucky refit is not built upon) on the answered frames' cached maps (`training/tune.py`), and
computes the pool's features from the maps through the new top. The learner then fits the
head on them and on the live features alike, on the same answers, and scores both on the same
audit answers: the refit is adopted when its audit micro-F1 is at least the live model's.
Until there are `audit_min` audit answers a finished refit waits undecided: the out-of-fold
figure cannot judge it, since the top was tuned on those very answers.

Every file is written whole under a temporary name and renamed, and refit.json and
decision.json last, so a server killed at any moment (kill -9) loses nothing decided: the
adopted refit is the latest whose decision.json says so (one file per decision, so no pointer
can disagree with it), a finished refit without a decision is decided on restart, and an
unfinished milestone is started again.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from toontag.io import write_json, write_npy
from toontag.labelling.features import frame_key, pool_features, pool_maps
from toontag.labelling.head import Estimate, Head, audit_score, fit_head
from toontag.runs import WEIGHTS, save_weights
from toontag.training.tune import TuneSettings, tune_top

FOLDER = "refits"  # PROJECT/refits
INFO = "refit.json"
DECISION = "decision.json"
FEATURES = "features.npy"
VERSION = 1  # refit.json's format
MILESTONES = (50, 100, 200, 400)  # training answers; after the last, each doubling


@dataclass(frozen=True)
class RefitSettings:
    milestones: tuple[int, ...] = MILESTONES  # () turns the refits off
    tune: TuneSettings = field(default_factory=TuneSettings)
    model: str = "efficientnet_lite0"  # the label page's backbone and input size
    image_size: tuple[int, int] = (112, 192)


def schedule(milestones: tuple[int, ...]) -> Iterator[int]:
    """The milestones, then the last one doubled again and again."""
    yield from milestones
    last = milestones[-1] if milestones else 0
    while last > 0:
        last *= 2
        yield last


def milestone_at(count: int, milestones: tuple[int, ...]) -> int | None:
    """The latest milestone `count` training answers have reached (None before the first)."""
    reached = None
    for m in schedule(milestones):
        if m > count:
            break
        reached = m
    return reached


def next_milestone(count: int, milestones: tuple[int, ...]) -> int | None:
    """The first milestone after `count` answers (None when the refits are off)."""
    return next((m for m in schedule(milestones) if m > count), None)


@dataclass(frozen=True)
class Refit:
    """A finished refit in its folder: `info` its refit.json, `decision` its decision.json."""

    folder: Path
    answers: int  # the milestone: training answers it was tuned on
    info: dict
    decision: dict | None

    @property
    def weights(self) -> Path:
        return self.folder / WEIGHTS

    @property
    def name(self) -> str:
        return f"refit at {self.answers} answers"

    @property
    def adopted(self) -> bool:
        return bool(self.decision and self.decision["adopted"])


def read_refits(root: Path) -> list[Refit]:
    """A project's finished refits, by milestone (folders without refit.json are unfinished)."""
    found = []
    for folder in sorted((Path(root) / FOLDER).glob("[0-9]" * 4 + "*")):
        try:
            info = _read(folder / INFO)
            decision = _read(folder / DECISION) if (folder / DECISION).is_file() else None
        except (OSError, ValueError):
            continue
        if (folder / WEIGHTS).is_file() and (folder / FEATURES).is_file():
            found.append(Refit(folder, int(info["answers"]), info, decision))
    return sorted(found, key=lambda r: r.answers)


def adopted_refit(refits: list[Refit]) -> Refit | None:
    """The latest adopted refit of `refits` (`read_refits`), the live one after a restart."""
    return next((r for r in reversed(refits) if r.adopted), None)


def waiting_refit(refits: list[Refit]) -> Refit | None:
    """The latest finished refit still undecided, when no decided one is newer."""
    latest = refits[-1] if refits else None
    return latest if latest is not None and latest.decision is None else None


def pool_key(paths: list[Path], root: Path | None) -> str:
    """Names the pool's frames in order: a refit's features fit the pool that has this key."""
    keys = "\n".join(frame_key(Path(p), root) for p in paths)
    return hashlib.sha256(keys.encode()).hexdigest()[:20]


def refit_folder(root: Path, milestone: int) -> Path:
    """Where a project's refit at `milestone` training answers lives."""
    return Path(root) / FOLDER / f"{milestone:04d}"


def make_refit(
    *,
    paths: list[Path],
    out: Path,
    cache: Path,
    root: Path | None = None,
    rows: np.ndarray,
    targets: np.ndarray,
    known: np.ndarray,
    classes: tuple[str, ...],
    milestone: int,
    base: Path | None,
    settings: RefitSettings,
    stop: Callable[[], bool] | None = None,
) -> Refit | None:
    """Tune the top of the backbone `base` (None: ImageNet's) on the pool rows `rows` (their
    `targets` and `known` entries over `classes`: the training answers when `milestone` was
    reached) and write the refit into the folder `out` (`refit_folder`); None when `stop()`
    ended it (nothing is written). The pool's maps are cached in `cache` (computed on the first
    refit unless `toontag label adapt` did); `root` as in `pool_features`."""
    from toontag.models.registry import create_model
    from toontag.models.stages import split, top_features

    started = time.perf_counter()
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)  # an unfinished one: a finished one is never redone
    found = pool_maps(paths, cache, model=settings.model, image_size=settings.image_size, root=root)
    maps_seconds = time.perf_counter() - started
    net = create_model(settings.model, num_classes=1, pretrained=True, weights=base)
    _, top = split(net)
    picked = np.asarray(found.features[np.asarray(rows, dtype=np.int64)])
    report = tune_top(top, picked, targets, known, settings.tune, stop=stop)
    if report.stopped == "asked":
        return None
    tuned = time.perf_counter()
    features = top_features(top, found.features[:, 0]).astype(np.float16)
    features[list(found.failed)] = 0.0  # as `pool_features` leaves an unreadable frame
    out.mkdir(parents=True)
    save_weights(out, net.backbone)
    write_npy(out / FEATURES, features)
    info = {
        "version": VERSION,
        "answers": milestone,
        "trained_on": len(rows),
        "classes": list(classes),
        "base": "adapted" if base is not None else "ImageNet",
        "model": settings.model,
        "image_size": list(settings.image_size),
        "pool": pool_key(paths, root),
        "frames": len(paths),
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "maps_computed": found.computed,
        "maps_seconds": round(maps_seconds, 1),
        "tune": asdict(report),
        "features_seconds": round(time.perf_counter() - tuned, 1),
        "settings": settings.tune.as_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(out / INFO, info)
    return Refit(out, milestone, info, None)


def refit_features(
    refit: Refit,
    paths: list[Path],
    *,
    cache: Path,
    root: Path | None,
    settings: RefitSettings,
) -> np.ndarray:
    """The pool's features through `refit`'s backbone: its features.npy while the pool is the
    one it was made for, else computed from the frames (`pool_features`, cached)."""
    if refit.info.get("pool") == pool_key(paths, root):
        return np.load(refit.folder / FEATURES, mmap_mode="r")
    found = pool_features(
        paths,
        cache,
        model=settings.model,
        image_size=settings.image_size,
        weights=refit.weights,
        root=root,
    )
    return found.features


@dataclass(frozen=True, eq=False)
class Decision:
    adopted: bool  # the refit's audit micro-F1 is at least the live model's
    refit: Estimate  # its head's audit score
    live: Estimate  # the live features' head's, fitted on the same answers
    head: Head  # the refit's head, fitted on the answers


def decide(candidate: np.ndarray, live: np.ndarray, fitted: dict, audits: dict) -> Decision:
    """Fit the head on a refit's features (`candidate`) and on the `live` ones, on the same answers
    (`fitted`: `fit_head`'s rows, targets, known, groups and seed), score both on the same
    audit answers (`audits`, alike): adopt the refit when it is no worse."""
    scores, heads = [], []
    for features in (candidate, live):
        heads.append(fit_head(features, **fitted))
        scores.append(audit_score(heads[-1], features, **audits))
    return Decision(scores[0].f1_micro >= scores[1].f1_micro, scores[0], scores[1], heads[0])


def record_decision(refit: Refit, decision: Decision, *, live: str) -> Refit:
    """Write `refit`'s decision.json (whole, the last of its files) and return it decided."""
    payload = {
        "adopted": decision.adopted,
        "f1": round(decision.refit.f1_micro, 4),
        "ci95_by_sequence": [round(v, 4) for v in decision.refit.ci95 or ()],
        "live": live,
        "live_f1": round(decision.live.f1_micro, 4),
        "audit_answers": decision.refit.frames,
        "decided": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json(refit.folder / DECISION, payload)
    return Refit(refit.folder, refit.answers, refit.info, payload)


class Background:
    """One refit at a time in its own thread: `running` is its milestone while it runs, and
    `done(milestone, refit or None, error or None)` is called when it ends (no refit and no
    error: it was stopped)."""

    def __init__(self, done: Callable[[int, Refit | None, str | None], None]):
        self.done = done
        self.running: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    def start(self, milestone: int, **job) -> None:
        """Run `make_refit(milestone=milestone, **job)` in a thread (not once stopped)."""
        with self._mutex:
            if self._stop.is_set():
                return
            self.running = milestone
            self._thread = threading.Thread(
                target=self._run,
                kwargs={**job, "milestone": milestone},
                daemon=True,
                name=f"toontag-refit-{milestone}",
            )
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the running refit to stop (it writes nothing) and wait for it a while: the
        pool's maps, computed on a first refit, stop at the end of a block (a kill keeps the
        finished blocks)."""
        with self._mutex:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self, **job) -> None:
        refit, error = None, None
        try:
            refit = make_refit(**job, stop=self._stop.is_set)
        except Exception as e:  # noqa: BLE001  (shown on the page; the labelling goes on)
            error = f"{type(e).__name__}: {e}"
        finally:
            self.running = None
            self.done(job["milestone"], refit, error)


def _read(path: Path) -> dict:
    import json

    return json.loads(path.read_text())
