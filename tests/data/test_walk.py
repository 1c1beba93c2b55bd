"""The one rule for finding images and videos under a user's folders: hidden names passed over,
link loops ended, only regular files taken, unreadable folders reported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import within
from toontag.data.walk import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    files_under,
    find_files,
    image_files,
)
from toontag.errors import DataError


def touch(*paths):
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_hidden_files_and_folders_are_passed_over(tmp_path):
    touch(
        tmp_path / "b" / "2.JPG",
        tmp_path / "a.png",
        tmp_path / "b" / "._2.JPG",  # a Mac's metadata beside each copied file
        tmp_path / ".DS_Store",
        tmp_path / ".thumbnails" / "3.jpg",
        tmp_path / "notes.txt",
        tmp_path / "clip.mp4",
        tmp_path / "._clip.mp4",
    )
    found = files_under(tmp_path, IMAGE_SUFFIXES)
    assert found.files == [tmp_path / "a.png", tmp_path / "b" / "2.JPG"]
    assert found.unreadable == []
    assert files_under(tmp_path, VIDEO_SUFFIXES).files == [tmp_path / "clip.mp4"]
    hidden = tmp_path / ".thumbnails"  # named by the user, a hidden folder is searched
    assert files_under(hidden, IMAGE_SUFFIXES).files == [hidden / "3.jpg"]


def test_files_come_in_path_order_each_once_and_files_as_given(tmp_path):
    touch(tmp_path / "a" / "z.jpg", tmp_path / "a.b" / "c.jpg", tmp_path / "a" / "b" / "y.jpg")
    missing = tmp_path / "missing.jpg"
    found = find_files([tmp_path, missing, tmp_path / "a", missing], IMAGE_SUFFIXES)
    expected = sorted([tmp_path / "a" / "z.jpg", tmp_path / "a" / "b" / "y.jpg"])
    assert found.files == [*expected, tmp_path / "a.b" / "c.jpg", missing]


def test_links_are_followed_and_a_loop_ends_with_each_file_once(tmp_path):
    touch(tmp_path / "show" / "s1" / "e1.jpg", tmp_path / "elsewhere" / "e2.jpg")
    (tmp_path / "show" / "s1" / "back").symlink_to(tmp_path / "show")  # a loop
    (tmp_path / "show" / "s1" / "self").symlink_to(".")
    (tmp_path / "show" / "more").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "show" / "again").symlink_to(tmp_path / "elsewhere")  # the same folder twice
    found = within(30, lambda: files_under(tmp_path / "show", IMAGE_SUFFIXES))
    assert found.files == [
        tmp_path / "show" / "again" / "e2.jpg",
        tmp_path / "show" / "s1" / "e1.jpg",
    ]


def test_fifos_are_skipped_without_opening_them(tmp_path):
    touch(tmp_path / "a.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")  # opening it would wait for a writer forever
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "pipe.jpg")
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    found = within(30, lambda: files_under(tmp_path, IMAGE_SUFFIXES | VIDEO_SUFFIXES))
    assert found.files == [tmp_path / "a.jpg"]


def test_a_link_loop_a_fifo_and_a_broken_link_are_each_one_line_and_the_rest_searched(tmp_path):
    """The one walker rule (issue 26, item 3): what cannot be taken is named with its reason,
    and the rest is still found; names without a wanted suffix stay unmentioned unless they
    might be a folder (a link that cannot be followed)."""
    touch(tmp_path / "a.jpg", tmp_path / "deep" / "b.jpg", tmp_path / "notes.txt")
    (tmp_path / "self.jpg").symlink_to("self.jpg")  # a loop of one link
    (tmp_path / "ping").symlink_to("pong")  # a loop of two, maybe meant as folders
    (tmp_path / "pong").symlink_to("ping")
    os.mkfifo(tmp_path / "deep" / "pipe.jpg")
    os.mkfifo(tmp_path / "pipe.txt")  # not a wanted name: passed over
    (tmp_path / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    found = within(30, lambda: files_under(tmp_path, IMAGE_SUFFIXES))
    assert found.files == [tmp_path / "a.jpg", tmp_path / "deep" / "b.jpg"]
    loop = "a symlink loop (it cannot be followed)"
    assert found.unreadable == [
        (tmp_path / "deep" / "pipe.jpg", "not a regular file (a FIFO)"),
        (tmp_path / "gone.jpg", "a broken symlink (what it links to is gone)"),
        (tmp_path / "ping", loop),
        (tmp_path / "pong", loop),
        (tmp_path / "self.jpg", loop),
    ]
    with pytest.raises(DataError, match="pipe.jpg: not a regular file"):
        image_files([tmp_path])  # for the commands that learn from a user's images


def test_a_link_to_a_folder_that_cannot_be_entered_is_reported(tmp_path):
    """A link whose target cannot be looked at (it lies in a folder without search permission)
    was passed over without a word. Root reads everything, so as root the walk runs without
    the capability to override permissions (setpriv)."""
    touch(tmp_path / "show" / "a.jpg", tmp_path / "private" / "inner" / "b.jpg")
    (tmp_path / "show" / "more").symlink_to(tmp_path / "private" / "inner")
    (tmp_path / "private").chmod(0)
    walk = textwrap.dedent(
        f"""
        from toontag.data.walk import IMAGE_SUFFIXES, files_under
        found = files_under({str(tmp_path / "show")!r}, IMAGE_SUFFIXES)
        print([str(p) for p in found.files], found.unreadable)
        """
    )
    drop = [
        "--bounding-set=-dac_override,-dac_read_search",
        "--inh-caps=-dac_override,-dac_read_search",
    ]
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("root reads a folder whatever its mode, and setpriv is not installed")
    prefix = ["setpriv", *drop] if os.geteuid() == 0 else []
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", walk],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    finally:
        (tmp_path / "private").chmod(0o755)
    assert done.returncode == 0, done.stderr
    more = tmp_path / "show" / "more"
    assert done.stdout.strip() == (
        f"[{str(tmp_path / 'show' / 'a.jpg')!r}] "
        f"[({more!r}, 'cannot follow this link (permission denied)')]"
    )


def test_an_unreadable_folder_is_reported_and_the_rest_searched(tmp_path, refuse_listing):
    touch(tmp_path / "open" / "a.jpg", tmp_path / "locked" / "b.jpg")
    refuse_listing(tmp_path / "locked")
    found = files_under(tmp_path, IMAGE_SUFFIXES)
    assert found.files == [tmp_path / "open" / "a.jpg"]
    assert found.unreadable == [
        (tmp_path / "locked", "cannot read this folder (permission denied)")
    ]
    assert files_under(tmp_path / "locked", IMAGE_SUFFIXES).unreadable == found.unreadable
    with pytest.raises(DataError, match="locked: cannot read this folder"):
        image_files([tmp_path])  # for the commands that learn from a user's images


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a folder whatever its mode")
def test_a_folder_chmod_000_is_reported(tmp_path):
    touch(tmp_path / "open" / "a.jpg", tmp_path / "locked" / "b.jpg")
    (tmp_path / "locked").chmod(0)
    try:
        found = files_under(tmp_path, IMAGE_SUFFIXES)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert found.files == [tmp_path / "open" / "a.jpg"]
    assert [folder for folder, _ in found.unreadable] == [tmp_path / "locked"]
