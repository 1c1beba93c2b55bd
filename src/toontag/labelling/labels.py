"""A project's labels: PROJECT/labels.csv (one row per labelled frame) and PROJECT/classes.txt.

    labels.csv   path,labels,audit,revision,updated,unknown
                 path: the frame, relative to the project (pool.csv's path)
                 labels: its characters joined by ';' (empty: a frame with no character)
                 audit: 1 for a frame the server offered as an audit frame (audit.csv, its
                 record: audit_record.py), never fitted on; written from that record alone
                 revision: the store's counter when the answer was saved; a later answer to the
                 same frame always has a higher one
                 updated: when (UTC, ISO 8601)
                 unknown: characters added after this answer, joined by ';': nobody looked
                 for them in this frame, so they are neither present nor absent (training
                 masks them out) until the frame is answered again
    classes.txt  the characters, one a line, in the order they were named

labels.csv stays the manifest `train` and `evaluate` read (they ignore the extra columns), and
a labels.csv of `path,labels` alone reads as answers with revision 0. Columns of its own a user
added (``notes``) are kept, after the store's; a ``split`` column, a row with more fields than
the header, and a frame answered on two rows are refused, one line before anything is written.
Every answer rewrites the file whole through an atomic rename, synced to the disk (the file and
its folder) before it is acknowledged: a killed server or a power cut loses nothing it has
acknowledged, and at 10,000 rows a rewrite takes a few milliseconds (an append-only journal
would save little and need a compaction step). Undo restores a frame's previous answer, kept in
memory: one history per frame, each answer with the tab that gave it, so a tab undoes its own
answers only (another tab's later answer stays, and the undo says so).

Whether an answer is an audit answer is the audit record's word, never the page's: an answer
to a recorded frame is one, whoever sent it and however often. A labels.csv whose `audit`
column came from the page (toontag before the record) keeps those frames as audit frames: they
join the record when the store opens, and `adopted` counts them so that the server says so once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from toontag.data.dataset import split_names
from toontag.data.names import NAME, NAME_RULE, NO_CHARACTER
from toontag.errors import FileError, ProjectError
from toontag.io import csv_text, read_csv, read_text, write_text
from toontag.labelling.audit_record import AuditRecord
from toontag.labelling.project import LABELS, Project

log = logging.getLogger(__name__)
CLASSES = "classes.txt"
COLUMNS = ("path", "labels", "audit", "revision", "updated", "unknown")


class LabelError(ValueError):
    """An answer or a class name that cannot be taken: the message says why, with no path."""


class NameTaken(LabelError):
    """A new character's name that is taken: by a character (case aside) or by "none"."""


class NoHistory(LabelError):
    """An undo of a frame that has no earlier answer from this server."""


class NotYours(NoHistory):
    """A tab's undo of a frame another tab answered after it: that later answer stays."""


@dataclass(frozen=True)
class Answer:
    path: str
    labels: tuple[str, ...]  # in class order; () is "none"
    audit: bool  # offered as an audit frame (the audit record): never fitted on
    revision: int
    updated: str
    unknown: tuple[str, ...] = ()  # characters added after this answer: not looked for

    def row(self) -> list:
        return [
            self.path,
            ";".join(self.labels),
            int(self.audit),
            self.revision,
            self.updated,
            ";".join(self.unknown),
        ]

    def also_unknown(self, name: str) -> Answer:
        """This answer given before `name` was a character: nobody looked for it here."""
        return replace(self, unknown=(*self.unknown, name))


@dataclass(frozen=True)
class Saved:
    answer: Answer
    replaced_newer: bool  # another answer was saved after the one the page saw: this one won


@dataclass(frozen=True)
class Undone:
    answer: Answer | None  # the frame's answer now (None: unlabelled again)
    other_tab: bool  # the answer taken back was a tab's, and the undo named none


