"""The web app: its JSON API, its refusals, and its page driven as a person would."""

from __future__ import annotations

import contextlib
import socket
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from toontag.cli import main
from toontag.explain.browser import ARGS, chromium
from toontag.serve.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def client(served) -> TestClient:
    return TestClient(create_app(served), base_url="http://localhost")


def test_search_api_answers_with_ranges_and_names(client, clip):
    body = client.get("/api/search", params={"q": "remzi and necati"}).json()
    assert body["total"] >= 1 and body["query"] == "remzi and necati"
    hit = body["hits"][0]
    assert hit["name"] == "episode.mp4" and hit["video_id"] == 1 and "path" not in hit
    assert 0 <= hit["start"] < hit["end"] <= clip.duration
    assert client.get("/api/characters").json()["characters"][1]["display"] == "Remzi"
    videos = client.get("/api/videos").json()
    assert [v["name"] for v in videos] == ["episode.mp4"] and "path" not in videos[0]
    detail = client.get("/api/videos/1").json()
    assert detail["segments"] and detail["shots"][0]["start"] == 0.0
    assert "/api/search" in client.get("/openapi.json").json()["paths"]


def test_editors_exports_name_the_file_never_its_path(client, clip_video):
    edl = client.get("/api/videos/1/timeline", params={"format": "edl"})
    assert edl.status_code == 200 and edl.headers["content-type"].startswith("text/plain")
    assert "FROM CLIP: episode.mp4" in edl.text and str(clip_video.parent) not in edl.text
    xml = client.get("/api/videos/1/timeline", params={"format": "fcp-xml"})
    assert xml.headers["content-type"].startswith("application/xml") and "<marker>" in xml.text
    assert "<pathurl>episode.mp4</pathurl>" in xml.text and str(clip_video.parent) not in xml.text


def test_every_parameter_is_validated(client):
    bad = client.get("/api/search", params={"q": "remzi and bob"})
    assert bad.status_code == 400 and "valid names" in bad.json()["detail"]
    for url in [
        "/api/search",
        "/api/search?q=",
        "/api/search?q=remzi&min_duration=-1",
        "/api/search?q=remzi&limit=0",
        "/api/search?q=" + "x" * 501,
        "/api/videos/0",
        "/api/videos/abc/file",
        "/api/videos/1/thumbnail?t=-1",
        "/api/videos/1/thumbnail?t=nan",
        "/api/videos/1/timeline?format=exe",
    ]:
        assert client.get(url).status_code == 422, url
    assert client.get("/api/videos/2/file").status_code == 404
    assert client.get("/api/videos/1/thumbnail?t=10000").status_code == 404  # past its end


