"""Every request's body is bounded before it is read (limits.py): announced too large, it is
refused unread; sent in chunks, it is refused as soon as it passes the limit, and the server
never holds more than the limit of it. The label app's routes: tests/labelling/test_server.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading

from toontag.serve.limits import MAX_BODY, BodyLimit

CHUNK = 64 * 1024


def answer_of(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    return b"".join(iter(lambda: s.recv(65536), b""))


def test_a_body_announced_over_the_limit_is_refused_before_it_is_read(server):
    with socket.create_connection(server, timeout=10) as s:
        s.sendall(
            b"GET /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{"
        )
        answer = answer_of(s)  # a server reading the body would wait for 1 GB here
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"at most" in answer and b"episode.mp4" not in answer


def test_a_chunked_body_is_refused_once_it_passes_the_limit(server):
    answer = bytearray()

    def read(s: socket.socket) -> None:  # beside the sending: a reset may follow the answer
        with contextlib.suppress(OSError):
            for data in iter(lambda: s.recv(65536), b""):
                answer.extend(data)

    with socket.create_connection(server, timeout=10) as s:
        reader = threading.Thread(target=read, args=(s,))
        reader.start()
        s.sendall(
            b"GET /api/videos HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n%s\r\n" % (CHUNK, b" " * CHUNK)
        sent = 0
        with contextlib.suppress(OSError):  # refused and closed while sending
            while sent < 64 * MAX_BODY and not answer:
                s.sendall(chunk)
                sent += CHUNK
        reader.join(10)
    assert bytes(answer).startswith(b"HTTP/1.1 413"), bytes(answer[:200])
    assert sent < 64 * MAX_BODY  # refused while the body was still coming


def test_the_server_never_holds_more_than_the_limit_of_an_endless_body():
    pulled, sent, reached = 0, [], []

    async def endless():
        nonlocal pulled
        pulled += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": True}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        reached.append(scope["path"])

    scope = {"type": "http", "method": "POST", "path": "/api/answers", "headers": []}
    asyncio.run(BodyLimit(app)(scope, endless, send))
    assert sent[0]["status"] == 413 and reached == []
    assert pulled <= MAX_BODY + CHUNK


def test_a_body_within_the_limit_reaches_the_app_whole():
    chunks = [b"ab", b"cd", b""]
    received = []

    async def receive():
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def app(scope, receive, send):
        received.append(await receive())

    async def send(message):
        raise AssertionError(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(BodyLimit(app)(scope, receive, send))
    assert received == [{"type": "http.request", "body": b"abcd", "more_body": False}]
