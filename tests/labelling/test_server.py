"""The labelling app on a project of real dataset frames (conftest.py): answers saved at once
and found again after a restart, later answers winning, undo, new characters, the next frames,
audit frames known from the server's record alone, the access rules, and the page driven with
the keyboard in Chromium. The session behind it (refits, audits) is tested on its own in
test_session.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from toontag.data.dataset import load_dataset
from toontag.errors import ProjectError
from toontag.explain.browser import ARGS, chromium
from toontag.labelling.labels import LabelStore
from toontag.labelling.learner import AUDIT_MIN, wait_for_model
from toontag.labelling.project import Project
from toontag.labelling.session import AUDIT_EVERY, AUDIT_KIND, BATCH
from toontag.serve.access import ServeError, check_bind
from toontag.serve.labelling import LABELLING, create_label_app
from toontag.serve.limits import MAX_BODY
from toontag.serve.local import running

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "k" * 24
WAIT_MS = (
    120_000  # a browser step's limit: generous, for a loaded machine; each waits for one thing
)


@pytest.fixture
def app(project):
    application = create_label_app(project[0])
    yield application
    application.state.close()


def client_of(app, **headers) -> TestClient:
    return TestClient(app, base_url="http://localhost", headers=headers)


def answer(client, frame, labels, seen=0, audit=False):
    return client.post(
        "/api/answers", json={"frame": frame, "labels": labels, "seen": seen, "audit": audit}
    )


def test_answers_are_saved_at_once_and_found_after_a_restart(project):
    root, truth = project
    app = create_label_app(root)
    client = client_of(app)
    assert client.post("/api/classes", json={"name": "remzi"}).status_code == 201
    assert client.post("/api/classes", json={"name": "necati"}).status_code == 201
    started = time.perf_counter()
    saved = answer(client, 3, ["necati", "remzi"]).json()
    took = time.perf_counter() - started
    assert saved["labels"] == ["remzi", "necati"] and not saved["replaced_newer"]
    assert answer(client, 5, []).json()["counts"] == {"remzi": 1, "necati": 1, "none": 1}
    # on disk before the answer came back: another reader sees it while the server runs
    data = load_dataset(root / "labels.csv")
    assert data.classes == ("remzi", "necati") and [s.labels for s in data.samples] == [
        ("remzi", "necati"),
        (),
    ]
    with pytest.raises(ProjectError, match="another toontag"):
        create_label_app(root)  # one server per project: it holds the project's lock
    app.state.close()
    again = client_of(create_label_app(root))
    state = again.get("/api/state").json()
    assert state["counts"] == {"remzi": 1, "necati": 1, "none": 1} and state["labelled"] == 2
    assert again.get("/api/frames/3").json()["labels"] == ["remzi", "necati"]
    again.app.state.close()
    print(f"answer saved in {took * 1000:.1f} ms (request included)")


def test_a_later_answer_wins_and_says_it_replaced_a_newer_one(app):
    client = client_of(app)
    client.post("/api/classes", json={"name": "fil"})
    first = answer(client, 7, ["fil"]).json()  # tab A, having seen frame 7 unlabelled
    second = answer(client, 7, [], seen=0).json()  # tab B saw it unlabelled too
    assert second["replaced_newer"] and "another tab" in second["message"]
    assert second["revision"] > first["revision"]
    assert client.get("/api/frames/7").json()["labels"] == []
    third = answer(client, 7, ["fil"], seen=second["revision"]).json()
    assert not third["replaced_newer"] and third["message"] is None


def test_undo_restores_the_answer_before(app):
    client = client_of(app)
    client.post("/api/classes", json={"name": "fil"})
    answer(client, 2, ["fil"])
    answer(client, 2, [])
    assert client.post("/api/undo", json={"frame": 2}).json()["labels"] == ["fil"]
    assert client.post("/api/undo", json={"frame": 2}).json()["labels"] is None
    assert client.get("/api/state").json()["labelled"] == 0
    nothing = client.post("/api/undo", json={"frame": 2})
    assert nothing.status_code == 409 and "earlier answer" in nothing.json()["detail"]


def test_a_tabs_undo_takes_back_its_own_answer_only(app):
    """Tab A answers frame 7, tab B answers it after, A presses undo: B's answer stays and A
    is told why; B's undo goes back to A's answer, and then A's undo to none."""
    client = client_of(app)
    client.post("/api/classes", json={"name": "fil"})

    def post(path, tab, **body):
        return client.post(path, json={"frame": 7, "tab": tab, **body})

    assert post("/api/answers", "A", labels=["fil"]).status_code == 200
    assert post("/api/answers", "B", labels=[], seen=1).status_code == 200
    refused = post("/api/undo", "A")
    assert refused.status_code == 409 and "another tab" in refused.json()["detail"]
    assert client.get("/api/frames/7").json()["labels"] == []
    assert post("/api/undo", "B").json()["labels"] == ["fil"]
    undone = post("/api/undo", "A").json()
    assert undone["labels"] is None and undone["message"] is None
    post("/api/answers", "A", labels=["fil"])
    taken = client.post("/api/undo", json={"frame": 7}).json()  # naming no tab
    assert taken["labels"] is None and "another tab" in taken["message"]