def test_files_are_served_with_byte_ranges_and_thumbnails_as_jpeg(client, clip_video):
    part = client.get("/api/videos/1/file", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == clip_video.read_bytes()[:100]
    thumb = client.get("/api/videos/1/thumbnail", params={"t": 3.0})
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"


def test_an_index_that_breaks_under_the_server_is_a_problem_without_its_path(served, tmp_path):
    db = tmp_path / "index.db"
    db.write_bytes(served.read_bytes())
    client = TestClient(create_app(db), base_url="http://localhost")
    db.write_text("no longer an index")
    response = client.get("/api/videos")
    assert response.status_code == 503 and "cannot be read" in response.json()["detail"]
    assert str(tmp_path) not in response.text


TRAVERSALS = [
    "/api/videos/1/file/../../../../etc/passwd",
    "/api/videos/../../../../etc/passwd",
    "/api/videos/1/../secret.txt",
    "/api/videos/%2e%2e/%2e%2e/etc/passwd",
    "/api/videos/1%2F..%2F..%2Fsecret.txt/file",
    "/api/videos/..%2fsecret.txt/file",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/secret.txt",
    "/episode.mp4",
    "/static/../secret.txt",
    "/api/videos/1/file?path=../secret.txt",
    "/api/videos/1/file?path=/etc/passwd",
    "//etc/passwd",
]


def raw_get(host: str, port: int, target: str) -> bytes:
    """One request with the target sent byte for byte (no client-side normalising)."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_no_path_traversal_reaches_a_file_outside_the_index(server, served):
    secret = (served.parent / "secret.txt").read_text()
    passwd = Path("/etc/passwd").read_bytes()[:40]
    for target in TRAVERSALS:
        response = raw_get(*server, target)
        status = int(response.split(b" ", 2)[1])
        if target.startswith("/api/videos/1/file?"):
            assert status == 200  # the one indexed video; the stray parameter is ignored
            assert response.split(b"\r\n\r\n", 1)[1][4:8] == b"ftyp"
        else:
            assert status in (400, 404, 422), (target, status)
        assert secret.encode() not in response and passwd not in response, target


def serve(monkeypatch, capsys, *args: str) -> tuple[int, str, list[dict]]:
    """`toontag serve ARGS` through the entry point, the socket it would listen on recorded
    (a free one is bound instead) and nothing served: (exit code, stderr, the host and port of
    each socket it asked for)."""
    from toontag.serve import local

    calls: list[dict] = []
    free = local.listen

    def listen(host: str, port: int):
        calls.append({"host": host, "port": port})
        return free("127.0.0.1", 0)

    monkeypatch.setattr(local, "listen", listen)
    monkeypatch.setattr(local, "serve", lambda app, sock: None)
    monkeypatch.setattr(sys, "argv", ["toontag", "serve", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code or 0, capsys.readouterr().err, calls


def test_serve_binds_this_machine_unless_told_and_never_openly_by_accident(
    monkeypatch, capsys, served
):
    monkeypatch.delenv("TOONTAG_TOKEN", raising=False)
    code, _, calls = serve(monkeypatch, capsys, "--db", str(served))
    assert code == 0 and calls == [{"host": "127.0.0.1", "port": 8000}]

    code, err, calls = serve(monkeypatch, capsys, "--db", str(served), "--host", "0.0.0.0")
    assert code == 1 and calls == [] and len(err.strip().splitlines()) == 1
    assert "--token" in err and "--expose" in err

    code, _, calls = serve(
        monkeypatch, capsys, "--db", str(served), "--host", "0.0.0.0", "--expose"
    )
    assert code == 0 and calls[0]["host"] == "0.0.0.0"

    monkeypatch.setenv("TOONTAG_TOKEN", "x" * 24)
    code, _, calls = serve(monkeypatch, capsys, "--db", str(served), "--host", "0.0.0.0")
    assert code == 0 and calls[0]["host"] == "0.0.0.0"

    code, err, calls = serve(monkeypatch, capsys, "--db", str(served), "--token", "short")
    assert code == 1 and calls == [] and len(err.strip().splitlines()) == 1


@contextlib.contextmanager
def search_page(server):
    """The search page open in headless Chromium, its characters loaded: (page, the page's
    uncaught errors, and its failures: answers of status 400 or more ("STATUS URL") and the
    console's errors, where the browser's own requests (an icon) fail)."""
    from playwright.sync_api import sync_playwright

    host, port = server
    errors: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
        page.on("console", lambda m: m.type == "error" and failed.append(m.text))
        page.goto(f"http://{host}:{port}/")
        page.wait_for_function("document.getElementById('hint').textContent.includes('remzi')")
        yield page, errors, failed
        browser.close()


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_search_then_click_plays_the_range_in_chromium(server):
    with search_page(server) as (page, errors, _):
        page.wait_for_selector("#library tbody tr")
        assert page.inner_text("#library tbody tr td") == "episode.mp4"  # screen time per video
        page.fill("#q", "remzi and bob")
        page.press("#q", "Enter")
        page.wait_for_selector("#status.error")
        assert "valid names" in page.inner_text("#status")

        page.fill("#q", "remzi or necati")
        page.press("#q", "Enter")
        page.wait_for_selector(".hit")
        hits = page.locator(".hit")
        starts = [float(hits.nth(i).get_attribute("data-start")) for i in range(hits.count())]
        target = next(i for i, s in enumerate(starts) if s > 0)  # a range inside the video
        page.wait_for_function(
            "[...document.querySelectorAll('.hit img')].every(i => i.complete && i.naturalWidth)"
        )
        hits.nth(target).click()
        page.wait_for_function(
            """start => { const v = document.getElementById('player');
                return v.readyState >= 1 && !v.seeking && v.currentTime >= start - 0.05
                       && v.currentTime < start + 1.0; }""",
            arg=starts[target],
            timeout=20_000,
        )
        current = page.evaluate("document.getElementById('player').currentTime")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve.png"))
    assert current == pytest.approx(starts[target], abs=1.0) and not errors


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_lanes_draw_each_characters_segments_to_scale_and_a_click_plays_from_there(server):
    """One lane per character along the video's duration: every segment of the index where
    the API puts it (to the pixel), the query's ranges on their own lane and shaded across
    the others; a click on a lane plays from the time under the pointer."""
    with search_page(server) as (page, errors, _):
        page.fill("#q", "remzi and not necati")
        page.press("#q", "Enter")
        page.wait_for_selector(".lanes .axis")
        video_id = page.get_attribute(".lanes", "data-video")
        api = page.evaluate(
            """async id => ({video: await (await fetch(`/api/videos/${id}`)).json(),
                  search: await (await fetch('/api/search?q=remzi+and+not+necati')).json(),
                  info: await (await fetch('/api/characters')).json()})""",
            video_id,
        )
        duration = api["video"]["duration"]

        def spans(selector: str) -> list[tuple[float, float]]:
            """Each element's (start, end) in seconds, read from where it is drawn."""
            return page.eval_on_selector_all(
                selector,
                f"""els => els.map(e => {{
                    const t = e.parentElement.getBoundingClientRect();
                    const b = e.getBoundingClientRect();
                    return [(b.left - t.left) / t.width * {duration},
                            (b.right - t.left) / t.width * {duration}]; }})""",
            )

        track_width = page.eval_on_selector(".lane .track", "t => t.getBoundingClientRect().width")
        pixel = duration / track_width + 1e-6  # one pixel in seconds
        lanes = page.eval_on_selector_all(
            ".lane[data-character]", "ls => ls.map(l => l.dataset.character)"
        )
        assert lanes == [c["name"] for c in api["info"]["characters"]]
        drawn_segments = 0
        for name in lanes:
            segments = sorted(
                (s["start"], s["end"]) for s in api["video"]["segments"] if s["character"] == name
            )
            drawn = sorted(spans(f".lane[data-character='{name}'] .seg"))
            assert len(drawn) == len(segments)
            for (a, b), (start, end) in zip(drawn, segments, strict=True):
                assert a == pytest.approx(start, abs=pixel)
                assert b == pytest.approx(max(end, start + pixel), abs=pixel)  # at least 1 px
            drawn_segments += len(drawn)
            assert len(spans(f".lane[data-character='{name}'] .shade")) == api["search"]["total"]
        assert drawn_segments == len(api["video"]["segments"]) > 0
        ranges = sorted(spans(".lane.query .range"))
        hits = sorted((h["start"], h["end"]) for h in api["search"]["hits"])
        assert len(ranges) == len(hits) > 0
        for (a, b), (start, end) in zip(ranges, hits, strict=True):
            assert (a, b) == (pytest.approx(start, abs=pixel), pytest.approx(end, abs=pixel))

        track = page.locator(".lane[data-character] .track").first.bounding_box()
        page.mouse.click(track["x"] + 0.6 * track["width"], track["y"] + track["height"] / 2)
        wanted = 0.6 * duration
        page.wait_for_function(
            """t => { const v = document.getElementById('player');
                return v.readyState >= 1 && !v.seeking && Math.abs(v.currentTime - t) < 1.0; }""",
            arg=wanted,
            timeout=20_000,
        )
        page.wait_for_function("document.querySelector('.playhead').style.display === 'block'")
        head = page.locator(".playhead").bounding_box()
        current = page.evaluate("document.getElementById('player').currentTime")
        assert head["x"] + 1 == pytest.approx(
            track["x"] + track["width"] * current / duration, abs=2
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-lanes.png"))
    assert not errors


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_query_lane_shows_the_whole_query_and_the_first_load_asks_nothing_missing(server):
    """Before issue 28 the query's lane name was cut to its first word ("“remzi …"), and the
    first load asked for /favicon.ico, a 404 in the console. The whole query is shown (wrapped
    on a line of its own, also as the tooltip), its track still aligned with the others'."""
    query = "(remzi and not necati) or (necati and not remzi)"
    with search_page(server) as (page, errors, failed):
        page.wait_for_load_state("networkidle")  # the browser's own requests (an icon) too
        assert failed == [] and errors == []
        page.fill("#q", query)
        page.press("#q", "Enter")
        page.wait_for_selector(".lanes .axis")
        label = page.eval_on_selector(
            ".lane.query .who",
            """e => ({text: e.textContent, title: e.title,
                      clipped: e.scrollWidth > e.clientWidth || e.scrollHeight > e.clientHeight,
                      width: e.getBoundingClientRect().width})""",
        )
        assert label["text"] == label["title"] == f"“{query}”" and not label["clipped"]
        lefts = page.eval_on_selector_all(
            ".lane .track", "ts => ts.map(t => Math.round(t.getBoundingClientRect().left))"
        )
        assert len(set(lefts)) == 1 and label["width"] > 200
        page.wait_for_load_state("networkidle")
    assert failed == [] and errors == []
