"""The model learning beside the labeller, in one background thread.

The pool's backbone features are computed on first need (features.py, cached on disk), by the
project's show-adapted backbone where `toontag label adapt` made one (adapted.py). After
every `REFIT_EVERY` answers the head is refitted on the answers that are not audit answers
(head.py; which are is the label store's audit record) and the whole pool scored; once there are
`AUDIT_MIN` audit answers the head is also scored on them, the unbiased estimate, with an
interval that resamples whole shots. A failure is logged and shown as `error`; the labelling
goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from toontag.labelling.adapted import FOLDER as ADAPTED
from toontag.labelling.adapted import adapted_weights
from toontag.labelling.head import audit_score, fit_head
from toontag.labelling.labels import LabelStore
from toontag.labelling.queue import embed

log = logging.getLogger(__name__)
REFIT_EVERY = 5  # answers between refits: a refit takes about a second, a label a few
AUDIT_MIN = 5  # audit answers before their estimate replaces the out-of-fold one


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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

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
        if self._thread is not None:
            self._thread.join(30)

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

        def progress(done: int, total: int) -> None:
            self.progress = {"done": done, "total": total}

        weights = adapted_weights(self.root / ADAPTED)
        found = pool_features(
            self.paths, self.cache, root=self.root, weights=weights, progress=progress
        )
        self.backbone = "ImageNet" if weights is None else "adapted to this show"
        self.embedding = embed(found.features, seed=self.seed)  # coverage's, once per pool
        self.features = found.features
        self.progress = {"done": len(self.paths), "total": len(self.paths)}

    def _refit(self) -> None:
        classes = self.store.classes
        answers = [a for a in self.store.answers.values() if a.path in self.row_of]
        fitted = [a for a in answers if not a.audit]
        if not classes or len(fitted) < 2 or self.features is None:
            return
        self.fitting, self.answered = True, 0
        try:
            head = fit_head(self.features, **self.labelled(fitted, classes))
            probabilities = head.probabilities(self.features)
            audits = [a for a in answers if a.audit]
            estimate = None
            if len(audits) >= AUDIT_MIN:
                estimate = audit_score(head, self.features, **self.labelled(audits, classes))
            self.head = (head, probabilities, classes, estimate)
            self.version += 1
        finally:
            self.fitting = False

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