def test_the_next_frames_come_in_the_size_and_policy_asked_for(app):
    client = client_of(app)
    assert len(client.get("/api/next").json()["frames"]) == BATCH
    other_tab = {"policy": "random", "size": 3, "tab": "B"}  # this one's batch is still open
    frames = client.get("/api/next", params=other_tab).json()["frames"]
    assert len(frames) == 3 and all(f["labels"] is None and f["revision"] == 0 for f in frames)
    assert all(set(f) == {"id", "audit", "labels", "revision", "suggestion"} for f in frames)


def ids(client, **params) -> list[int]:
    return [f["id"] for f in client.get("/api/next", params=params).json()["frames"]]


def test_a_reload_shows_the_same_batch_until_it_is_answered(app):
    """Before: every GET /api/next drew a new batch, so reloading the page skipped the frames
    on it (issue 28, item 6). Now a tab is given its batch again, less the frames answered,
    until all are answered; then a new one. Another tab is given other frames."""
    client = client_of(app)
    client.post("/api/classes", json={"name": "fil"})
    first = ids(client)
    assert len(first) == BATCH and ids(client) == first  # a reload: the same frames
    assert ids(client, size=2, policy="random") == first  # as first asked
    answer(client, first[0], ["fil"])
    answer(client, first[1], [])
    assert ids(client) == first[2:]  # the answered ones are done
    tab = ids(client, tab="other")
    assert ids(client, tab="other") == tab and not set(tab) & set(first)
    for frame in first[2:]:
        answer(client, frame, [])
    fresh = ids(client)
    assert len(fresh) == BATCH and not set(fresh) & set(first) and not set(fresh) & set(tab)
    assert client.get("/api/next", params={"tab": "a tab"}).status_code == 422


def test_the_seed_of_label_serve_orders_the_queue(monkeypatch, capsys, project):
    """`toontag label serve --seed N`: the same project and seed give the same first batch, a
    different seed a different one (before: no --seed, always 0)."""
    from tests.test_cli import run_cli
    from toontag.serve import local

    root, _ = project
    batches = []

    def serve(application, sock):  # instead of uvicorn on the bound port: the first batch
        session = application.state.session
        session.start()
        deadline = time.monotonic() + WAIT_MS / 1000
        while session.learner.features is None:
            assert time.monotonic() < deadline and not session.learner.error
            time.sleep(0.05)
        batches.append(ids(client_of(application)))

    monkeypatch.setattr(local, "serve", serve)
    for seed in (1, 1, 2):
        code, out, err = run_cli(monkeypatch, capsys, "label", "serve", root, "--seed", seed)
        assert code == 0, err
    assert len(batches[0]) == BATCH and batches[0] == batches[1] and batches[2] != batches[0]


def truth_of(app, truth, frame: int) -> list[str]:
    """The frame's true characters among those the project has."""
    session = app.state.session
    return [c for c in session.store.classes if c in truth[session.pool[frame].path]]


