"""A video's character segments as editors import them, through OpenTimelineIO.

- CMX3600 EDL (``edl``): one event per character segment, in time order, the segment's in and
  out points as source timecode of the video's reel and the character as the clip name. An
  EDL has one video track, so the events follow one another on the record side (a string-out
  of every appearance; overlapping characters are separate events).
- FCP 7 XML (``fcp-xml``, what Premiere, Resolve and Final Cut Pro 7 import): a sequence
  holding the whole video, with one marker per character segment, its duration the
  segment's.

Times are whole frames of a SMPTE timecode rate: the video's own where it is one (23.976, 24,
25, 29.97, 30, 47.952, 48, 50, 59.94, 60), else the smallest that is a whole multiple of it
(10 and 15 fps count in 30, 12 in 24), else the nearest; a segment edge rounds to the nearest
frame. At 29.97 and 59.94 the timecode is drop-frame, as OpenTimelineIO infers from the rate.

Names (the video's, its media's, the characters') have their control characters escaped
(`toontag.io.escape_controls`): a newline in a file name would otherwise start lines of its own
in the EDL, and XML cannot hold most control characters at all.
"""

from __future__ import annotations

import re
from pathlib import Path

from toontag.errors import VideoError
from toontag.io import escape_controls

EDITORIAL_FORMATS = {"edl": "cmx_3600", "fcp-xml": "fcp_xml"}
COLOURS = ("RED", "GREEN", "BLUE", "CYAN", "MAGENTA", "YELLOW", "ORANGE", "PURPLE", "PINK")


class NoFrameRate(VideoError):
    """A video whose stream declared no frame rate: an editor's export needs one."""


NTSC = (24000 / 1001, 30000 / 1001, 48000 / 1001, 60000 / 1001)  # 23.976, 29.97, 47.952, 59.94
SMPTE = tuple(sorted((*NTSC, 24.0, 25.0, 30.0, 48.0, 50.0, 60.0)))


def exact_rate(fps: float) -> float:
    """The frame rate as the NTSC fraction it stands for (29.97 -> 30000/1001), else as is."""
    for rate in NTSC:
        if abs(fps - rate) < 0.002:
            return rate
    return fps


def timecode_rate(fps: float) -> float:
    """The SMPTE rate a video of `fps` is counted in (see the module)."""
    fps = exact_rate(fps)
    for rate in SMPTE:
        ratio = rate / fps
        if abs(ratio - round(ratio)) < 1e-4:  # 14.985 fps: twice 29.97
            return rate
    return min(SMPTE, key=lambda rate: abs(rate - fps))


def reel_name(path: str) -> str:
    """An EDL reel name from the video's file name: letters and digits, at most 8."""
    return re.sub(r"[^A-Za-z0-9]", "", Path(path).stem).upper()[:8] or "AX"


def editorial_timeline(
    *,
    name: str,
    media: str,
    duration: float,
    fps: float,
    segments: list[tuple[str, float, float]],
    fmt: str,
):
    """The OpenTimelineIO timeline of one video for `fmt` (see the module): `media` is the
    video's URL as the file should name it, `segments` (character, start s, end s)."""
    from opentimelineio import opentime, schema

    rate = timecode_rate(fps)

    def frames(seconds: float) -> int:
        return round(seconds * rate)

    def span(first: int, count: int):
        return opentime.TimeRange(
            opentime.RationalTime(first, rate), opentime.RationalTime(count, rate)
        )

    whole = span(0, max(1, frames(duration)))

    def reference():
        return schema.ExternalReference(target_url=media, available_range=whole)

    timeline = schema.Timeline(name=name)
    track = schema.Track(name="characters" if fmt == "edl" else "V1", kind=schema.TrackKind.Video)
    timeline.tracks.append(track)
    colours = {c: COLOURS[i % len(COLOURS)] for i, c in enumerate(sorted({s[0] for s in segments}))}
    if fmt != "edl":
        track.append(schema.Clip(name=name, media_reference=reference(), source_range=whole))
    for character, start, end in sorted(segments, key=lambda s: (s[1], s[0])):
        first = frames(start)
        count = max(1, frames(end) - first)  # a segment is at least one frame
        if fmt == "edl":
            clip = schema.Clip(
                name=character, media_reference=reference(), source_range=span(first, count)
            )
            clip.metadata["cmx_3600"] = {"reel": reel_name(name)}
            track.append(clip)
        else:
            timeline.tracks.markers.append(
                schema.Marker(
                    name=character, marked_range=span(first, count), color=colours[character]
                )
            )
    return timeline


def editorial_text(
    *,
    name: str,
    media: str,
    duration: float,
    fps: float | None,
    segments: list[tuple[str, float, float]],
    fmt: str,
) -> str:
    """The export of one video in `fmt` (a key of `EDITORIAL_FORMATS`) as text."""
    import opentimelineio as otio

    if not fps:
        raise NoFrameRate(name, "its frame rate is unknown, so it has no timecode")
    name, media = escape_controls(name), escape_controls(media)
    segments = [(escape_controls(character), start, end) for character, start, end in segments]
    timeline = editorial_timeline(
        name=name, media=media, duration=duration, fps=fps, segments=segments, fmt=fmt
    )
    if fmt == "edl" and not segments:  # the adapter fails on an empty track: a title alone
        return f"TITLE: {name}\n\n"
    return otio.adapters.write_to_string(timeline, adapter_name=EDITORIAL_FORMATS[fmt])
