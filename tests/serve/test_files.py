"""A video's file is served only while it is the file indexed, and no answer shows its path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.video.test_decode import damaged
from toontag.serve import files
from toontag.serve.app import create_app
from toontag.serve.files import FileChanged, IndexedFile, RangeNotSatisfiable, byte_range
from toontag.video.db import Index

PASSWD = Path("/etc/passwd").read_bytes()[:40]
VIDEO_URLS = [
    "/api/videos/1/file",
    "/api/videos/1/thumbnail?t=3",
    "/api/videos/1/timeline?format=vtt",
    "/api/videos/1",
]


class Victim:
    """A copy of the clip, indexed, that a test may replace; `restore()` puts it back."""

    def __init__(self, folder: Path, video: Path, db: Path):
        self.folder, self.video, self.db = folder, video, db
        self.data = video.read_bytes()
        store = Index(db)
        self.mtime_ns = store.lookup(str(video))["mtime_ns"]
        store.close()

    def restore(self) -> None:
        if self.video.is_symlink() or self.video.exists():
            self.video.unlink()
        self.video.write_bytes(self.data)
        self.stamp(self.video)

    def stamp(self, path: Path) -> Path:
        """Give `path` the mtime the index recorded for the video."""
        os.utime(path, ns=(self.mtime_ns, self.mtime_ns))
        return path

    def twin(self, data: bytes | None = None) -> Path:
        """A file beside the video with its size and mtime (and its bytes, or `data`)."""
        path = self.folder / "twin.mp4"
        path.write_bytes(self.data if data is None else data)
        return self.stamp(path)


@pytest.fixture(scope="module")
def indexed_copy(tmp_path_factory, clip_video, index_of) -> Victim:
    folder = tmp_path_factory.mktemp("victim")
    video = folder / "episode.mp4"
    shutil.copy2(clip_video, video)
    return Victim(folder, video, index_of(folder, video))


@pytest.fixture
def victim(indexed_copy) -> Victim:
    indexed_copy.restore()
    yield indexed_copy
    indexed_copy.restore()


@pytest.fixture
def client(victim) -> TestClient:
    return TestClient(create_app(victim.db), base_url="http://localhost")


def refused(client: TestClient, victim: Victim, url: str, status: int) -> dict:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    assert PASSWD not in response.content and str(victim.folder) not in response.text, url
    assert response.headers["content-type"] == "application/json"
    return response.json()


def test_served_while_it_is_the_file_indexed(client, victim):
    for url in VIDEO_URLS:
        assert client.get(url).status_code == 200, url
    assert client.get(VIDEO_URLS[0]).content == victim.data


def test_a_video_swapped_for_a_symlink_is_not_followed(client, victim):
    victim.video.unlink()
    victim.video.symlink_to("/etc/passwd")
    for url in VIDEO_URLS:
        assert "re-index" in refused(client, victim, url, 409)["detail"]
    # Even a link to a file of the indexed size and mtime is not followed.
    victim.video.unlink()
    victim.video.symlink_to(victim.twin())
    for url in VIDEO_URLS:
        refused(client, victim, url, 409)


def test_a_file_of_another_size_or_mtime_is_refused_and_a_missing_one_is_gone(client, victim):
    victim.video.write_bytes(victim.data + b"\0")
    victim.stamp(victim.video)
    for url in VIDEO_URLS:
        refused(client, victim, url, 409)
    victim.restore()
    os.utime(victim.video, ns=(victim.mtime_ns, victim.mtime_ns + 1_000_000_000))
    for url in VIDEO_URLS:
        refused(client, victim, url, 409)
    victim.video.unlink()
    victim.video.mkdir()
    refused(client, victim, VIDEO_URLS[0], 409)
    victim.video.rmdir()
    for url in VIDEO_URLS:
        assert "no longer where it was indexed" in refused(client, victim, url, 404)["detail"]


def test_the_check_and_the_read_are_on_the_same_open_file(client, victim, monkeypatch):
    """The race a check-then-open loses: the path swapped for a link just before the open is
    refused; swapped just after, the file opened (and checked) is the one served."""
    real_open = os.open

    def swap_before(path, flags, *args):
        if str(path) == str(victim.video):
            victim.video.unlink()
            victim.video.symlink_to("/etc/passwd")
        return real_open(path, flags, *args)

    monkeypatch.setattr(files.os, "open", swap_before)
    refused(client, victim, VIDEO_URLS[0], 409)
    monkeypatch.undo()
    victim.restore()

    def swap_after(path, flags, *args):
        fd = real_open(path, flags, *args)
        if str(path) == str(victim.video):
            victim.video.unlink()
            victim.video.symlink_to("/etc/passwd")
        return fd

    monkeypatch.setattr(files.os, "open", swap_after)
    whole = client.get(VIDEO_URLS[0])
    assert whole.status_code == 200 and whole.content == victim.data


def test_no_error_shows_a_server_path(client, victim):
    # A file that passes the size and mtime check but does not decode: FFmpeg's error.
    victim.video.unlink()
    victim.twin(b"\0" * len(victim.data)).rename(victim.video)
    body = refused(client, victim, "/api/videos/1/thumbnail?t=3", 404)
    assert body["detail"].startswith("video 1: not a readable video")
    for url, status in [
        ("/api/videos/9", 404),
        ("/api/videos/1/thumbnail?t=999", 404),
        ("/api/videos/1/thumbnail?t=-1", 422),
        ("/api/search?q=bob", 400),
        ("/api/videos/1/file?x=1", 200),
    ]:
        response = client.get(url)
        assert response.status_code == status and str(victim.folder) not in response.text


def test_a_video_damaged_in_place_gets_a_json_error(client, victim):
    """Damaged with its size and mtime kept (the index cannot tell): the thumbnail's seek
    fails in FFmpeg, and the answer is a 404 in JSON naming no path, not a plain-text 500."""
    victim.video.write_bytes(damaged(victim.video, b"stsz"))
    victim.stamp(victim.video)
    body = refused(client, victim, "/api/videos/1/thumbnail?t=3", 404)
    assert body["detail"].startswith("video 1: cannot decode at 3.0s")


def test_byte_ranges_are_served_as_players_ask(client, victim):
    url, data, size = VIDEO_URLS[0], victim.data, len(victim.data)
    for asked, status, expected, content_range in [
        ("bytes=0-99", 206, data[:100], f"bytes 0-99/{size}"),
        ("bytes=100-", 206, data[100:], f"bytes 100-{size - 1}/{size}"),
        ("bytes=-10", 206, data[-10:], f"bytes {size - 10}-{size - 1}/{size}"),
        (f"bytes={size - 1}-{size + 50}", 206, data[-1:], f"bytes {size - 1}-{size - 1}/{size}"),
        ("bytes=0-9, 20-29", 200, data, None),  # several ranges: the whole file
        ("items=0-9", 200, data, None),
        ("bytes=9-0", 200, data, None),
    ]:
        response = client.get(url, headers={"Range": asked})
        assert (response.status_code, response.content) == (status, expected), asked
        assert response.headers.get("content-range") == content_range, asked
        assert response.headers["content-type"] == "video/mp4", asked
        assert int(response.headers["content-length"]) == len(expected), asked
    past = client.get(url, headers={"Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert "past the file's end" in past.json()["detail"]
    etag = client.get(url, headers={"Range": "bytes=0-0"}).headers["etag"]
    same = client.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    other = client.get(url, headers={"Range": "bytes=0-9", "If-Range": '"older"'})
    assert (same.status_code, other.status_code, other.content) == (206, 200, data)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-0", (0, 1)),
        ("BYTES = 5-", None),
        ("bytes=5-", (5, 1000)),
        ("bytes=-0", RangeNotSatisfiable),
        ("bytes=-5000", (0, 1000)),
        ("bytes=1000-", RangeNotSatisfiable),
        ("bytes=" + "0" * 30 + "7-" + "9" * 5000, (7, 1000)),
        ("bytes=-", None),
        ("bytes=٣-", None),  # digits of other scripts are not byte offsets
    ],
)
def test_byte_range(header, expected):
    if expected is RangeNotSatisfiable:
        with pytest.raises(RangeNotSatisfiable):
            byte_range(header, 1000)
    else:
        assert byte_range(header, 1000) == expected


def test_a_fifo_in_a_videos_place_does_not_hang_the_server(tmp_path):
    fifo = tmp_path / "episode.mp4"
    os.mkfifo(fifo)
    with pytest.raises(FileChanged):
        IndexedFile(str(fifo), size=0, mtime_ns=fifo.stat().st_mtime_ns)