def test_audit_frames_come_blind_and_are_the_servers_word_not_the_pages(project, fitted_rows):
    """After a fit every batch carries suggestions but the blind one, in which no frame has a
    suggestion (so none a tick) and nothing marks its audit frames. Which frames are audit
    frames is the server's record: the `audit` an answer claims is ignored, and an audit frame
    stays one after an undo, a re-answer, in another tab and after a restart; no fit ever sees
    one, a frame only claimed to be one is fitted on; labels.csv says so, and a project read as
    a dataset makes it test data."""
    root, truth = project
    app = create_label_app(root)
    client, session = client_of(app), app.state.session
    for name in ("kral_sakir", "remzi", "fil_necati", "canan"):
        client.post("/api/classes", json={"name": name})
    for frame in range(12):
        assert not answer(client, frame, truth_of(app, truth, frame), audit=True).json()["message"]
    assert wait_for_model(session.learner, 1)
    while True:  # a new tab each time: an open batch would come again
        frames = client.get("/api/next", params={"size": 4, "tab": f"t{session.batches}"})
        frames = frames.json()["frames"]
        assert len(frames) == 4 and all(f["audit"] is None for f in frames)
        if all(f["suggestion"] is None for f in frames):
            break
        assert all(f["suggestion"] is not None for f in frames)
    assert session.batches % AUDIT_EVERY == 0  # the blind batch, no sooner
    audits = [f["id"] for f in frames if session.pool[f["id"]].path in session.store.audits]
    assert len(audits) == 2 and len(session.store.audits) == 2
    audit, other = audits[0], next(f["id"] for f in frames if f["id"] not in audits)
    assert client.get(f"/api/frames/{audit}").json()["suggestion"] is None
    answer(client, audit, truth_of(app, truth, audit), audit=False)
    answer(client, other, truth_of(app, truth, other), audit=True)
    assert client.get(f"/api/frames/{audit}").json()["audit"] is True
    assert client.get(f"/api/frames/{other}").json()["audit"] is False
    assert client.get("/api/frames/0").json()["audit"] is False  # claimed audit=True
    assert client.post("/api/undo", json={"frame": audit}).json()["labels"] is None
    assert client.get(f"/api/frames/{audit}").json()["audit"] is None  # unanswered again
    answer(client, audit, [], audit=False)
    tab = client_of(app)  # a second tab
    assert tab.get(f"/api/frames/{audit}").json()["audit"] is True
    answer(tab, audit, truth_of(app, truth, audit), seen=10**9, audit=False)
    assert tab.get(f"/api/frames/{audit}").json()["audit"] is True
    answered = {session.row_of[path] for path in session.store.answers}
    session.learner.refit_soon()
    deadline = time.monotonic() + 120  # a refit that began before the last answers may end first
    while not fitted_rows or fitted_rows[-1] != answered - set(audits):
        assert time.monotonic() < deadline, "no refit on all the answers"
        time.sleep(0.05)
    assert 0 in fitted_rows[-1] and other in fitted_rows[-1]  # claimed audit=True: fitted
    assert all(not rows & set(audits) for rows in fitted_rows)
    app.state.close()
    again = create_label_app(root)
    try:
        restarted = client_of(again)
        assert restarted.get(f"/api/frames/{audit}").json()["audit"] is True
        assert restarted.get("/api/state").json()["note"] is None
    finally:
        again.state.close()
    splits = {s.path.relative_to(root).as_posix(): s.split for s in load_dataset(root).samples}
    assert splits[session.pool[audit].path] == "test"
    assert {splits[session.pool[r].path] for r in (0, other)} == {"train"}


def test_audit_flags_from_an_earlier_page_are_kept_and_said_once(project):
    """A labels.csv whose audit=1 came from the page of an earlier toontag: those frames stay
    audit frames (never fitted on), and the state says so in a note, once."""
    root, truth = project
    pool = Project.open(root).read_pool()
    rows = [f"{f.path},,{int(i < 2)},{i + 1}," for i, f in enumerate(pool[:4])]
    (root / "labels.csv").write_text("path,labels,audit,revision,updated\n" + "\n".join(rows))
    app = create_label_app(root)
    try:
        client = client_of(app)
        state = client.get("/api/state").json()
        assert state["note"].startswith("2 frames were marked audit") and state["audited"] == 2
        assert [client.get(f"/api/frames/{r}").json()["audit"] for r in range(4)] == [
            True,
            True,
            False,
            False,
        ]
    finally:
        app.state.close()
    again = create_label_app(root)
    try:
        assert client_of(again).get("/api/state").json()["note"] is None
        assert client_of(again).get("/api/frames/1").json()["audit"] is True
    finally:
        again.state.close()


