"""The labelling session on a project of real dataset frames (Lite0 features computed once):
the project held while it is open, refits after answers, suggestions from them, and audit
frames now and then. The label server's tests (test_server.py) drive the same through HTTP."""

from __future__ import annotations

import time

import pytest

from toontag.errors import ProjectError, ToontagError
from toontag.labelling.learner import wait_for_model
from toontag.labelling.session import AUDIT_EVERY, OUT_OF_FOLD_KIND, Session

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


def test_a_refit_suggests_labels_and_audit_frames_come_now_and_then(session, project):
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
    audits = []
    for _ in range(AUDIT_EVERY):
        frames = session.next_frames(4, session.policy)
        assert all(f["suggestion"] is not None and f["labels"] is None for f in frames)
        suggestion = frames[0]["suggestion"]["remzi"]
        assert 0 <= suggestion["p"] <= 1 and isinstance(suggestion["ticked"], bool)
        audits += [f for f in frames if f["audit"]]
    assert len(audits) == 2
    quality = state["model"]["quality"]
    assert quality is None or quality["kind"] == OUT_OF_FOLD_KIND
    assert len(session.next_frames(3, "random")) == 3
