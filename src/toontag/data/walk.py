"""Find the image and video files under the paths a user gives, by one rule for every command.

Names starting with '.' are passed over, files and folders alike: a Mac leaves `._NAME.jpg`
beside each file it copies and `.DS_Store` in each folder, and neither is a picture. Symlinks to
folders are followed, but a folder already entered (the same device and inode) is not entered
again, so a link loop ends and a folder linked twice is listed once. Only regular files are
taken: a FIFO, socket or device is never opened (opening a FIFO waits for a writer).

What cannot be taken is returned with the reason, for the command to report in its own way
(one line each), and the rest are still searched: a folder that cannot be listed, a link that
cannot be followed (a loop of links, a folder it may not enter), and an entry with a wanted
suffix that is not a regular file (a FIFO, socket or device, a link to nothing).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from toontag.errors import DataError
from toontag.io import LOOP, not_regular

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts"}


@dataclass(frozen=True)
class Found:
    files: list[Path] = field(default_factory=list)  # in path order, each once
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # entries, and why


def entries(folder: Path) -> list[os.DirEntry]:
    """The entries of `folder` whose names do not start with '.', in name order; raises the
    system's `OSError` when it cannot be listed."""
    with os.scandir(folder) as listing:
        return sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)


def unreadable_reason(error: OSError) -> str:
    """Why a folder could not be listed, in the words every command reports."""
    text = error.strerror or str(error) or type(error).__name__
    return f"cannot read this folder ({text[:1].lower()}{text[1:]})"


BROKEN = "a broken symlink (what it links to is gone)"


def followed_reason(error: OSError) -> str:
    """Why a link could not be followed (`os.stat` failed on it), in the words every command
    reports."""
    if error.errno == errno.ELOOP:
        return LOOP
    text = error.strerror or str(error) or type(error).__name__
    return f"cannot follow this link ({text[:1].lower()}{text[1:]})"


def file_problem(path: Path | str) -> str | None:
    """Why `path` is not a regular file to read (links followed), or None when it is one."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return BROKEN if os.path.islink(path) else "no such file"
    except OSError as e:
        return followed_reason(e)
    return None if stat.S_ISREG(mode) else not_regular(mode)


def listed(folder: Path) -> tuple[list[Path], list[Path]]:
    """The folders and the regular files in `folder` (links followed, hidden names passed
    over), in name order, for reading a dataset's folders: a link that cannot be followed (a
    loop) is a `DataError` naming it, since an entry left out would change what is learnt."""
    folders, files = [], []
    for entry in entries(folder):
        try:
            if entry.is_dir():
                folders.append(folder / entry.name)
            elif entry.is_file():  # a FIFO is never opened
                files.append(folder / entry.name)
        except OSError as e:
            raise DataError(f"{folder / entry.name}: {followed_reason(e)}") from None
    return folders, files


def files_under(folder: Path | str, suffixes: Iterable[str]) -> Found:
    """The regular files below `folder` (recursively) whose suffix, in any case, is one of
    `suffixes`, by the module's rule."""
    suffixes = {s.lower() for s in suffixes}
    files, unreadable, entered = [], [], set()
    waiting = [Path(folder)]
    while waiting:
        current = waiting.pop()
        try:
            info = current.stat()
            if (info.st_dev, info.st_ino) in entered:
                continue  # a link back to a folder already searched
            entered.add((info.st_dev, info.st_ino))
            listed = entries(current)
        except OSError as e:
            unreadable.append((current, unreadable_reason(e)))
            continue
        for entry in reversed(listed):  # popped in name order: the first of two links wins
            path = current / entry.name
            wanted = Path(entry.name).suffix.lower() in suffixes
            try:
                if entry.is_dir():
                    waiting.append(path)
                elif wanted and entry.is_file():
                    files.append(path)
                elif wanted and (problem := file_problem(path)) not in (None, "no such file"):
                    unreadable.append((path, problem))  # "no such file": gone since listed
            except OSError as e:  # a link that cannot be followed: it may name a folder
                unreadable.append((path, followed_reason(e)))
    return Found(sorted(files), sorted(unreadable))


def find_files(paths: Iterable[Path | str], suffixes: Iterable[str]) -> Found:
    """`paths` with each folder replaced by the files under it (`files_under`), each path once,
    in order; other paths as given, whether or not they exist."""
    files, unreadable = [], []
    for path in map(Path, paths):
        if path.is_dir():
            found = files_under(path, suffixes)
            files += found.files
            unreadable += found.unreadable
        else:
            files.append(path)
    return Found(list(dict.fromkeys(files)), list(dict.fromkeys(unreadable)))


def image_files(paths: Iterable[Path | str]) -> list[Path]:
    """`find_files` for images, where a folder that cannot be searched stops the command: for
    the commands that learn from the images a user names, a folder left out would quietly
    change what they learn."""
    found = find_files(paths, IMAGE_SUFFIXES)
    if found.unreadable:
        folder, reason = found.unreadable[0]
        raise DataError(f"{folder}: {reason}")
    return found.files