def test_characters_are_validated_and_unique(app, project):
    client = client_of(app)
    assert client.post("/api/classes", json={"name": " Şakir_2 "}).json()["classes"] == ["Şakir_2"]
    assert client.post("/api/classes", json={"name": "şAKIR_2"}).status_code == 409
    for bad in ["", "a b", "../x", "-x", "x" * 41, "none", "a;b", "a,b"]:
        response = client.post("/api/classes", json={"name": bad})
        assert response.status_code in (409, 422), bad
        assert "detail" in response.json()
    assert (project[0] / "classes.txt").read_text() == "Şakir_2\n"


def test_bad_input_is_a_problem_without_paths(app, project):
    client = client_of(app)
    client.post("/api/classes", json={"name": "fil"})
    checks = [
        (client.get("/api/frames/100000"), 404),
        (client.get("/api/frames/100000/image"), 404),
        (client.get("/api/frames/-1"), 422),
        (client.get("/api/next?size=0"), 422),
        (client.get("/api/next?policy=greedy"), 422),
        (answer(client, 1, ["bob"]), 422),
        (answer(client, 1, ["fil", "fil"]), 422),
        (answer(client, 100000, ["fil"]), 404),
        (client.post("/api/answers", json={"frame": "x"}), 422),
        (
            client.post("/api/answers", content=b"frame=1", headers={"content-type": "text/plain"}),
            422,
        ),
    ]
    for response, code in checks:
        assert response.status_code == code, response.text
        assert set(response.json()) == {"detail"}
        assert str(project[0]) not in response.text and "frames/" not in response.text
    image = client.get("/api/frames/0/image")
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"


def test_writes_need_the_token_or_the_same_origin(project):
    root, _ = project
    app = create_label_app(root, token=TOKEN)
    try:
        assert client_of(app).get("/api/state").status_code == 401
        bearer = {"authorization": f"Bearer {TOKEN}"}
        assert client_of(app, **bearer).get("/api/state").status_code == 200
        assert client_of(app, host="evil.example", **bearer).get("/api/state").status_code == 400
        assert client_of(app).post("/api/classes", json={"name": "a"}).status_code == 401
        evil = client_of(app, origin="http://evil.example", **bearer)
        refused = evil.post("/api/classes", json={"name": "a"})
        assert refused.status_code == 403 and "another site" in refused.json()["detail"]
        referer = client_of(app, referer="http://localhost:9/", **bearer)
        assert referer.post("/api/classes", json={"name": "a"}).status_code == 403
        same = client_of(app, origin="http://localhost", **bearer)
        assert same.post("/api/classes", json={"name": "a"}).status_code == 201
    finally:
        app.state.close()
    app = create_label_app(root)  # no token: the Origin rule alone guards writes
    try:
        evil = client_of(app, origin="http://localhost.evil.example")
        assert evil.post("/api/classes", json={"name": "b"}).status_code == 403
        assert client_of(app).post("/api/classes", json={"name": "b"}).status_code == 201
    finally:
        app.state.close()


