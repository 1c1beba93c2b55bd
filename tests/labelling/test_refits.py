"""Background refits of the features on the answers (refits.py, through the learner and the
session), on the 60-frame project of real frames (conftest.py) with tiny milestones and a
fine-tune of two steps: made at a milestone, adopted when the audit scores it no worse and
refused when worse, live only from the next batch, and a server killed during a refit loses
nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from toontag.explain.browser import ARGS, chromium
from toontag.io import write_json, write_npy
from toontag.labelling import refits as refits_module
from toontag.labelling.features import pool_features
from toontag.labelling.head import Estimate
from toontag.labelling.learner import AUDIT_MIN
from toontag.labelling.project import Project
from toontag.labelling.refits import (
    DECISION,
    FEATURES,
    FOLDER,
    INFO,
    Refit,
    RefitSettings,
    adopted_refit,
    decide,
    pool_key,
    read_refits,
    refit_folder,
    waiting_refit,
)
from toontag.labelling.session import Session
from toontag.runs import WEIGHTS
from toontag.training.tune import TuneSettings

CLASSES = ("kral_sakir", "remzi", "necati")
TINY = RefitSettings(
    milestones=(10, 1000), tune=TuneSettings(max_steps=2, batch=8, probe_iterations=5)
)
WAIT = 120  # seconds: generous, for a loaded machine


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT} s for {what}"
        time.sleep(0.05)


def truthful(session: Session, truth: dict, row: int) -> list[str]:
    return [c for c in session.store.classes if c in truth[session.pool[row].path]]


def answer_rows(session: Session, truth: dict, rows) -> None:
    """The rows answered truthfully, then a refit of the head on all of them."""
    for row in rows:
        session.answer(int(row), truthful(session, truth, row), seen=0)
    session.learner.refit_soon()


def answer_until_audited(session: Session, truth: dict) -> None:
    """Batches answered truthfully until `AUDIT_MIN` audit frames are answered."""
    while len(session.store.audits) < AUDIT_MIN:
        for frame in session.next_frames(3, "random"):
            session.answer(frame["id"], truthful(session, truth, frame["id"]), seen=0)
    session.learner.refit_soon()


def fake_refit(*, paths, out, root, milestone, **job) -> Refit:
    """A refit made at once: the ImageNet features halved, a stand-in weights file."""
    out.mkdir(parents=True)
    (out / WEIGHTS).write_bytes(b"weights")
    write_npy(out / FEATURES, imagenet(paths, root) * 0.5)
    info = {"answers": milestone, "pool": pool_key(paths, root)}
    write_json(out / INFO, info)
    return Refit(out, milestone, info, None)


def imagenet(paths, root) -> np.ndarray:
    """The pool's ImageNet features (cached by the project fixture)."""
    return np.asarray(pool_features(paths, Path(root) / "features", root=root).features)


def scored(*f1s):
    """An `audit_score` giving the refit's head, then the live one's, these micro-F1s."""
    values = iter(f1s)
    return lambda *a, **k: Estimate(next(values), 1.0, 1.0, 10, "stub", 5, (0.0, 1.0), 3)


def test_milestones_double_after_the_last():
    assert [refits_module.milestone_at(n, (50, 100)) for n in (0, 49, 50, 199, 200, 401)] == [
        None,
        None,
        50,
        100,
        200,
        400,
    ]
    assert refits_module.next_milestone(0, (50, 100)) == 50
    assert refits_module.next_milestone(100, (50, 100)) == 200
    assert refits_module.milestone_at(10**6, ()) is None
    assert refits_module.next_milestone(5, ()) is None


@pytest.mark.parametrize(
    ("refit", "live", "adopted"), [(0.9, 0.8, True), (0.8, 0.8, True), (0.7, 0.8, False)]
)
def test_a_refit_is_adopted_when_the_audit_finds_it_no_worse(
    project, monkeypatch, refit, live, adopted
):
    root, truth = project
    pool = Project.open(root).read_pool()
    features = imagenet([root / f.path for f in pool], root)
    targets = np.array([["remzi" in truth[f.path]] for f in pool], np.float32)
    fitted = {"rows": np.arange(30), "targets": targets[:30], "groups": np.arange(30)}
    audits = {"rows": np.arange(50, 60), "targets": targets[50:], "groups": np.arange(10)}
    monkeypatch.setattr(refits_module, "audit_score", scored(refit, live))
    decision = decide(features * 0.5, features, fitted, audits)
    assert decision.adopted == adopted and decision.refit.f1_micro == refit
    assert decision.live.f1_micro == live and decision.head.labelled == 30