class LabelStore:
    """The answers and classes of a project, each change on disk before it is acknowledged.
    Thread-safe; one store per project at a time (the caller holds the project's lock)."""

    def __init__(self, project: Project):
        self.project = project
        self.labels_path = project.root / LABELS
        self.classes_path = project.root / CLASSES
        self._mutex = threading.Lock()
        self.classes: tuple[str, ...] = self._read_classes()
        self.kept_columns: tuple[str, ...] = ()  # a user's own columns of labels.csv, ...
        self._kept: dict[str, tuple[str, ...]] = {}  # ... and each frame's values in them
        self.audits = AuditRecord(project.root)
        self.answers: dict[str, Answer] = self._read_answers()
        self.adopted = self._adopt_audits()
        self.revision = max((a.revision for a in self.answers.values()), default=0)
        # Per frame: each answer it had before, with the tab whose answer replaced it.
        self._history: dict[str, list[tuple[Answer | None, str | None]]] = {}

    # Reading

    def _read_classes(self) -> tuple[str, ...]:
        if not self.classes_path.exists():
            return ()
        try:
            lines = read_text(self.classes_path, encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ProjectError(self.classes_path, f"cannot read it ({e})") from None
        return tuple(dict.fromkeys(line.strip() for line in lines if line.strip()))

    def _read_answers(self) -> dict[str, Answer]:
        if not self.labels_path.exists():
            return {}
        try:
            rows = read_csv(self.labels_path, columns=("path", "labels"))
        except FileError as e:
            raise ProjectError(self.labels_path, e.reason) from None
        header = rows[0] if rows else ()  # None: csv's key for fields past the header's
        self.kept_columns = tuple(c for c in header if c is not None and c not in COLUMNS)
        if any(c.strip().lower() == "split" for c in self.kept_columns):
            raise ProjectError(
                self.labels_path,
                "has a split column, which would leave every frame answered from now on out of "
                "training (a project's test split is its audit column); remove the column",
            )
        answers, lines = {}, {}
        known = {c.casefold(): c for c in self.classes}
        for line, row in enumerate(rows, start=2):
            path = (row.get("path") or "").strip()
            if not path:
                raise ProjectError(self.labels_path, f"line {line}: the row names no frame")
            if None in row:
                raise ProjectError(self.labels_path, f"line {line}: more fields than the header")
            if path in lines:
                raise ProjectError(
                    self.labels_path,
                    f"lines {lines[path]} and {line} both answer {path}; delete one of them",
                )
            lines[path] = line
            self._kept[path] = tuple(row.get(c) or "" for c in self.kept_columns)
            names, unsure = split_names(row.get("labels")), split_names(row.get("unknown"))
            for name in (*names, *unsure):  # a class only in labels.csv (classes.txt lost) is kept
                known.setdefault(name.casefold(), name)
            revision = (row.get("revision") or "0").strip()
            if not (revision.isascii() and revision.isdigit()):
                raise ProjectError(
                    self.labels_path, f"line {line}: revision {revision!r} is not a whole number"
                )
            answers[path] = Answer(
                path,
                tuple(known[n.casefold()] for n in names),
                (row.get("audit") or "").strip() == "1" or path in self.audits,
                int(revision),
                (row.get("updated") or "").strip(),
                tuple(known[n.casefold()] for n in unsure),
            )
        extra = tuple(n for n in known.values() if n not in self.classes)
        self.classes += extra
        return answers

    def _adopt_audits(self) -> int:
        """Frames labels.csv marks audit that the record lacks (the page's word, before the
        record existed): recorded now, kept out of every fit; how many, said once."""
        adopted = self.audits.add(p for p, a in self.answers.items() if a.audit)
        if adopted:
            log.warning(
                "%s: %d frames marked audit by the labelling page of an earlier toontag are "
                "kept as audit frames (never fitted on) and now in %s",
                self.labels_path,
                len(adopted),
                self.audits.path.name,
            )
        return len(adopted)

    # Writing

    def offer_audit(self, paths) -> list[str]:
        """Record `paths` as audit frames before they are shown, those answered meanwhile left
        out: the ones recorded now."""
        with self._mutex:
            return self.audits.add(p for p in paths if p not in self.answers)

    def answer(
        self, path: str, labels, *, seen: int, tab: str | None = None, offered=None
    ) -> Saved:
        """Save `labels` (class names; none for a frame without a character) as `path`'s
        answer, an audit answer when the record says so. `seen`: the revision the labeller was
        shown (0 when unlabelled); a newer one stored means another tab answered meanwhile:
        this later answer wins and says so. `tab`: the page's id for itself, which its undo
        names. `offered`: the characters the page showed with the frame (None: every one);
        one added since (by another tab) stays unknown for this frame."""
        with self._mutex:
            chosen = self._checked(labels)
            unknown = () if offered is None else self._not_offered(offered, chosen)
            before = self.answers.get(path)
            self.revision += 1
            now = datetime.now(UTC).isoformat(timespec="seconds")
            answer = Answer(path, chosen, path in self.audits, self.revision, now, unknown)
            self._commit({**self.answers, path: answer})
            self._history.setdefault(path, []).append((before, tab))
            return Saved(answer, before is not None and before.revision > seen)

    def undo(self, path: str, *, tab: str | None = None) -> Undone:
        """Restore `path`'s answer before its last one (None: it is unlabelled again). With a
        `tab`, only that tab's own last answer is taken back: a later one from another tab
        stays (`NotYours`); without one, the undo says whether the answer was a tab's."""
        with self._mutex:
            history = self._history.get(path)
            if not history:
                raise NoHistory("this frame has no earlier answer to go back to")
            previous, by = history[-1]
            if tab is not None and by != tab:
                raise NotYours(
                    "this frame's last answer came from another tab and stays (undo it there, "
                    "or answer the frame again here)"
                )
            answers = dict(self.answers)
            if previous is None:
                answers.pop(path, None)
            else:
                self.revision += 1
                previous = replace(previous, revision=self.revision, audit=path in self.audits)
                answers[path] = previous
            self._commit(answers)
            history.pop()
            return Undone(previous, tab is None and by is not None)

    def add_class(self, name: str) -> tuple[str, ...]:
        """Append a character to classes.txt; every answer so far, and every earlier answer an
        undo may restore, gets it as unknown (labels.csv written first: it alone names the
        character, should the server die in between). A failure changes nothing."""
        with self._mutex:
            name = check_name(name, self.classes)
            classes = (*self.classes, name)
            answers = {path: a.also_unknown(name) for path, a in self.answers.items()}
            self._write(answers)
            try:
                write_text(self.classes_path, "".join(f"{c}\n" for c in classes), durable=True)
            except FileError as e:
                with contextlib.suppress(ProjectError):
                    self._write(self.answers)  # labels.csv as it was
                raise ProjectError(self.classes_path, e.reason) from None
            self.answers, self.classes = answers, classes
            for history in self._history.values():
                history[:] = [
                    (None if a is None else a.also_unknown(name), by) for a, by in history
                ]
            return classes

    def _known(self, names) -> list[str]:
        names = list(names)
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise LabelError(f"unknown character {unknown[0][:60]!r}: add it first")
        return names

    def _checked(self, labels) -> tuple[str, ...]:
        names = self._known(labels)
        if len(set(names)) != len(names):
            raise LabelError("a character is named twice")
        return tuple(c for c in self.classes if c in names)

    def _not_offered(self, offered, chosen: tuple[str, ...]) -> tuple[str, ...]:
        """The characters that the page did not show (`offered`), and the answer cannot have
        looked for: in class order."""
        shown = {*self._known(offered), *chosen}
        return tuple(c for c in self.classes if c not in shown)

    def _commit(self, answers: dict[str, Answer]) -> None:
        self._write(answers)
        self.answers = answers

    def _write(self, answers: dict[str, Answer]) -> None:
        blank = ("",) * len(self.kept_columns)
        rows = ([*a.row(), *self._kept.get(a.path, blank)] for a in answers.values())
        try:
            text = csv_text((*COLUMNS, *self.kept_columns), rows)
            write_text(self.labels_path, text, durable=True)  # acknowledged: past a power cut
        except FileError as e:
            raise ProjectError(self.labels_path, e.reason) from None

    # Summaries

    def counts(self) -> dict[str, int]:
        """Labelled frames per character (and "none" for frames without one)."""
        counts = dict.fromkeys((*self.classes, "none"), 0)
        for answer in self.answers.values():
            for name in answer.labels or ("none",):
                counts[name] += 1
        return counts


def check_name(name: str, classes=()) -> str:
    """`name` stripped, if it can name a character (the one rule, data/names.py), else a
    LabelError; a `NameTaken` if it is one of `classes` (case aside) or "none"."""
    name = name.strip()
    if not NAME.fullmatch(name):
        raise LabelError(f"a character's name is {NAME_RULE}")
    taken = {c.casefold() for c in classes} | {NO_CHARACTER}
    if name.casefold() in taken:
        raise NameTaken(
            f"{name!r} is already a character"
            if name.casefold() != NO_CHARACTER
            else f"{NO_CHARACTER!r} is the answer for a frame without a character"
        )
    return name