def open_page(browser, address: tuple[str, int], errors: list[str]):
    """The label page at `address` (host, port) in a new tab of `browser`, its script errors
    collected in `errors`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(WAIT_MS)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"http://{address[0]}:{address[1]}/")
    return page


def shows(page, element: str, pattern: str) -> None:
    """Wait until the text of #`element` matches the regular expression `pattern`: one named
    condition per step, however long a loaded machine takes to reach it (`WAIT_MS`)."""
    page.wait_for_function(
        "([id, pattern]) => new RegExp(pattern).test(document.getElementById(id).textContent)",
        arg=[element, pattern],
    )


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_an_empty_project_shows_the_first_step_and_a_reload_the_same_frames(project):
    """Before: a project without characters showed frames with nothing to tick and no word of
    what to do, and a reload showed other frames (issue 28, item 6). Now the page says to add
    the characters first and how, until one is added; a reload shows the same batch."""
    from playwright.sync_api import sync_playwright

    root, _ = project
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        app = create_label_app(root)
        with running(app) as address:
            page = open_page(browser, address, errors)
            page.wait_for_selector("#first", state="visible")
            hint = page.inner_text("#first")
            assert "add the characters" in hint.lower() and "add a character" in hint
            page.wait_for_selector(f".frame:nth-child({BATCH})")
            assert page.locator(".frame input").count() == 0  # nothing to tick yet
            shown = page.eval_on_selector_all(".frame", "e => e.map(f => f.dataset.id)")
            page.reload()
            page.wait_for_selector(f".frame:nth-child({BATCH})")
            assert page.eval_on_selector_all(".frame", "e => e.map(f => f.dataset.id)") == shown
            page.fill("#name", "remzi")
            page.press("#name", "Enter")
            page.wait_for_selector("#first", state="hidden")
            page.wait_for_selector(".frame input[data-name='remzi']")
            other = browser.new_page()  # another tab: other frames
            other.goto(f"http://{address[0]}:{address[1]}/")
            other.wait_for_selector(".frame input[data-name='remzi']")
            elsewhere = other.eval_on_selector_all(".frame", "e => e.map(f => f.dataset.id)")
            assert elsewhere and not set(elsewhere) & set(shown)
        app.state.close()
        browser.close()
    assert not errors


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_label_with_the_keyboard_then_find_the_labels_after_a_restart(project):
    """Each step waits for the one thing the next needs: the status naming that very frame (a
    stale "Saved frame 12" must not pass for frame 1, or a key would reach a busy page), the
    model line counting the answers left after the undo before the counts are read."""
    from playwright.sync_api import sync_playwright

    root, truth = project
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        app = create_label_app(root)
        store = app.state.session.store
        with running(app) as address:
            page = open_page(browser, address, errors)
            for name in ("remzi", "necati"):
                page.fill("#name", name)
                page.press("#name", "Enter")
                shows(page, "status", f"^Added {name}:")
            page.wait_for_selector(".frame.current input[data-name='necati']")
            saved = 0
            while saved < 8:  # key 1 = remzi, 2 = necati, n = none, Enter saves
                frame = int(page.get_attribute(".frame.current:not(.done)", "data-id"))
                labels = truth[app.state.session.pool[frame].path]
                keys = [k for k, c in (("1", "remzi"), ("2", "necati")) if c in labels]
                for key in keys:
                    page.keyboard.press(key)
                page.keyboard.press("Enter" if keys else "n")
                shows(page, "status", f"^Saved frame {frame}:")
                saved += 1
                assert len(store.answers) == saved  # each key press reached the project
            page.keyboard.press("u")  # the last answer goes back
            shows(page, "status", "^Undone:")
            page.wait_for_selector(".frame .p")  # a refit's probabilities
            shows(page, "model", f"^{saved - 1} of .*model: fitted on")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "label.png"))
            counts = page.inner_text("#counts")
            page.close()  # before its server stops: a poll in flight then is no page error
        app.state.close()
        again = create_label_app(root)
        with running(again) as address:
            page = open_page(browser, address, errors)
            shows(page, "model", f"^{saved - 1} of ")
            assert page.inner_text("#counts") == counts
            assert page.locator("#recent li").count() == saved - 1
            page.close()
        again.state.close()
        browser.close()
    assert not errors


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_page_shows_a_blind_batch_unticked_and_the_audit_estimate_with_its_interval(project):
    """With `AUDIT_MIN` audit frames answered (straight through the session) and the next batch
    a blind one: the page shows no frame with a ticked box, a probability or an audit badge,
    and the quality as the audit estimate with its count of answers and its interval by shot;
    the batch after it carries the model's suggestions again."""
    from playwright.sync_api import sync_playwright

    root, truth = project
    app = create_label_app(root)
    session = app.state.session
    for name in ("remzi", "necati"):
        session.add_class(name)
    while len(session.store.audits) < AUDIT_MIN:
        for frame in session.next_frames(3, "random"):
            session.answer(frame["id"], truth_of(app, truth, frame["id"]), seen=0)
    session.learner.refit_soon()
    deadline = time.monotonic() + WAIT_MS / 1000
    while (session.state()["model"]["quality"] or {}).get("kind") != AUDIT_KIND:
        assert time.monotonic() < deadline, "no audit estimate"
        time.sleep(0.05)
    while session.batches % AUDIT_EVERY != AUDIT_EVERY - 1:  # the page's first batch is blind
        session.next_frames(1, "random")
    errors: list[str] = []
    audits = len(session.store.audits)  # all answered; the page's blind batch adds more
    with sync_playwright() as p, running(app) as address:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        page = open_page(browser, address, errors)
        shows(page, "quality", rf"; {audits} audit answers, 95% interval [01]\.\d\d-[01]\.\d\d by ")
        page.wait_for_selector(f".frame:nth-child({BATCH}) input[data-name='necati']")
        shown = [
            int(i) for i in page.eval_on_selector_all(".frame", "e => e.map(f => f.dataset.id)")
        ]
        assert len(shown) == BATCH and {session.pool[r].path for r in shown} & set(
            session.store.audits.offered
        )
        page.wait_for_timeout(2000)  # a state poll or two: suggestions are not fetched back
        assert page.locator(".frame input:checked").count() == 0
        assert page.locator(".frame .p").count() == 0
        assert "audit" not in page.inner_text("#grid").lower()
        page.keyboard.press("Shift+Enter")  # every frame saved as ticked: none
        page.wait_for_selector(".frame .p")  # the next batch: the model's probabilities
        assert page.locator(".frame.done").count() == 0
        browser.close()
    app.state.close()
    assert not errors