def test_only_finished_refits_count_and_the_latest_adopted_one_is_live(tmp_path):
    for answers, decision in ((50, True), (100, False), (200, None), (400, "unfinished")):
        folder = tmp_path / FOLDER / f"{answers:04d}"
        folder.mkdir(parents=True)
        (folder / WEIGHTS).write_bytes(b"w")
        (folder / FEATURES).write_bytes(b"f")
        if decision != "unfinished":
            write_json(folder / INFO, {"answers": answers})
        if isinstance(decision, bool):
            write_json(folder / DECISION, {"adopted": decision})
    found = read_refits(tmp_path)
    assert [r.answers for r in found] == [50, 100, 200]
    assert adopted_refit(found).answers == 50 and waiting_refit(found).answers == 200
    assert waiting_refit(found[:2]) is None


def test_an_adopted_refit_goes_live_between_batches_and_a_worse_one_never(project, monkeypatch):
    root, truth = project
    monkeypatch.setattr(refits_module, "make_refit", fake_refit)
    monkeypatch.setattr(refits_module, "audit_score", scored(0.9, 0.8))
    session = Session.open(root, refits=TINY)
    try:
        for name in CLASSES:
            session.add_class(name)
        answer_rows(session, truth, range(10))
        learner = session.learner
        wait_until(lambda: learner.waiting is not None, "the refit at 10 answers")
        assert session.state()["model"]["refit"]["waiting"] == 10  # too few audit answers
        answer_until_audited(session, truth)
        wait_until(lambda: learner.pending is not None, "the refit's adoption")
        decision = json.loads((root / FOLDER / "0010" / DECISION).read_text())
        assert decision["adopted"] and decision["live"] == "ImageNet"
        assert (decision["f1"], decision["live_f1"]) == (0.9, 0.8)
        # Adopted, but the batch on the page keeps the features and head it was served with.
        served = learner.features
        state = session.state()["model"]
        assert (
            state["backbone"] == "ImageNet" and state["refit"]["pending"] == "refit at 10 answers"
        )
        time.sleep(1)
        assert learner.features is served and learner.backbone == "ImageNet"
        version = learner.version
        session.next_frames(3, "active")  # the next batch: the refit goes live
        assert learner.version > version and learner.features is not served
        assert np.allclose(learner.features, 0.5 * np.asarray(served), atol=1e-2)
        state = session.state()["model"]
        assert state["backbone"] == "refit at 10 answers" and state["refit"]["pending"] is None
        assert state["refit"]["live"]["f1"] == 0.9
    finally:
        session.close()
    # A restart goes on with the adopted refit; a refused one is recorded and never live.
    monkeypatch.setattr(refits_module, "audit_score", scored(0.5, 0.8))
    session = Session.open(root, refits=RefitSettings(milestones=(10, 40, 1000), tune=TINY.tune))
    try:
        session.start()
        wait_until(lambda: session.learner.features is not None, "the features")
        assert session.state()["model"]["backbone"] == "refit at 10 answers"
        fitted = sum(not a.audit for a in session.store.answers.values())
        fresh = [r for r in range(60) if session.pool[r].path not in session.store.answers]
        answer_rows(session, truth, fresh[: max(0, 40 - fitted)])
        wait_until(lambda: (root / FOLDER / "0040" / DECISION).is_file(), "the refit at 40")
        session.next_frames(3, "active")
        state = session.state()["model"]
        assert state["backbone"] == "refit at 10 answers"
        assert state["refit"]["last"] | {"decided": 0} == {
            "answers": 40,
            "adopted": False,
            "f1": 0.5,
            "ci95_by_sequence": [0.0, 1.0],
            "live": "refit at 10 answers",
            "live_f1": 0.8,
            "audit_answers": 5,
            "decided": 0,
        }
    finally:
        session.close()


def test_a_real_refit_at_ten_answers_is_decided_on_the_audit(project):
    """No stub: the top tuned for two steps on ten answers' cached maps, the pool's features
    through it, and the decision the audit answers make."""
    root, truth = project
    session = Session.open(root, refits=TINY)
    try:
        for name in CLASSES:
            session.add_class(name)
        answer_rows(session, truth, range(10))
        answer_until_audited(session, truth)
        learner = session.learner
        wait_until(lambda: learner.refits and learner.refits[0].decision, "the decision")
        info = json.loads((root / FOLDER / "0010" / INFO).read_text())
        decision = json.loads((root / FOLDER / "0010" / DECISION).read_text())
        assert (
            info["trained_on"] >= 10 and info["tune"]["steps"] == 2 and info["base"] == "ImageNet"
        )
        assert decision["adopted"] == (decision["f1"] >= decision["live_f1"])
        assert decision["audit_answers"] >= AUDIT_MIN
        refit = np.load(root / FOLDER / "0010" / FEATURES, mmap_mode="r")
        assert refit.shape == learner.features.shape and not np.allclose(refit, learner.features)
        session.next_frames(3, "active")
        wanted = "refit at 10 answers" if decision["adopted"] else "ImageNet"
        assert session.state()["model"]["backbone"] == wanted
    finally:
        session.close()


