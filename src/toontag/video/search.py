"""Answer a query over an index: the merged time ranges where it holds, per video; and a
video's timeline of who is on screen, as SRT, WebVTT or CSV."""

from __future__ import annotations

from dataclasses import dataclass

from toontag.io import csv_text
from toontag.video.db import Index
from toontag.video.query import Query, parse_query
from toontag.video.segments import Segment, elementary, merged_ranges

TIMELINE_FORMATS = ("srt", "vtt", "csv")


@dataclass(frozen=True)
class Hit:
    video_id: int
    path: str
    start: float
    end: float

    def to_dict(self) -> dict:
        return {
            "video_id": self.video_id,
            "path": self.path,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration": round(self.end - self.start, 3),
        }


def search(index: Index, text: str, *, min_duration: float = 0.0) -> list[Hit]:
    """Every range, in every indexed video, where the query `text` holds."""
    query = parse_query(text, index.classes)
    hits = []
    for video in index.videos():
        segments = index.segments(video["id"])
        for start, end in query_ranges(query, segments, video["duration"], min_duration):
            hits.append(Hit(video["id"], video["path"], start, end))
    return hits


def query_ranges(
    query: Query, segments: list[Segment], duration: float, min_duration: float = 0.0
) -> list[tuple[float, float]]:
    """The merged ranges of [0, duration] where `query` holds over `segments`."""
    edges, present = elementary(segments, len(query.classes), duration)
    return merged_ranges(edges, query.evaluate(present), min_duration)


def display_name(name: str) -> str:
    """'fil_necati' -> 'Fil Necati'."""
    return " ".join(part.capitalize() for part in name.split("_"))


def cues(index: Index, video_id: int, duration: float) -> list[tuple[float, float, list[str]]]:
    """(start, end, characters) for every stretch with someone on screen."""
    edges, present = elementary(index.segments(video_id), len(index.classes), duration)
    return [
        (float(edges[k]), float(edges[k + 1]), [index.classes[c] for c in row.nonzero()[0]])
        for k, row in enumerate(present)
        if row.any()
    ]


def clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def format_timeline(timeline: list[tuple[float, float, list[str]]], fmt: str) -> str:
    """The cues as an SRT or WebVTT subtitle track, or CSV (start,end,characters)."""
    if fmt == "csv":
        rows = ((f"{a:.3f}", f"{b:.3f}", ";".join(names)) for a, b, names in timeline)
        return csv_text(["start", "end", "characters"], rows)
    separator = "," if fmt == "srt" else "."
    blocks = [
        f"{clock(a, separator)} --> {clock(b, separator)}\n"
        + ", ".join(display_name(n) for n in names)
        for a, b, names in timeline
    ]
    if fmt == "srt":
        return "".join(f"{i}\n{block}\n\n" for i, block in enumerate(blocks, 1))
    return "WEBVTT\n\n" + "".join(f"{block}\n\n" for block in blocks)
