"""Editors' exports: a CMX3600 EDL and FCP 7 XML, read back with OpenTimelineIO."""

from __future__ import annotations

import opentimelineio as otio
import pytest

from toontag.errors import VideoError
from toontag.video.editorial import editorial_text, exact_rate, timecode_rate

SEGMENTS = [("Remzi", 1.0, 3.5), ("Fil Necati", 2.0, 70.25), ("Remzi", 60.06, 61.0)]


def frames(seconds: float, rate: float) -> int:
    return round(seconds * rate)


@pytest.mark.parametrize("fps", [25.0, 29.97002997, 59.94005994, 24.0])
def test_edl_events_are_the_segments_frame_accurate(fps):
    text = editorial_text(
        name="ep 1.mp4",
        media="file:///v/ep%201.mp4",
        duration=90.0,
        fps=fps,
        segments=SEGMENTS,
        fmt="edl",
    )
    rate = exact_rate(fps)
    back = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=rate)
    events = [
        (c.name, c.source_range.start_time.value, c.source_range.duration.value)
        for c in back.find_clips()
    ]
    expected = [
        (name, frames(a, rate), frames(b, rate) - frames(a, rate))
        for name, a, b in sorted(SEGMENTS, key=lambda s: (s[1], s[0]))
    ]
    assert events == expected
    assert all(line.split()[1] == "EP1" for line in text.splitlines() if line[:3].isdigit())
    drop_frame = fps in (29.97002997, 59.94005994)
    assert (";" in text) == drop_frame  # drop-frame timecode only where the rate needs it
    if fps == 29.97002997:  # frame 1800 is 00:01:00;02 in drop-frame (frames 0 and 1 dropped)
        assert "00:01:00;02" in text


@pytest.mark.parametrize("fps", [25.0, 29.97002997])
def test_fcp_xml_markers_are_the_segments(fps):
    text = editorial_text(
        name="ep.mp4", media="ep.mp4", duration=90.0, fps=fps, segments=SEGMENTS, fmt="fcp-xml"
    )
    assert ("<ntsc>TRUE</ntsc>" in text) == (fps != 25.0)
    back = otio.adapters.read_from_string(text, adapter_name="fcp_xml")
    rate = exact_rate(fps)
    markers = sorted(
        (m.name, m.marked_range.start_time.value, m.marked_range.duration.value)
        for m in back.tracks.markers
    )
    expected = sorted(
        (name, frames(a, rate), frames(b, rate) - frames(a, rate)) for name, a, b in SEGMENTS
    )
    assert markers == expected
    [clip] = back.find_clips()
    assert clip.media_reference.target_url.endswith("ep.mp4")
    assert clip.source_range.duration.value == frames(90.0, rate)


def test_a_segment_shorter_than_a_frame_is_one_frame_and_no_segments_is_an_empty_list():
    text = editorial_text(
        name="a.mp4",
        media="a.mp4",
        duration=5.0,
        fps=25.0,
        segments=[("Canan", 1.0, 1.001)],
        fmt="edl",
    )
    [clip] = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=25).find_clips()
    assert clip.source_range.duration.value == 1
    empty = editorial_text(
        name="a.mp4", media="a.mp4", duration=5.0, fps=25.0, segments=[], fmt="edl"
    )
    assert list(otio.adapters.read_from_string(empty, adapter_name="cmx_3600").find_clips()) == []


def test_a_video_without_a_frame_rate_has_no_timecode():
    with pytest.raises(VideoError, match="a.mp4: its frame rate is unknown"):
        editorial_text(name="a.mp4", media="a.mp4", duration=5.0, fps=None, segments=[], fmt="edl")


def test_a_rate_without_smpte_timecode_is_counted_in_a_multiple_of_it():
    assert timecode_rate(29.97) == exact_rate(29.97) == 30000 / 1001 and timecode_rate(25) == 25
    assert [timecode_rate(f) for f in (10, 15, 12, 20, 5, 14.985)] == [
        30,
        30,
        24,
        60,
        25,
        30000 / 1001,
    ]
    assert timecode_rate(120) == 60 and timecode_rate(26) == 25  # no multiple: the nearest
    text = editorial_text(
        name="a.mp4",
        media="a.mp4",
        duration=5.0,
        fps=10.0,
        segments=[("Canan", 0.1, 1.5)],
        fmt="edl",
    )
    [clip] = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=30).find_clips()
    assert (clip.source_range.start_time.value, clip.source_range.duration.value) == (3, 42)


def test_control_characters_in_character_names_are_escaped_and_the_files_read_back():
    """A character named with a newline, ESC or ^A: the EDL keeps one line per statement and
    FCP XML stays XML (it was refused by the XML writer, a crash)."""
    segments = [("Re\nmzi\x1b\x01", 1.0, 2.0), ("Necati", 3.0, 4.0)]
    for fmt, adapter in [("edl", "cmx_3600"), ("fcp-xml", "fcp_xml")]:
        text = editorial_text(
            name="ep.mp4", media="ep.mp4", duration=9.0, fps=25.0, segments=segments, fmt=fmt
        )
        assert not set(text) & set("\x1b\x01"), fmt
        options = {"rate": 25.0} if fmt == "edl" else {}  # FCP XML states its rate
        back = otio.adapters.read_from_string(text, adapter_name=adapter, **options)
        if fmt == "edl":
            names = [c.name for c in back.find_clips()]
        else:
            names = sorted(m.name for m in back.tracks.markers)
        assert names == ["Re\\nmzi\\x1b\\x01", "Necati"][:: 1 if fmt == "edl" else -1], fmt
