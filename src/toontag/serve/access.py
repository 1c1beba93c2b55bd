"""Who may reach an app: the names it answers to, an optional token, and where it may bind.

The API has no users or passwords. By default the server listens on 127.0.0.1 and answers only
requests addressed to a loopback name (the Host header), so a web page whose DNS name is
rebound to 127.0.0.1 cannot drive it from the browser. Listening on another interface
(`--host 0.0.0.0`) shows what the server serves (every indexed video; a project's frames and
labels) to anyone who can reach the port; toontag refuses that unless told so (`--expose`) or
given a token that every request must then carry. A write whose page is another site's (its
Origin or Referer) is refused too, so no page on the web can write through a browser that has
the app open.

Browsers send a cookie to every port of a host, so the cookie a visit to /?token=TOKEN sets
holds a session minted by that server alone, never the token, under a name of its own: it
opens nothing on another server (even one started with the same token), and logging in to one
server logs nothing out of another.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from toontag.errors import ToontagError

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")  # what a browser on this machine sends
SESSION_COOKIE = "toontag_session_"  # + a server's own suffix: set by visiting /?token=...
MIN_TOKEN_LENGTH = 16  # shorter tokens can be guessed over a LAN
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9_-]+")  # URL-safe base64: no quoting anywhere
TOKEN_HINT = "python -c 'import secrets; print(secrets.token_urlsafe())'"
WRITES = ("POST", "PUT", "PATCH", "DELETE")  # the methods SameOrigin guards


class ServeError(ToontagError):
    """A server that must not start as asked: an open bind without a token, a weak token."""


@dataclass(frozen=True)
class Served:
    """Which server a refusal speaks for: the command that starts it, and what anyone who
    reaches it could do without a login."""

    command: str
    reach: str


@dataclass(frozen=True)
class Login:
    """A server's credentials: its token, and the session and cookie name it minted itself
    (the cookie holds the session, never the token; see the module)."""

    token: str
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    cookie: str = field(default_factory=lambda: SESSION_COOKIE + secrets.token_hex(4))


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to any interface


def check_bind(host: str, port: int, *, served: Served, expose: bool, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token, unless `expose` says so."""
    if is_loopback(host) or expose or token:
        return
    raise ServeError(
        f"--host {host} listens beyond this machine and the API has no login: anyone who can "
        f"reach port {port} could {served.reach}. Require a token with --token (or "
        "$TOONTAG_TOKEN), or pass --expose to serve it openly anyway"
    )


def check_token(token: str) -> None:
    """A token must be hard to guess and travel unchanged in a URL, a header and a cookie."""
    if len(token) < MIN_TOKEN_LENGTH or not TOKEN_CHARACTERS.fullmatch(token):
        raise ServeError(
            f"a token needs {MIN_TOKEN_LENGTH} or more letters, digits, '-' or '_' "
            f"(this one has {len(token)} characters): make one with {TOKEN_HINT}"
        )


HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # one dot-separated part of a DNS name


def check_host_name(name: str, option: str) -> None:
    """An IP address or a DNS name (ASCII letters, digits and '-' between dots), else a
    `ServeError` naming the option."""
    try:
        ipaddress.ip_address(name.strip("[]"))
        return
    except ValueError:
        pass
    labels = name.lower().rstrip(".").split(".")
    if not (0 < len(name) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)):
        raise ServeError(
            f"{option} {name[:60]!r}: not a host name or IP address "
            "(e.g. 192.168.1.20 or toontag.lan; an international name in its xn-- form)"
        )


def trusted_hosts(host: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The Host names requests may use: loopback names, the bound host unless it is a
    wildcard (0.0.0.0, ::), and `extra` (`--allowed-host`)."""
    check_host_name(host, "--host")
    for name in extra:
        check_host_name(_bare(name) if name.strip() else name, "--allowed-host")  # port ok
    names = [*LOOPBACK_NAMES, *extra]
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wildcard = False
    if not wildcard:
        names.append(host)
    return tuple(dict.fromkeys(_bare(n) for n in names))


def _bare(host: str) -> str:
    """A Host header's name without its port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())  # constant time


class AccessGuard:
    """ASGI middleware: 400 for a Host not allowed, 401 without the token (when one is set).

    The token comes as `Authorization: Bearer TOKEN`, or the request carries the session
    cookie that `/?token=TOKEN` sets before redirecting to `/` (so the page's own requests
    carry it). `served`: whose refusals these are."""

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str], login: Login | None, served: Served
    ):
        self.app = app
        self.allowed = frozenset(_bare(h) for h in allowed_hosts)
        self.login = login
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if _bare(headers.get("host", "")) not in self.allowed:
            detail = f"this Host is not served: add it with {self.served.command} --allowed-host"
            await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
            return
        if self.login is not None:
            response = self._authorize(scope, headers, self.login)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _authorize(scope: Scope, headers: dict[str, str], login: Login) -> JSONResponse | None:
        """None when the request carries the token or this server's session; else the answer
        to send instead."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/" and "token" in query:
            if not _same(query["token"][-1], login.token):
                return _unauthorized()
            done = RedirectResponse("/", status_code=303)
            done.set_cookie(login.cookie, login.session, httponly=True, samesite="lax")
            return done
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and _same(given.strip(), login.token):
            return None
        cookie = _cookie(headers.get("cookie", ""), login.cookie)
        if cookie is not None and _same(cookie, login.session):
            return None
        return _unauthorized()


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"detail": "a token is required: open /?token=TOKEN once, or send Authorization: Bearer"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


class SameOrigin:
    """ASGI middleware: 403 for a write whose Origin (or, without one, Referer) names another
    site than the Host it was sent to. A browser always sends Origin on a cross-site POST;
    requests that carry neither (curl, scripts) come from no web page."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITES:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            origin = headers.get("origin") or headers.get("referer")
            if origin is not None and not _same_site(origin, headers.get("host", "")):
                refusal = JSONResponse(
                    {
                        "detail": "a write from another site's page is refused "
                        "(its Origin is not this server)"
                    },
                    status_code=403,
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _same_site(origin: str, host: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def token_security(login: Login) -> list:
    """How the OpenAPI document describes the token (a bearer header or the session cookie);
    `AccessGuard` is what enforces it, on every path."""
    from fastapi import Security
    from fastapi.security import APIKeyCookie, HTTPBearer

    return [
        Security(HTTPBearer(auto_error=False)),
        Security(APIKeyCookie(name=login.cookie, auto_error=False)),
    ]
