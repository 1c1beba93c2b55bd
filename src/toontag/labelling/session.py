"""The labelling session: a project's pool and answers, the queue of frames to ask about next,
and the model learning from the answers (learner.py).

A session holds its project (the project's lock) from `Session.open` to `close`. The queue
(queue.py) picks each batch from the learner's latest scores. Every `AUDIT_EVERY`th batch is
blind: no frame in it carries a suggestion, and `AUDIT_FRAMES` of its frames are audit frames,
drawn uniformly from the frames nobody has answered or been offered (audit frames offered before
and still unanswered come first). That a blind batch may hold audit frames is known; within it
nothing tells them apart. The server records them before showing them (the label store's audit
record: never the page's word), they are never fitted on, and their answers give the quality
estimate with an interval over whole shots; until there are `AUDIT_MIN` of them the state shows
the head's out-of-fold figure and says it is biased. A refit of the features on the answers
(refits.py) that the audit adopts goes live when the next batch is drawn, never under a batch
on the page. A page is given its tab's batch again until it is answered (`batch`,
outstanding.py): a reload shows the same frames, and two tabs are shown different ones. Frames
are addressed by their row in pool.csv. Nothing here speaks HTTP: the label server
(serve/labelling.py) maps requests to it.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import numpy as np

from toontag.errors import ToontagError
from toontag.labelling.labels import LabelStore, Saved, Undone
from toontag.labelling.learner import AUDIT_MIN, Learner
from toontag.labelling.outstanding import Outstanding
from toontag.labelling.project import Project
from toontag.labelling.queue import POLICIES, next_batch
from toontag.labelling.refits import RefitSettings

AUDIT_EVERY = 4  # every 4th batch is blind and carries audit frames
AUDIT_FRAMES = 2  # random frames in such a batch
BATCH = 6  # frames per batch by default: one screen
FEATURES_FOLDER = "features"  # PROJECT/features: the backbone's cached rows
FRAMES_FOLDER = "frames"  # PROJECT/frames: the pool's pictures, the only ones shown
OUT_OF_FOLD_KIND = "out-of-fold on the chosen labels (biased)"
AUDIT_KIND = "audit sample (unbiased)"
LEGACY_NOTE = (
    "{} frames were marked audit by the labelling page of an earlier toontag: they are kept as "
    "audit frames (never fitted on) and counted in the audit estimate"
)


def check_policy(policy: str) -> None:
    """A queue policy the session knows, else a ToontagError listing them."""
    if policy not in POLICIES:
        raise ToontagError(f"unknown queue policy {policy!r}; choose one of {', '.join(POLICIES)}")


class Session:
    """The project, its answers, the queue, and the model learning from them."""

    def __init__(
        self,
        project: Project,
        *,
        cache: Path,
        policy: str,
        seed: int,
        refits: RefitSettings | None = None,
    ):
        self.project = project
        self.root = project.root
        self.store = LabelStore(project)
        self.pool = project.read_pool()
        self.row_of = {f.path: i for i, f in enumerate(self.pool)}
        self.policy = policy
        self.seed = seed
        keys = [(f.source, f.shot if f.shot is not None else f.path) for f in self.pool]
        self.groups = np.unique(np.array([f"{s}\t{k}" for s, k in keys]), return_inverse=True)[1]
        self.learner = Learner(
            self.store,
            [self.root / f.path for f in self.pool],
            root=self.root,
            row_of=self.row_of,
            groups=self.groups,
            cache=cache,
            seed=seed,
            refits=refits,
        )
        self.batches = 0
        self.offered: set[int] = set()  # rows offered in any batch so far
        self.blind: set[int] = set()  # rows offered in a blind batch: shown without suggestion
        self.served = Outstanding()  # each tab's batch until it is answered
        # The session's own state (batches, offered, blind) changes and is read under it: one
        # batch drawn at a time (two tabs), and no frame read half way through a draw.
        self._lock = threading.RLock()
        self._held = contextlib.ExitStack()  # the project's lock, when opened by `open`

    @classmethod
    def open(
        cls,
        project: Path | str,
        *,
        policy: str = "active",
        cache: Path | None = None,
        seed: int = 0,
        refits: RefitSettings | None = None,
    ) -> Session:
        """The session over `project`, holding its lock until `close` (one session per
        project). `cache`: the features' folder (PROJECT/features); `refits`: when and how the
        backbone is refitted on the answers (refits.py; the defaults when None)."""
        check_policy(policy)
        opened = Project.open(project)
        cache = Path(cache or opened.root / FEATURES_FOLDER)
        with contextlib.ExitStack() as held:  # let go at once if the session cannot be made
            held.enter_context(opened.lock())
            session = cls(opened, cache=cache, policy=policy, seed=seed, refits=refits)
            session._held = held.pop_all()
        return session

    def start(self) -> None:
        """Start the learner (features first); idempotent."""
        self.learner.start()

    def close(self) -> None:
        """Stop the learner and let the project go."""
        self.learner.stop()
        self._held.close()

    # What the page asks for

    def state(self) -> dict:
        """What the page shows beside the frames: characters, counts, the model and its
        quality estimate, the latest answers."""
        learner, fitted = self.learner, self.learner.head
        model = {
            "status": "none yet",
            "fitted_on": 0,
            "version": learner.version,
            "fitting": learner.fitting,
            "features": learner.progress,
            "backbone": learner.backbone,
            "refit": learner.refit_state(),
            "error": learner.error,
            "quality": None,
        }
        if learner.features is None and learner.started and not learner.error:
            model["status"] = "computing features"
        if fitted is not None:
            head, _, classes, audit = fitted
            model |= {
                "status": f"fitted on {head.labelled} labels",
                "fitted_on": head.labelled,
                "classes": list(classes),
                "seconds": round(head.seconds, 3),
            }
            if audit is not None:
                model["quality"] = _quality(audit, AUDIT_KIND)
            elif head.estimate is not None:
                model["quality"] = _quality(head.estimate, OUT_OF_FOLD_KIND)
        answers, adopted = self.store.answers, self.store.adopted
        recent = sorted(answers.values(), key=lambda a: a.revision, reverse=True)[:12]
        return {
            "classes": list(self.store.classes),
            "counts": self.store.counts(),
            "labelled": len(answers),
            "audited": sum(a.audit for a in answers.values()),
            "audit_min": AUDIT_MIN,
            "pool": len(self.pool),
            "policy": self.policy,
            "model": model,
            "recent": [self.frame(self.row_of[a.path]) for a in recent if a.path in self.row_of],
            "note": LEGACY_NOTE.format(adopted) if adopted else None,
        }

    def frame(self, row: int) -> dict:
        """A frame as the page shows it: its answer so far, whether that is an audit answer
        (null while unanswered: nothing in a batch tells its audit frames apart), and the
        model's suggestion, withheld from audit frames and from every frame of a blind batch."""
        path = self.pool[row].path
        answer = self.store.answers.get(path)
        suggestion, fitted = None, self.learner.head
        with self._lock:  # a batch being drawn decides first whether it is blind
            blind = row in self.blind
        if fitted is not None and not blind and path not in self.store.audits:
            head, probabilities, classes, _ = fitted
            p, t = probabilities[row], head.thresholds
            suggestion = {
                c: {"p": round(float(p[k]), 4), "ticked": bool(p[k] >= t[k])}
                for k, c in enumerate(classes)
            }
        return {
            "id": row,
            "audit": None if answer is None else answer.audit,
            "labels": None if answer is None else list(answer.labels),
            "revision": 0 if answer is None else answer.revision,
            "suggestion": suggestion,
        }

    def batch(self, size: int, policy: str, *, tab: str | None = None) -> list[dict]:
        """What the page of `tab` asks about: its last batch's unanswered frames while it has
        any (size and policy as they were then), else a new batch (`next_frames`) drawn around
        the frames other tabs show unanswered (outstanding.py)."""
        with self._lock:
            answered = self._rows(self.store.answers)
            rows = self.served.waiting(tab, answered)
            if not rows:
                avoid = self.served.others(tab, answered)
                rows = [f["id"] for f in self.next_frames(size, policy, avoid=avoid)]
                self.served.keep(tab, rows)
            return [self.frame(r) for r in rows]

    def next_frames(self, size: int, policy: str, *, avoid=()) -> list[dict]:
        """The next `size` unlabelled frames to ask about, picked by the queue's `policy`; every
        `AUDIT_EVERY`th batch (or when only audit frames are left) a blind one with
        `AUDIT_FRAMES` audit frames among them. The queue leaves out the rows `avoid` (those
        on another tab's page) unless nothing else is left. Between two batches, and only
        there, an adopted refit of the features becomes live (`Learner.switch`)."""
        with self._lock:
            self.learner.switch()
            answered = self._rows(self.store.answers)
            recorded = self._rows(self.store.audits.offered)
            if answered.all():
                return []
            self.batches += 1
            rng = np.random.default_rng(self.seed + self.batches)
            free = ~answered & ~recorded
            audit: list[int] = []
            if self.batches % AUDIT_EVERY == 0 or not free.any():
                count = AUDIT_FRAMES if free.any() else size
                audit = self._audit_rows(np.flatnonzero(recorded & ~answered), free, count, rng)
            taken = ~free
            taken[audit] = True
            elsewhere = taken.copy()
            elsewhere[list(avoid)] = True
            taken = taken if elsewhere.all() else elsewhere
            rows: list[int] = []
            if size > len(audit) and not taken.all():
                rows = [int(r) for r in self._queue(taken, size - len(audit), policy, rng)]
            chosen = rows + audit
            self.offered.update(chosen)
            if audit:
                self.blind.update(chosen)
            return [self.frame(r) for r in sorted(chosen, key=lambda r: rng.random())]

    def _rows(self, paths) -> np.ndarray:
        """The mask of the pool rows of `paths` (those in the pool)."""
        mask = np.zeros(len(self.pool), bool)
        mask[[self.row_of[p] for p in paths if p in self.row_of]] = True
        return mask

    def _audit_rows(self, waiting: np.ndarray, free: np.ndarray, count: int, rng) -> list[int]:
        """`count` audit rows, recorded before they are shown: those offered as audit and still
        unanswered first, then fresh ones drawn uniformly from the `free` rows not offered yet
        (so that none is a frame another tab shows with a suggestion), else from any free row."""
        unseen = free.copy()
        unseen[list(self.offered)] = False
        fresh = np.flatnonzero(unseen if unseen.any() else free)
        fresh = rng.choice(fresh, min(max(count - len(waiting), 0), len(fresh)), replace=False)
        drawn = [self.pool[int(r)].path for r in fresh]
        recorded = set(self.store.offer_audit(drawn))  # those answered meanwhile drop out
        return [int(r) for r in waiting[:count]] + [self.row_of[p] for p in drawn if p in recorded]

    def _queue(self, labelled: np.ndarray, size: int, policy: str, rng) -> np.ndarray:
        learner = self.learner
        learner.start()
        if learner.features is None:  # the features are being computed: any frames will do
            open_rows = np.flatnonzero(~labelled)
            return rng.choice(open_rows, min(size, len(open_rows)), replace=False)
        probabilities, thresholds, fitted = None, (), learner.head
        if fitted is not None:
            head, probabilities, _, _ = fitted
            thresholds = head.thresholds
        return next_batch(
            learner.features,
            probabilities,
            thresholds,
            labelled,
            size=size,
            policy=policy,
            groups=self.groups,
            seed=self.seed + self.batches,
            embedding=learner.embedding,
        )

    def image(self, row: int) -> Path | None:
        """The frame's picture, or None when it is missing or lies outside PROJECT/frames."""
        file = (self.root / self.pool[row].path).resolve()
        frames = (self.root / FRAMES_FOLDER).resolve()
        return file if file.is_relative_to(frames) and file.is_file() else None

    # What the labeller does

    def answer(self, row: int, labels, *, seen: int, tab: str | None = None, offered=None) -> Saved:
        """Save the frame's characters (LabelStore.answer: an audit answer when the frame was
        offered as one; `offered`: the characters the page showed, None for all), counted
        towards the next refit."""
        saved = self.store.answer(self.pool[row].path, labels, seen=seen, tab=tab, offered=offered)
        self.learner.counted()
        return saved

    def undo(self, row: int, *, tab: str | None = None) -> Undone:
        """Take back the tab's last answer to the frame (LabelStore.undo)."""
        return self.store.undo(self.pool[row].path, tab=tab)

    def add_class(self, name: str) -> tuple[str, ...]:
        """Add a character (LabelStore.add_class) and refit with it soon."""
        classes = self.store.add_class(name)
        self.learner.refit_soon()
        return classes


def _quality(estimate, kind: str) -> dict:
    """The estimate as the page shows it; an audit one with its answers and its 95% interval
    by sequence, the unit a pool's shot (whole shots resampled: a still image is its own)."""
    quality = {
        "f1": round(estimate.f1_micro, 4),
        "precision": round(estimate.precision, 4),
        "recall": round(estimate.recall, 4),
        "entries": estimate.entries,
        "kind": kind,
        "source": estimate.source,
        "answers": None,
        "ci95_by_sequence": None,
        "sequences": None,
        "unit": None,
    }
    if estimate.ci95 is not None:
        quality |= {
            "answers": estimate.frames,
            "ci95_by_sequence": [round(v, 4) for v in estimate.ci95],
            "sequences": estimate.groups,
            "unit": "shot",
        }
    return quality
