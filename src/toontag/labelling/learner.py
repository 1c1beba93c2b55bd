"""The model learning beside the labeller, in one background thread.

The pool's backbone features are computed on first need (features.py, cached on disk), by the
project's show-adapted backbone where `toontag label adapt` made one (adapted.py), or taken
from its adopted refit (refits.py). After every `REFIT_EVERY` answers the head is refitted on
the answers that are not audit answers (head.py; which are is the label store's audit record)
and the whole pool scored; once there are `AUDIT_MIN` audit answers the head is also scored on
them, the unbiased estimate, with an interval that resamples whole shots. A failure is logged
and shown as `error`; the labelling goes on.

At each milestone of training answers a second thread refits the backbone's top on them
(refits.py); the learner's thread decides a finished refit once there are `AUDIT_MIN` audit
answers, and an adopted one waits in `pending` until the session calls `switch` between two
batches, so that the features never change under a batch on the page.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from toontag.labelling.adapted import FOLDER as ADAPTED
from toontag.labelling.adapted import adapted_weights
from toontag.labelling.head import audit_score, fit_head
from toontag.labelling.labels import LabelStore
from toontag.labelling.queue import embed
from toontag.labelling.refits import (
    Background,
    Refit,
    RefitSettings,
    adopted_refit,
    decide,
    milestone_at,
    next_milestone,
    read_refits,
    record_decision,
    refit_features,
    refit_folder,
    waiting_refit,
)
from toontag.progress import reporting

log = logging.getLogger(__name__)
REFIT_EVERY = 5  # answers between refits: a refit takes about a second, a label a few
AUDIT_MIN = 5  # audit answers before their estimate replaces the out-of-fold one


class Live(NamedTuple):
    """The features the page's suggestions come from, and the head fitted on them."""

    features: np.ndarray
    embedding: np.ndarray
    head: tuple | None
    backbone: str  # "ImageNet", "adapted to this show" or "refit at N answers"
    refit: Refit | None  # the adopted refit they come from


