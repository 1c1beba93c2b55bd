"""Who may reach the app: loopback Host names by default, a token when one is set, and no
writes from another site's page."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from toontag.serve.access import (
    SameOrigin,
    ServeError,
    check_bind,
    is_loopback,
    trusted_hosts,
)
from toontag.serve.app import SEARCH, create_app

TOKEN = "a-token-of-24-characters"
PATHS = ["/", "/api/videos", "/api/videos/1/file", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def client(served) -> TestClient:
    return TestClient(create_app(served), base_url="http://localhost")


def test_a_rebound_dns_name_cannot_drive_the_api(client):
    for path in PATHS:
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 400, path
        assert "--allowed-host" in response.json()["detail"]
    for host in ["localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"]:
        assert client.get("/api/videos", headers={"Host": host}).status_code == 200, host


def test_a_live_server_refuses_a_foreign_host(server):
    with socket.create_connection(server, timeout=10) as s:
        s.sendall(
            b"GET /api/videos HTTP/1.1\r\nHost: evil.example:8000\r\nConnection: close\r\n\r\n"
        )
        answer = b"".join(iter(lambda: s.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 400") and b"episode.mp4" not in answer


def test_allowed_hosts_widen_the_names(served):
    hosts = trusted_hosts("0.0.0.0", ["tv.lan", "Media.Example:8000"])
    assert hosts == ("localhost", "127.0.0.1", "::1", "tv.lan", "media.example")
    client = TestClient(create_app(served, allowed_hosts=hosts), base_url="http://tv.lan")
    assert client.get("/api/videos").status_code == 200
    assert client.get("/api/videos", headers={"Host": "0.0.0.0"}).status_code == 400
    assert "192.168.1.5" in trusted_hosts("192.168.1.5")


def test_a_token_guards_every_request(served):
    client = TestClient(create_app(served, token=TOKEN), base_url="http://localhost")
    for path in PATHS:
        response = client.get(path)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get(f"/?token={TOKEN[:-1]}").status_code == 401

    visit = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert visit.status_code == 303 and visit.headers["location"] == "/"
    assert "HttpOnly" in visit.headers["set-cookie"]
    name, session = login_cookie(visit)
    for path in PATHS:  # the cookie as the client kept it, as a browser sends it back
        assert client.get(path).status_code == 200, path
    # From here on each request carries only the cookie it names: the kept (right) one went
    # beside it, first with starlette 0.36's test client, and let the wrong one in.
    client.cookies.clear()
    for path in PATHS:
        assert client.get(path, headers={"Cookie": f"{name}={session}"}).status_code == 200, path
    assert client.get("/", headers={"Cookie": f"{name}=nope"}).status_code == 401
    # the cookie holds the session, not the token
    assert client.get("/", headers={"Cookie": f"{name}={TOKEN}"}).status_code == 401


def login_cookie(visit) -> tuple[str, str]:
    """The cookie (name, value) that a visit to /?token=TOKEN set."""
    name, _, rest = visit.headers["set-cookie"].partition("=")
    return name, rest.split(";", 1)[0]


def test_one_servers_cookie_opens_nothing_on_another(served):
    """Browsers send a host's cookies to every port: two servers started with the same token
    each mint their own session under a name of their own."""
    first = TestClient(create_app(served, token=TOKEN), base_url="http://localhost")
    second = TestClient(create_app(served, token=TOKEN), base_url="http://localhost")
    name, session = login_cookie(first.get(f"/?token={TOKEN}", follow_redirects=False))
    other, _ = login_cookie(second.get(f"/?token={TOKEN}", follow_redirects=False))
    first.cookies.clear(), second.cookies.clear()  # each request below names its cookie
    assert TOKEN not in (name, session) and name != other  # neither logs the other out
    assert first.get("/api/videos", cookies={name: session}).status_code == 200
    assert second.get("/api/videos", cookies={name: session}).status_code == 401
    assert second.get("/api/videos", cookies={other: session}).status_code == 401


def test_the_bind_is_loopback_unless_exposed_or_guarded():
    for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]:
        assert is_loopback(host), host
        check_bind(host, 8000, served=SEARCH, expose=False, token=None)
    for host in ["0.0.0.0", "::", "192.168.1.5", "media.example"]:
        assert not is_loopback(host), host
        with pytest.raises(ServeError, match="--expose"):
            check_bind(host, 8000, served=SEARCH, expose=False, token=None)
        check_bind(host, 8000, served=SEARCH, expose=True, token=None)
        check_bind(host, 8000, served=SEARCH, expose=False, token=TOKEN)


@pytest.mark.parametrize("token", ["short", "x" * 15, "with spaces in it, 24 chars", "é" * 20])
def test_a_weak_or_unquotable_token_is_refused(served, token):
    with pytest.raises(ServeError, match="16 or more"):
        create_app(served, token=token)


def test_a_write_from_another_sites_page_is_refused():
    from fastapi import FastAPI

    app = FastAPI()
    app.post("/write")(lambda: {"ok": True})
    app.get("/read")(lambda: {"ok": True})
    app.add_middleware(SameOrigin)
    client = TestClient(app, base_url="http://localhost:8001")
    for origin in ["http://evil.example", "http://localhost.evil.example", "file://localhost:8001"]:
        refused = client.post("/write", headers={"Origin": origin})
        assert refused.status_code == 403 and "another site" in refused.json()["detail"], origin
    assert client.post("/write", headers={"Referer": "http://evil.example/page"}).status_code == 403
    assert client.get("/read", headers={"Origin": "http://evil.example"}).status_code == 200
    for same in [{"Origin": "http://localhost:8001"}, {"Referer": "https://LOCALHOST:8001/"}, {}]:
        assert client.post("/write", headers=same).status_code == 200, same
