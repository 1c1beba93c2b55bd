"""Answer a query over an index: the merged time ranges where it holds, per video; and a
video's timeline of who is on screen, as SRT, WebVTT, CSV, JSON, a CMX3600 EDL or FCP 7 XML
(`timeline_text`)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from toontag.io import escape_controls, export_csv_text
from toontag.video.db import Index
from toontag.video.editorial import EDITORIAL_FORMATS, editorial_text
from toontag.video.query import Query, parse_query
from toontag.video.segments import Segment, elementary, merged_ranges

TIMELINE_FORMATS = ("srt", "vtt", "csv", "json", *EDITORIAL_FORMATS)


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
    videos = {video["id"]: video for video in index.videos()}
    found = dict.fromkeys(videos, ())  # a video without segments: the query may still hold
    hits = []

    def add(video_id: int, segments) -> None:
        video = videos[video_id]
        for start, end in query_ranges(query, segments, video["duration"], min_duration):
            hits.append(Hit(video_id, video["path"], start, end))

    # one pass over the table, for the characters the query names
    for video_id, segments in index.every_video_segments(query.characters):
        if video_id in found:  # not one written since the videos were read
            add(video_id, segments)
            del found[video_id]
    for video_id in found:
        add(video_id, [])
    order = {video_id: k for k, video_id in enumerate(videos)}  # path order, as listed
    return sorted(hits, key=lambda h: (order[h.video_id], h.start))


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
    """The cues as an SRT or WebVTT subtitle track, or CSV (start,end,characters); a name's
    control characters escaped, so that it never ends a cue or a row (and in WebVTT its &, <
    and >, which would start markup or an arrow)."""
    if fmt == "csv":
        rows = ((f"{a:.3f}", f"{b:.3f}", ";".join(names)) for a, b, names in timeline)
        return export_csv_text(["start", "end", "characters"], rows)
    separator = "," if fmt == "srt" else "."

    def text(name: str) -> str:
        shown = escape_controls(display_name(name))
        return shown if fmt == "srt" else html.escape(shown, quote=False)

    blocks = [
        f"{clock(a, separator)} --> {clock(b, separator)}\n" + ", ".join(map(text, names))
        for a, b, names in timeline
    ]
    if fmt == "srt":
        return "".join(f"{i}\n{block}\n\n" for i, block in enumerate(blocks, 1))
    return "WEBVTT\n\n" + "".join(f"{block}\n\n" for block in blocks)


def video_document(index: Index, video: dict) -> dict:
    """One indexed video as JSON: its row, screen time, character segments and shots."""
    segments = [
        {
            "character": index.classes[s.character],
            "start": s.start,
            "end": s.end,
            "confidence": round(s.confidence, 4),
        }
        for s in index.segments(video["id"])
    ]
    shots = [{"start": a, "end": b} for a, b in index.shots(video["id"])]
    return {
        **video,
        "screen_time": index.screen_time(video["id"]),
        "segments": segments,
        "shots": shots,
    }


def timeline_text(index: Index, video: dict, fmt: str, *, public: bool = False) -> str:
    """`video`'s timeline in `fmt` (one of `TIMELINE_FORMATS`). `public`: name the file, never
    its path (the API's rule); else the exports point at the file itself."""
    path = Path(video["path"])
    if fmt == "json":
        document = video_document(index, video)
        if public:
            document = {**{k: v for k, v in document.items() if k != "path"}, "name": path.name}
        return json.dumps(document, indent=2) + "\n"
    if fmt in EDITORIAL_FORMATS:
        segments = [
            (display_name(index.classes[s.character]), s.start, s.end)
            for s in index.segments(video["id"])
        ]
        media = path.name if public else path.absolute().as_uri()
        return editorial_text(
            name=path.name,
            media=media,
            duration=video["duration"],
            fps=video["fps"],
            segments=segments,
            fmt=fmt,
        )
    return format_timeline(cues(index, video["id"], video["duration"]), fmt)