class Learner:
    """The features of a pool and the head fitted to its answers, kept up to date.

    `head` is the latest fit: (head, probabilities of every pool frame, the classes it was
    fitted on, its audit estimate or None); `version` counts the fits."""

    def __init__(
        self,
        store: LabelStore,
        paths: list[Path],
        *,
        root: Path,
        row_of: dict[str, int],
        groups: np.ndarray,
        cache: Path,
        seed: int,
        refits: RefitSettings | None = None,
    ):
        self.store = store
        self.paths = paths  # the pool's pictures, in pool order
        self.root = root
        self.row_of = row_of  # a pool path's row
        self.groups = groups  # a row's shot (or frame): the head's folds never split one
        self.cache = cache
        self.seed = seed
        self.features: np.ndarray | None = None
        self.embedding: np.ndarray | None = None  # coverage's PCA projection of the features
        self.progress = {"done": 0, "total": 0}
        self.error: str | None = None
        self.head = None
        self.fitting = False
        self.backbone = "ImageNet"  # or "adapted to this show" (`toontag label adapt`)
        self.answered = 0  # answers since the last refit started
        self.version = 0  # bumped by every refit: the page refreshes its suggestions
        self.settings = refits or RefitSettings()
        self.refits: list[Refit] = []  # the project's finished refits, by milestone
        self.live_refit: Refit | None = None  # the adopted refit the features come from
        self.waiting: Refit | None = None  # finished, waiting for its decision
        self.pending: Live | None = None  # adopted, live from the next batch
        self.refit_error: str | None = None
        self.background = Background(self._refit_done)
        self._failed: set[int] = set()  # milestones whose refit failed: not retried
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self._swap = threading.Lock()  # the live features and head change together
        self._books = threading.Lock()  # `refits` and `waiting`, kept by two threads

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the learner (features first); idempotent."""
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._learn, daemon=True, name="toontag-learner"
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.background.stop()
        if self._thread is not None:
            self._thread.join(30)

    def switch(self) -> bool:
        """Make an adopted refit's features and head live, if there is one (the session calls
        this between batches); the head is then refitted on the answers given since."""
        with self._swap:
            pending, self.pending = self.pending, None
            if pending is None:
                return False
            self.features, self.embedding, self.head, self.backbone, self.live_refit = pending
            self.version += 1
        self._wake.set()
        return True

    def refit_soon(self) -> None:
        self.start()
        self._wake.set()

    def counted(self) -> None:
        """One more answer: refit once `REFIT_EVERY` have come since the last (two for the
        first fit)."""
        self.answered += 1
        if self.answered >= REFIT_EVERY or (self.head is None and self.answered >= 2):
            self.refit_soon()

    def _learn(self) -> None:
        try:
            self._compute_features()
        except Exception as e:  # noqa: BLE001  (shown on the page; the labelling goes on)
            log.error("features: %s", e)
            self.error = "the model is off: the frames' features could not be computed"
            return
        self._wake.set()  # labels given while the features were computed
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._refit()
            except Exception as e:  # noqa: BLE001
                log.exception("refit: %s", e)
                self.error = "the last refit failed; the server's log says why"

    def _compute_features(self) -> None:
        from toontag.labelling.features import pool_features

        if not self.paths:
            return

        self.refits = read_refits(self.root)
        self.waiting = waiting_refit(self.refits)
        adopted = adopted_refit(self.refits)
        if adopted is not None:
            features = refit_features(
                adopted, self.paths, cache=self.cache, root=self.root, settings=self.settings
            )
            self.backbone, self.live_refit = adopted.name, adopted
        else:
            weights = adapted_weights(self.root / ADAPTED)
            with reporting(f"features of the pool's {len(self.paths):,} frames") as shown:

                def progress(done: int, total: int) -> None:
                    self.progress = {"done": done, "total": total}  # for the page
                    shown(done, total)  # for the server's terminal or log

                features = pool_features(
                    self.paths, self.cache, root=self.root, weights=weights, progress=progress
                ).features
            self.backbone = "ImageNet" if weights is None else "adapted to this show"
        self.embedding = embed(features, seed=self.seed)  # coverage's, once per pool
        self.features = features
        self.progress = {"done": len(self.paths), "total": len(self.paths)}

    def _refit(self) -> None:
        classes = self.store.classes
        answers = [a for a in self.store.answers.values() if a.path in self.row_of]
        fitted = [a for a in answers if not a.audit]
        if not classes or len(fitted) < 2 or self.features is None:
            return
        self.fitting, self.answered = True, 0
        features = self.features
        audits = [a for a in answers if a.audit]
        try:
            head = fit_head(features, **self.labelled(fitted, classes))
            probabilities = head.probabilities(features)
            estimate = None
            if len(audits) >= AUDIT_MIN:
                estimate = audit_score(head, features, **self.labelled(audits, classes))
            with self._swap:
                if self.features is not features:  # switched meanwhile: fit on the new ones
                    self._wake.set()
                else:
                    self.head = (head, probabilities, classes, estimate)
                    self.version += 1
        finally:
            self.fitting = False
        self._milestones(fitted, audits, classes)

    def _milestones(self, fitted, audits, classes) -> None:
        """Decide a finished refit once there are `AUDIT_MIN` audit answers; start the refit
        of the latest milestone reached, unless it is made, running or failed."""
        waiting = self.waiting
        if waiting is not None and len(audits) >= AUDIT_MIN:
            try:
                self._decide(waiting, fitted, audits, classes)
            except Exception as e:  # noqa: BLE001  (the refit is left undecided until a restart)
                log.exception("deciding the refit at %d answers: %s", waiting.answers, e)
                self.refit_error = "a refit could not be decided; the server's log says why"
                with self._books:
                    self.waiting = None if self.waiting is waiting else self.waiting
        due = milestone_at(len(fitted), self.settings.milestones)
        made = {r.answers for r in self.refits} | self._failed
        if due is None or due in made or self.background.running is not None:
            return
        self.background.start(
            due,
            paths=self.paths,
            out=refit_folder(self.root, due),
            root=self.root,
            cache=self.cache,
            **{k: v for k, v in self.labelled(fitted, classes).items() if k in TUNED},
            classes=tuple(classes),
            base=adapted_weights(self.root / ADAPTED),
            settings=self.settings,
        )

    def _refit_done(self, milestone: int, refit: Refit | None, error: str | None) -> None:
        """From the refit's thread: a finished refit waits for its decision."""
        if refit is not None:
            with self._books:
                self.refits = sorted([*self.refits, refit], key=lambda r: r.answers)
                self.waiting = refit
        elif error is not None:
            log.error("refit at %d answers: %s", milestone, error)
            self._failed.add(milestone)
            self.refit_error = "the last refit of the features failed; the server's log says why"
        self._wake.set()

    def _decide(self, waiting: Refit, fitted, audits, classes) -> None:
        """Adopt the `waiting` refit when the audit answers score its head no worse than the
        live features' head (or those of a refit adopted but not live yet), both fitted on the
        same answers; an adopted one waits in `pending` for the next batch."""
        live = self.pending or Live(self.features, self.embedding, None, self.backbone, None)
        features = refit_features(
            waiting, self.paths, cache=self.cache, root=self.root, settings=self.settings
        )
        decision = decide(
            features, live.features, self.labelled(fitted, classes), self.labelled(audits, classes)
        )
        pending = None
        if decision.adopted:
            head = decision.head
            fit = (head, head.probabilities(features), classes, decision.refit)
            embedding = embed(features, seed=self.seed)
            pending = Live(features, embedding, fit, waiting.name, None)
        refit = record_decision(waiting, decision, live=live.backbone)
        if pending is not None:  # first: whoever sees the decision sees the refit adopted
            self.pending = pending._replace(refit=refit)
        with self._books:  # a newer refit may have finished meanwhile: it waits on
            self.refits = [refit if r.answers == refit.answers else r for r in self.refits]
            self.waiting = None if self.waiting is waiting else self.waiting

    def refit_state(self) -> dict:
        """The refits as the page shows them: which features are live (and the audit scores
        that adopted them), the one running or waiting, the last decision, the next milestone."""
        fitted = sum(not a.audit for p, a in self.store.answers.items() if p in self.row_of)
        last = next((r for r in reversed(self.refits) if r.decision), None)
        live = self.live_refit
        return {
            "live": None if live is None else {"answers": live.answers, **live.decision},
            "running": self.background.running,
            "waiting": None if self.waiting is None else self.waiting.answers,
            "pending": None if self.pending is None else self.pending.backbone,
            "last": None if last is None else {"answers": last.answers, **last.decision},
            "next": next_milestone(fitted, self.settings.milestones),
            "error": self.refit_error,
        }

    def labelled(self, answers, classes) -> dict:
        """`answers` as the head takes them: pool rows, targets, known entries, each row's
        shot (whole shots go to one fold and resample together) and the seed."""
        rows = np.array([self.row_of[a.path] for a in answers])
        return {
            "rows": rows,
            "targets": _targets(answers, classes),
            "known": _known(answers, classes),
            "groups": self.groups[rows],
            "seed": self.seed,
        }


TUNED = ("rows", "targets", "known")  # what a refit takes of `Learner.labelled`


def _targets(answers, classes) -> np.ndarray:
    return np.array([[c in a.labels for c in classes] for a in answers], np.float32)


def _known(answers, classes) -> np.ndarray:
    """False where a character was added after the answer: not looked for, masked out."""
    return np.array([[c not in a.unknown for c in classes] for a in answers], bool)


def wait_for_model(learner: Learner, version: int = 1, timeout: float = 60.0) -> bool:
    """Block until the head has been fitted `version` times (tests, scripts)."""
    deadline = time.monotonic() + timeout
    while learner.version < version and time.monotonic() < deadline:
        time.sleep(0.05)
    return learner.version >= version
