"""An app served on this machine from a thread: for the tests, benchmarks and screenshots."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


@contextlib.contextmanager
def running(app, *, timeout: float = 20.0):
    """`app` under uvicorn on a free port of 127.0.0.1, as `toontag serve` runs it, until
    the block ends: yields (host, port)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        raise RuntimeError(f"uvicorn did not start on 127.0.0.1:{port} in {timeout:g} s")
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(10)
