"""The labelling session on a project of real dataset frames (Lite0 features computed once):
the project held while it is open, refits after answers, suggestions from them, and blind
batches with audit frames now and then, never fitted on and scored with an interval by shot.
The label server's tests (test_server.py) drive the same through HTTP."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from toontag.errors import ProjectError, ToontagError
from toontag.labelling.learner import AUDIT_MIN, wait_for_model
from toontag.labelling.session import (
    AUDIT_EVERY,
    AUDIT_FRAMES,
    AUDIT_KIND,
    OUT_OF_FOLD_KIND,
    Session,
)

CLASSES = ("kral_sakir", "remzi", "necati")


@pytest.fixture
def session(project):
    opened = Session.open(project[0])
    yield opened
    opened.close()


def test_a_session_holds_its_project_until_it_is_closed(project):
    root, _ = project
    with pytest.raises(ToontagError, match="unknown queue policy 'greedy'"):
        Session.open(root, policy="greedy")
    session = Session.open(root)
    with pytest.raises(ProjectError, match="another toontag"):
        Session.open(root)
    assert session.image(0).is_file() and session.image(0).is_relative_to(root / "frames")
    session.close()
    Session.open(root).close()


def test_a_refit_suggests_labels_and_audit_frames_come_blind_now_and_then(session, project):
    _, truth = project
    for name in CLASSES:
        session.add_class(name)
    assert session.next_frames(6, session.policy)[0]["suggestion"] is None
    started = time.perf_counter()
    for row in range(0, 40):  # sequential labels: no audit flag, so all are fitted on
        session.answer(row, [c for c in CLASSES if c in truth[session.pool[row].path]], seen=0)
    learner = session.learner
    assert wait_for_model(learner, 1)
    deadline = time.monotonic() + 120  # refits follow answers: wait for one on all 40
    while learner.head[0].labelled < 40:
        assert time.monotonic() < deadline, f"fitted on {learner.head[0].labelled} of 40"
        time.sleep(0.05)
    head = learner.head[0]
    took = time.perf_counter() - started
    print(f"refit on {head.labelled} labels: {head.seconds:.2f} s (40 answers to it: {took:.1f} s)")
    state = session.state()
    assert state["model"]["fitted_on"] == 40 and state["model"]["status"].startswith("fitted")
    while True:  # the first batch, before the answers, was the first of AUDIT_EVERY
        frames = session.next_frames(4, session.policy)
        assert len(frames) == 4
        assert all(f["labels"] is None and f["audit"] is None for f in frames)
        if session.batches % AUDIT_EVERY == 0:
            break
        assert all(f["suggestion"] is not None for f in frames) and not session.store.audits
        suggestion = frames[0]["suggestion"]["remzi"]
        assert 0 <= suggestion["p"] <= 1 and isinstance(suggestion["ticked"], bool)
    # the blind batch: no frame carries a suggestion (so none a tick), two are audit frames
    assert all(f["suggestion"] is None for f in frames)
    audits = {session.row_of[p] for p in session.store.audits.offered}
    assert len(audits) == AUDIT_FRAMES and audits <= {f["id"] for f in frames}
    assert all(session.frame(r)["suggestion"] is None for r in audits)
    # 40 rows over several shots, some class tuned: the out-of-fold estimate, shown as it is
    assert len({session.groups[r] for r in range(40)}) > 1 and any(head.tuned)
    quality = state["model"]["quality"]
    assert quality["kind"] == OUT_OF_FOLD_KIND and quality["answers"] is None
    assert quality["f1"] == round(head.estimate.f1_micro, 4) and 0 < quality["f1"] <= 1
    assert len(session.next_frames(3, "random")) == 3


def test_audit_answers_are_never_fitted_and_give_the_estimate_with_its_interval(
    session, project, fitted_rows
):
    """Blind batch after blind batch until `AUDIT_MIN` audit frames are answered: no fit ever
    sees an audit row, whoever answers, and the quality shown is the audit estimate with its
    count and an interval resampling whole shots."""
    _, truth = project
    for name in CLASSES:
        session.add_class(name)
    while len(session.store.audits) < AUDIT_MIN:
        for frame in session.next_frames(3, "random"):
            labels = [c for c in CLASSES if c in truth[session.pool[frame["id"]].path]]
            session.answer(frame["id"], labels, seen=0)
    audits = {session.row_of[p] for p in session.store.audits.offered}
    answered = {session.row_of[p] for p in session.store.answers}
    session.learner.refit_soon()
    deadline = time.monotonic() + 120  # a refit that began before the last answers may end first
    while not fitted_rows or fitted_rows[-1] != answered - audits:
        assert time.monotonic() < deadline, "no refit on all the answers"
        time.sleep(0.05)
    assert wait_for_model(session.learner, len(fitted_rows))  # that refit's head is the one shown
    # a refit that took its answers before the last audit answer scores 5 of them; the
    # refit the wake-up asked for follows it and scores them all
    while (session.state()["model"]["quality"] or {}).get("answers") != len(audits):
        assert time.monotonic() < deadline, "no estimate on all the audit answers"
        time.sleep(0.05)
    assert all(not rows & audits for rows in fitted_rows)
    quality = session.state()["model"]["quality"]
    assert quality["kind"] == AUDIT_KIND and quality["answers"] == len(audits)
    low, high = quality["ci95_by_sequence"]
    assert low <= quality["f1"] <= high and quality["unit"] == "shot"
    assert quality["sequences"] == len({session.groups[r] for r in audits})
    assert session.state()["audited"] == len(audits)


def test_a_batch_is_drawn_under_the_sessions_lock(session):
    """A frame read while its blind batch is being drawn waits for the draw, and so never
    shows a suggestion that the batch withholds."""
    session.learner.start = lambda: None  # no refit replaces the head set here
    session.add_class("remzi")
    head = SimpleNamespace(thresholds=np.array([0.5]))
    probabilities = np.full((len(session.pool), 1), 0.9)
    session.learner.head = (head, probabilities, ("remzi",), None)
    draw, readers, read = session._queue, [], []

    def drawing(*args, **kwargs):  # another tab reads the batch's frames half way through
        rows = draw(*args, **kwargs)
        for row in rows:
            reader = threading.Thread(target=lambda r=int(row): read.append(session.frame(r)))
            reader.start()
            reader.join(0.2)
            readers.append(reader)
        return rows

    for _ in range(AUDIT_EVERY - 1):
        assert all(f["suggestion"] for f in session.next_frames(4, "random"))
    session._queue = drawing
    blind = session.next_frames(4, "random")
    for reader in readers:
        reader.join(10)
    assert all(f["suggestion"] is None for f in blind)
    assert len(read) == 2 and all(f["suggestion"] is None for f in read)
