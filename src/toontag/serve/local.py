"""Serving an app under uvicorn on a socket bound first, so that the address a person is shown
is the one served: in the foreground for `toontag serve` and `label serve`, or from a thread
for the tests, benchmarks and screenshots."""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time

from toontag.serve.access import ServeError

BACKLOG = 2048  # uvicorn's own default


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on `host`:`port` as uvicorn would bind it (port 0: a free one; its
    `getsockname()` says which). A port that is taken or refused is a `ServeError` naming it
    and `--port`."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise ServeError(
                f"port {port} on {host} is taken (another server listens there): choose another "
                "with --port, or --port 0 for a free one"
            ) from None
        reason = e.strerror or type(e).__name__
        raise ServeError(
            f"cannot listen on {host} port {port}: {reason[:1].lower()}{reason[1:]}; choose "
            "another --port (or --host)"
        ) from None
    return sock


def server(app, *, log_level: str = "warning"):
    """A uvicorn server of `app`, to run on a socket from `listen`."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level=log_level))


def serve(app, sock: socket.socket) -> None:
    """Serve `app` on `sock` until Ctrl+C (or SIGTERM), as `uvicorn.run` would: a server that
    fails to start exits with uvicorn's status 3, after uvicorn's own log line."""
    running_server = server(app)
    with contextlib.suppress(KeyboardInterrupt):
        running_server.run(sockets=[sock])
    if not running_server.started:
        raise SystemExit(3)


@contextlib.contextmanager
def running(app, *, timeout: float = 20.0):
    """`app` under uvicorn on a free port of 127.0.0.1, as `toontag serve` runs it, until
    the block ends: yields (host, port)."""
    with listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        threaded = server(app)
        thread = threading.Thread(target=threaded.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        while not threaded.started and time.monotonic() < deadline:
            time.sleep(0.05)
        if not threaded.started:
            raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port} in {timeout:g} s")
        try:
            yield "127.0.0.1", port
        finally:
            threaded.should_exit = True
            thread.join(10)
