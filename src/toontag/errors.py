"""Exceptions that name the bad value and the fix; the CLI prints them as one red line."""


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