def test_a_server_killed_mid_answering_loses_no_acknowledged_answer(project):
    """kill -9 while answers stream in: every answer the server acknowledged is on disk, the
    labels file still reads as a manifest, and a new server opens the project at once."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading

    import httpx

    root, truth = project
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "toontag", "label", "serve", str(root), "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    acknowledged: dict[int, list[str]] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/state", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=10) as client:
            for name in ("remzi", "canan"):
                assert client.post("/api/classes", json={"name": name}).status_code == 201
            go, killed = threading.Event(), threading.Event()

            def kill_soon():  # while the answers keep coming
                go.wait()
                time.sleep(0.05)
                os.kill(server.pid, signal.SIGKILL)
                killed.set()

            threading.Thread(target=kill_soon, daemon=True).start()
            choices = [["remzi"], ["canan"], [], ["remzi", "canan"]]
            sent, in_flight = 0, None
            while not killed.is_set():  # frames answered again and again, the answers varied
                frame = sent % len(truth)
                labels = choices[(sent + sent // len(truth)) % 4]
                try:
                    reply = answer(client, frame, labels, seen=10**9)
                except httpx.TransportError:
                    in_flight = (frame, labels)  # died under it: saved or not, never confirmed
                    break
                if reply.status_code == 200:
                    acknowledged[frame] = labels
                sent += 1
                if sent == len(truth) + 17:
                    go.set()
        server.wait(10)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == -signal.SIGKILL and sent > len(truth)  # killed mid-stream
    assert len(acknowledged) == len(truth)  # every frame answered, most more than once
    saved = {path: a.labels for path, a in LabelStore(Project.open(root)).answers.items()}
    pool = Project.open(root).read_pool()
    for frame, labels in acknowledged.items():
        allowed = [sorted(labels)]  # the last answer confirmed, or one newer never confirmed
        if in_flight is not None and in_flight[0] == frame:
            allowed.append(sorted(in_flight[1]))
        assert sorted(saved[pool[frame].path]) in allowed, frame
    load_dataset(root / "labels.csv")  # still a manifest train and evaluate read
    app = create_label_app(root)  # the lock died with the process
    app.state.close()


def test_a_body_over_the_limit_is_refused_before_it_is_read(app):
    client = client_of(app)
    labels = app.state.session.root / "labels.csv"
    before = labels.read_bytes()
    big = b'{"frame": 0, "labels": [' + b'"x", ' * MAX_BODY + b'"x"]}'
    announced = client.post(
        "/api/answers", content=big, headers={"content-type": "application/json"}
    )
    chunked = client.post(
        "/api/answers",
        content=iter([big[i : i + 65536] for i in range(0, len(big), 65536)]),
        headers={"content-type": "application/json"},
    )
    for refused in (announced, chunked):
        assert refused.status_code == 413 and "at most" in refused.json()["detail"]
    assert labels.read_bytes() == before


def test_the_label_servers_refusals_speak_of_it_alone(app):
    with pytest.raises(ServeError) as refused:
        check_bind("0.0.0.0", 8001, served=LABELLING, expose=False, token=None)
    assert "frame" in str(refused.value) and "indexed video" not in str(refused.value)
    host = client_of(app, host="evil.example").get("/api/state")
    assert host.status_code == 400
    assert "toontag label serve --allowed-host" in host.json()["detail"]


def test_names_that_are_words_of_the_search_language_are_characters(app):
    client = client_of(app)
    for name in ["not", "or", "and", "2nd_guy", "1", "kral-sakir"]:
        assert client.post("/api/classes", json={"name": name}).status_code == 201, name
    for taken in ["none", "NONE", "AND"]:
        assert client.post("/api/classes", json={"name": taken}).status_code == 409, taken


def test_an_answer_leaves_a_character_added_since_its_page_was_drawn_unknown(app, project):
    first, other = client_of(app), client_of(app)
    first.post("/api/classes", json={"name": "remzi"})
    drawn = first.get("/api/state").json()["classes"]
    other.post("/api/classes", json={"name": "canan"})  # another tab, after the page was drawn
    saved = first.post("/api/answers", json={"frame": 0, "labels": ["remzi"], "classes": drawn})
    assert saved.status_code == 200, saved.text
    other.post("/api/answers", json={"frame": 1, "labels": [], "classes": ["remzi", "canan"]})
    first.post("/api/answers", json={"frame": 2, "labels": []})  # a page that names none: all
    answers = LabelStore(Project.open(project[0])).answers
    unknown = {session_row(app, path): a.unknown for path, a in answers.items()}
    assert unknown == {0: ("canan",), 1: (), 2: ()}
    refused = first.post("/api/answers", json={"frame": 3, "labels": [], "classes": ["bob"]})
    assert refused.status_code == 422


def session_row(app, path: str) -> int:
    return app.state.session.row_of[path]


def test_label_serve_says_what_it_does_before_its_address_and_shows_the_features_progress(
    dataset, tmp_path
):
    """Started with its output in a log (issue 28, items 1 and 2): before its address it says
    that it reads the project and what it found; it serves on the free port it prints (--port
    0); and the features it computes in the background end with a plain line and their rate."""
    import re
    import shutil

    import httpx

    from tests.conftest import started
    from tests.labelling.conftest import make_project

    root, truth = make_project(tmp_path, dataset, frames=8)
    shutil.rmtree(root / "features")  # computed once it serves
    settings = {"TOONTAG_PROGRESS_SECONDS": "0"}
    with started(["label", "serve", root, "--port", "0"], env=settings) as server:
        line = server.wait_for("http://", timeout=300)
        assert server.out[: server.out.index(line)] == [
            f"reading the project {root} ...",
            f"{len(truth)} frames in the pool, 0 answered; the frames' features follow in the "
            "background once it serves",
        ]
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line)[1])
        assert port != 0
        state = httpx.get(f"http://127.0.0.1:{port}/api/state", timeout=30)
        assert state.status_code == 200 and state.json()["pool"] == len(truth)
        done = f"features of the pool's {len(truth)} frames: {len(truth)}/{len(truth)} (100%) in "
        closing = server.wait_for(done, timeout=300, err=True)
    assert re.search(r", [\d.,]+ per s$|, [\d.]+ s each$", closing), closing
