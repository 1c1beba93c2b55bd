"""An index of one short video made from the dataset, and the app over it under uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from toontag.serve.app import create_app
from toontag.video.db import Index
from toontag.video.indexer import index_videos

SECRET = "top secret, not indexed"


def make_index(folder: Path, video: Path, oracle) -> Path:
    store = Index.create(folder / "index.db", oracle)
    index_videos(store, oracle, [video])
    store.close()
    return folder / "index.db"


@pytest.fixture(scope="session")
def index_of(clip, make_oracle):
    """Index a video into a new index.db in a folder: `index_of(folder, video)`."""
    oracle = make_oracle(clip)
    return lambda folder, video: make_index(folder, video, oracle)


@pytest.fixture(scope="session")
def served(tmp_path_factory, clip_video, index_of) -> Path:
    """The index of the clip, a file beside the index and the clip that must never be served."""
    folder = tmp_path_factory.mktemp("served")
    (folder / "secret.txt").write_text(SECRET)
    (clip_video.parent / "secret.txt").write_text(SECRET)
    return index_of(folder, clip_video)


@contextlib.contextmanager
def running(app):
    """`app` under uvicorn on a free local port, as `toontag serve` runs it: (host, port)."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not app_server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert app_server.started
    try:
        yield "127.0.0.1", port
    finally:
        app_server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def server(served):
    with running(create_app(served)) as address:
        yield address
