"""An index of one short video made from the dataset, and the app over it under uvicorn."""

from __future__ import annotations

from pathlib import Path

import pytest

from toontag.serve.app import create_app
from toontag.serve.local import running
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


@pytest.fixture(scope="session")
def server(served):
    with running(create_app(served)) as address:
        yield address
