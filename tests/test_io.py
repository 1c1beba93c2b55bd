"""Writers replace a regular file or nothing; readers open regular files only (issue 26)."""

from __future__ import annotations

import os
import stat

import pytest

from tests.conftest import within
from toontag.errors import FileError
from toontag.io import (
    hash_file,
    open_regular,
    read_csv,
    read_text,
    write_bytes,
    write_json,
    write_text,
)


def device_node(path):
    """A character device like /dev/null at `path` (mknod needs root); None where it cannot be
    made, so no test ever writes at the real /dev/null."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        return None
    return path


def test_an_atomic_writer_refuses_a_fifo_a_device_and_a_symlink_and_leaves_them_as_they_were(
    tmp_path,
):
    """Before: each was replaced by a regular file (a symlink's target stayed empty; as root, a
    device node went). Now each is a one-line FileError naming it, and is left as it was."""
    target = tmp_path / "target.csv"
    target.write_text("the user's own\n")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "link.csv").symlink_to(target)
    (tmp_path / "folder-link").symlink_to(tmp_path)
    refused = {
        "pipe.csv": "is a FIFO, not a regular file; toontag replaces only regular files",
        "link.csv": "is a symlink, not a regular file; toontag replaces only regular files "
        "(name the file it links to)",
        "folder-link": "is a symlink, not a regular file",
    }
    if device_node(tmp_path / "null"):
        refused["null"] = "is a character device, not a regular file"
    for name, reason in refused.items():
        with pytest.raises(FileError) as caught:
            within(30, lambda name=name: write_text(tmp_path / name, "tags\n"))
        assert str(caught.value).startswith(f"{tmp_path / name}: {reason}")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.csv").st_mode)
    assert os.readlink(tmp_path / "link.csv") == str(target)
    assert target.read_text() == "the user's own\n"
    if "null" in refused:
        assert stat.S_ISCHR(os.lstat(tmp_path / "null").st_mode)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_regular_file_or_nothing_is_written_whole(tmp_path):
    (tmp_path / "old.json").write_text("{}")
    write_json(tmp_path / "old.json", {"a": 1})
    write_bytes(tmp_path / "new" / "file.bin", b"\x00\x01")
    assert read_text(tmp_path / "old.json") == '{\n  "a": 1\n}\n'
    assert (tmp_path / "new" / "file.bin").read_bytes() == b"\x00\x01"
    with pytest.raises(FileError, match="is a folder; name a file to write"):
        write_text(tmp_path / "new", "x")


def test_readers_name_a_fifo_a_folder_and_a_link_loop_without_waiting(tmp_path):
    """Before: opening a FIFO waited for a writer forever (the test then times out)."""
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    (tmp_path / "loop.csv").symlink_to("loop.csv")
    for read in (open_regular, read_text, read_csv, hash_file):
        with pytest.raises(FileError, match=r"pipe.csv: not a regular file \(a FIFO\)$"):
            within(30, lambda read=read: read(fifo), fifos=[fifo])
    with pytest.raises(FileError, match=r": not a regular file \(a folder\)$"):
        open_regular(tmp_path)
    with pytest.raises(FileError, match="loop.csv: a symlink loop"):
        read_text(tmp_path / "loop.csv")
    with pytest.raises(FileNotFoundError):  # the system's own error, for callers' words
        open_regular(tmp_path / "missing.csv")
    (tmp_path / "ok.csv").write_text("path,labels\r\na.jpg,x\n")
    assert read_csv(tmp_path / "ok.csv", columns=("path",)) == [{"path": "a.jpg", "labels": "x"}]
