"""Answers that extend within their shot: weak labels for the frames nobody answered.

The frames of one shot mostly show the same characters, so an answer says something about its
shot-mates too. `propagate` turns a person's training answers into weak labels by these rules:

- A weak row is a row nobody answered, in the shot (`groups`, one id a row; -1: no shot) of at
  least one training answer. A row with no shot, or in an excluded shot, never is one (the
  caller excludes each shot holding a validation, held-out or audit frame, answered or only
  offered: such a shot gives no training frame), and an answered row never is one.
- It takes the answer of the nearest answered frame of its shot in capture order (`times`,
  default the row number; at a tie the earlier frame's). Classes unknown in that answer stay
  unknown in the weak row.
- It is accepted where the current model's decisions on the row equal that answer on every
  class the answer knows, or where the row is a still copy of the answered frame: their 14x24
  grey thumbnails (`thumbs`, the split's) differ by at most `still` (0-255) on average. The
  default is the split audit's near-twin distance, 10 (`data.audit.TWIN_THRESHOLD`): the
  sequence rule's 25 bounds the step between neighbouring frames, and two frames that far apart
  as a whole often differ by a character. A project's pool already drops frames that close to
  another (`labelling.dedupe`), so there the rule mostly stays idle; it serves dense frames.
- In a shot whose answers disagree (a class present in one, absent in another), a character
  comes or goes within it: there only the model's agreement accepts a row.

A weak row weighs `weight` (below 1: less than a person's label) in training's loss and only
ever trains (`data.weights`): it never validates, tunes a threshold, audits or tests, and it
counts as no human label in any budget. Pure numpy, no files: the caller reads and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toontag.data.audit import TWIN_THRESHOLD

WEIGHT = 0.5  # a weak label's loss weight: half a person's


@dataclass(frozen=True, eq=False)  # compared by identity: its fields are arrays
class Weak:
    """The weak labels `propagate` made, one row each, in row order."""

    rows: np.ndarray  # (M,) the rows labelled
    targets: np.ndarray  # (M, C) float32 0/1: the source answer's (0 where unknown)
    known: np.ndarray  # (M, C) bool: the source answer's known classes
    weights: np.ndarray  # (M,) float32 loss weights
    source_rows: np.ndarray  # (M,) the answered row each one extends
    still: np.ndarray  # (M,) bool: taken as a still copy where the model disagreed
    candidates: int  # unanswered rows of the answers' shots, before the model's test

    def summary(self, groups) -> dict:
        """What was added, for a run's report: rows, from how many answers and shots."""
        groups = np.asarray(groups)
        return {
            "weak_rows": len(self.rows),
            "from_answers": len(np.unique(self.source_rows)),
            "shots": len(np.unique(groups[self.rows])),
            "candidates": self.candidates,
            "by_agreement": int((~self.still).sum()),
            "by_still_copy": int(self.still.sum()),
            "weights": sorted({float(w) for w in self.weights}),
        }


def propagate(
    groups,
    answered_rows,
    answers,
    known,
    decisions,
    *,
    times=None,
    thumbs=None,
    still: float = TWIN_THRESHOLD,
    exclude_groups=(),
    weight: float = WEIGHT,
) -> Weak:
    """Weak labels for the unanswered rows of the answers' shots (see the module).

    `groups` (N,): each row's shot, -1 for none; `answered_rows` (A,): the rows a person
    labelled for training (no validation or audit row); `answers` (A, C) 0/1 and `known` (A, C)
    their targets and known entries; `decisions` (N, C) bool: the current model's decisions on
    every row; `times` (N,): capture order within a shot (default the row number); `thumbs`
    (N, 14, 24): grey thumbnails for the still rule (None: no still rule); `exclude_groups`:
    shots never propagated into; `weight`: in (0, 1)."""
    groups = np.asarray(groups, dtype=np.int64)
    n = len(groups)
    answered_rows = np.asarray(answered_rows, dtype=np.int64).reshape(-1)
    answers, known = np.asarray(answers) > 0.5, np.asarray(known, dtype=bool)
    decisions = np.asarray(decisions, dtype=bool)
    _check(n, answered_rows, answers, known, decisions, weight)
    times = np.arange(n, dtype=np.float64) if times is None else np.asarray(times, np.float64)
    answered = np.zeros(n, bool)
    answered[answered_rows] = True
    closed = (groups < 0) | np.isin(groups, np.asarray(list(exclude_groups), dtype=np.int64))
    # Sources: answers that know some class, in open shots; by shot, then capture order.
    useful = np.flatnonzero(known.any(axis=1) & ~closed[answered_rows])
    useful = useful[np.lexsort((answered_rows[useful], times[answered_rows[useful]]))]
    open_rows = np.flatnonzero(~answered & ~closed)
    source = np.full(n, -1)  # the index into the answers each candidate row takes
    mixed = np.zeros(n, bool)  # the row's shot holds answers that disagree
    by_shot = groups[answered_rows[useful]]
    for shot in np.unique(by_shot):
        mine = useful[by_shot == shot]  # in capture order: argmin's first is the earlier
        rows = open_rows[groups[open_rows] == shot]
        gaps = np.abs(times[rows][:, None] - times[answered_rows[mine]][None, :])
        source[rows] = mine[np.argmin(gaps, axis=1)]
        y, k = answers[mine], known[mine]
        mixed[rows] = ((y & k).any(axis=0) & (~y & k).any(axis=0)).any()
    rows = np.flatnonzero(source >= 0)
    taken = source[rows]
    agree = ((decisions[rows] == answers[taken]) | ~known[taken]).all(axis=1)
    copy = np.zeros(len(rows), bool)
    if thumbs is not None:
        pictures = np.asarray(thumbs, dtype=np.float32)
        gap = np.abs(pictures[rows] - pictures[answered_rows[taken]]).mean(axis=(1, 2))
        copy = (gap <= still) & ~mixed[rows]
    kept = agree | copy
    rows, taken = rows[kept], taken[kept]
    return Weak(
        rows=rows,
        targets=(answers[taken] & known[taken]).astype(np.float32),
        known=known[taken].copy(),
        weights=np.full(len(rows), weight, dtype=np.float32),
        source_rows=answered_rows[taken],
        still=~agree[kept],
        candidates=int((source >= 0).sum()),
    )


def _check(n: int, answered_rows, answers, known, decisions, weight: float) -> None:
    """A `ValueError` naming the argument that does not fit the others."""
    if answers.ndim != 2 or answers.shape != known.shape or len(answers) != len(answered_rows):
        raise ValueError(
            f"answers {answers.shape} and known {known.shape} must both be "
            f"(len(answered_rows)={len(answered_rows)}, C)"
        )
    if decisions.shape != (n, answers.shape[1]):
        raise ValueError(f"decisions {decisions.shape} must be (len(groups)={n}, C)")
    if len(answered_rows) and not (answered_rows.min() >= 0 and answered_rows.max() < n):
        raise ValueError(f"answered_rows must be rows of groups (0 to {n - 1})")
    if len(np.unique(answered_rows)) != len(answered_rows):
        raise ValueError("answered_rows names a row twice")
    if not 0 < weight < 1:  # NaN fails too
        raise ValueError(f"weight {weight} must be in (0, 1): a weak label weighs less")
