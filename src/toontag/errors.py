"""Exceptions that name the bad value and the fix; the CLI prints them as one red line."""

from pathlib import Path


class ToontagError(Exception):
    """Base class for every error a user can cause and fix."""


class FileError(ToontagError):
    """One file that cannot be used: the message is the file, a colon and the reason."""

    def __init__(self, path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DataError(ToontagError):
    """A dataset folder, manifest or image is missing, empty or malformed."""


class BadImageError(DataError, FileError):
    """One image cannot be decoded (unreadable, truncated, not an image)."""


class ModelError(ToontagError):
    """An unknown model name, or weights that cannot be had or do not fit."""


class RunError(ToontagError):
    """A run directory is missing, incomplete or cannot be resumed."""


class VideoError(FileError):
    """A video file that cannot be indexed: missing, empty, truncated, not a video."""


class IndexDbError(ToontagError):
    """An index database that is missing, foreign, or made with another version or model."""


class ProjectError(FileError):
    """A labelling project folder, or one of its files, that cannot be read or written."""


def failure_reason(error: Exception, path: Path) -> str:
    """Why one file failed, in one line: a video's own reason, the system's (permission
    denied), or the exception from the engine or decoder with its type."""
    if isinstance(error, FileError) and Path(error.path) == path:
        text = error.reason
    elif isinstance(error, OSError) and error.strerror:
        text = error.strerror[:1].lower() + error.strerror[1:]
        if error.filename and Path(error.filename) != path:
            text += f" ({error.filename})"
    else:
        first = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {first[0]}" if first else type(error).__name__
    return " ".join(text.split())[:300]
