"""Thumbnails: the frame at a time as a small JPEG, the recent ones kept in memory."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from toontag.serve.files import IndexedFile
from toontag.video.decode import Video

WIDTH = 320  # pixels, the longer side
KEPT = 512  # thumbnails kept in memory (a page of hits asks for each one once)


class Thumbnails:
    """The most recent thumbnails, keyed by file (path, size, mtime) and time to 0.1 s. A
    file that changed is a new key, and only a file that passed the check is ever looked up;
    the frame is decoded from that open file, never from its path."""

    def __init__(self, size: int = KEPT):
        self.size = size
        self.kept: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, path: str, file: IndexedFile, seconds: float) -> bytes:
        """Raises VideoError when no frame can be decoded there."""
        key = (path, file.size, file.mtime_ns, round(seconds, 1))
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        data = jpeg(file.reopenable, key[-1])  # unlocked: other frames decode meanwhile
        with self.lock:
            self.kept[key] = data
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return data


def jpeg(source: str, seconds: float) -> bytes:
    with Video(source) as video:
        image = video.image_at(seconds)
    image.thumbnail((WIDTH, WIDTH))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