CHILD = """
import sys, time
from pathlib import Path
from toontag.labelling import refits
from toontag.labelling.project import Project
from toontag.labelling.session import Session
from toontag.training.tune import TuneSettings

root, marker = Path(sys.argv[1]), Path(sys.argv[2])
save = refits.save_weights

def save_then_hang(out, backbone):  # killed here: the weights written, nothing after them
    save(out, backbone)
    marker.write_text("saved")
    time.sleep(600)

refits.save_weights = save_then_hang
tune = TuneSettings(max_steps=2, batch=8, probe_iterations=5)
session = Session.open(root, refits=refits.RefitSettings(milestones=(10, 20, 1000), tune=tune))
session.start()
time.sleep(600)
"""


def test_a_server_killed_during_a_refit_keeps_the_adopted_one_and_redoes_the_milestone(
    project, tmp_path, killed_at
):
    root, truth = project
    session = Session.open(root, refits=RefitSettings(milestones=()))
    for name in CLASSES:
        session.add_class(name)
    answer_rows(session, truth, range(20))
    paths = session.learner.paths
    session.close()
    adopted = fake_refit(paths=paths, out=refit_folder(root, 10), root=root, milestone=10)
    write_json(adopted.folder / DECISION, {"adopted": True, "f1": 0.9, "live": "ImageNet"})
    kept = {p.name: p.read_bytes() for p in adopted.folder.iterdir()}
    marker = tmp_path / "saved"
    killed_at(CHILD, [root, marker], marker, "the refit's weights", wait=WAIT)
    unfinished = root / FOLDER / "0020"
    assert (unfinished / WEIGHTS).is_file() and not (unfinished / INFO).exists()
    assert {p.name: p.read_bytes() for p in adopted.folder.iterdir()} == kept
    session = Session.open(root, refits=RefitSettings(milestones=(10, 20, 1000), tune=TINY.tune))
    try:
        session.start()
        learner = session.learner
        wait_until(lambda: learner.features is not None, "the features")
        assert learner.backbone == "refit at 10 answers"
        assert np.array_equal(learner.features, np.load(adopted.folder / FEATURES))
        assert len(session.store.answers) == 20
        wait_until(lambda: (unfinished / INFO).is_file(), "the milestone redone")
        wait_until(lambda: learner.waiting is not None, "the redone refit")
        assert learner.waiting.answers == 20 and learner.backbone == "refit at 10 answers"
    finally:
        session.close()


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_page_says_a_refit_is_running_then_which_features_are_live(project, monkeypatch):
    """While the refit at 10 answers runs the page says so; adopted, it says that the refit
    goes live with the next batch, and once the page has asked for that batch it names the
    refit as the features, with the audit scores that adopted it."""
    import threading

    from playwright.sync_api import sync_playwright

    from tests.labelling.test_server import open_page, shows
    from toontag.serve.labelling import create_label_app
    from toontag.serve.local import running

    root, truth = project
    release = threading.Event()

    def held_refit(**job):
        release.wait(WAIT)
        return fake_refit(**job)

    monkeypatch.setattr(refits_module, "make_refit", held_refit)
    monkeypatch.setattr(refits_module, "audit_score", scored(0.9, 0.8))
    app = create_label_app(root, refits=TINY)
    session = app.state.session
    for name in CLASSES:
        session.add_class(name)
    answer_rows(session, truth, range(10))
    wait_until(lambda: session.learner.background.running == 10, "the refit to start")
    errors: list[str] = []
    with sync_playwright() as p, running(app) as address:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        page = open_page(browser, address, errors)
        shows(page, "model", "features: ImageNet; refitting the features on 10 answers")
        release.set()
        shows(page, "model", "the refit at 10 answers waits for audit answers")
        answer_until_audited(session, truth)
        shows(page, "model", "refit at 10 answers adopted, live from the next batch")
        assert session.learner.backbone == "ImageNet"  # the page's batch keeps its features
        page.keyboard.press("Shift+Enter")  # the batch saved: the next comes from the refit
        shows(
            page,
            "model",
            r"features: refit at 10 answers \(adopted on 5 audit answers: audit micro-F1 0\.90 "
            r"against 0\.80 for ImageNet\)",
        )
        browser.close()
    app.state.close()
    assert not errors
