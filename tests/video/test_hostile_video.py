"""Videos as archives hold them: stored sideways with rotation metadata, a resolution that
changes mid-stream, all black, and long (memory stays flat)."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import numpy as np

from toontag.data.images import load_resized
from toontag.video.db import Index
from toontag.video.decode import Video, to_pixels
from toontag.video.indexer import index_videos
from toontag.video.search import search


def frames_of(clip, size=None) -> list[np.ndarray]:
    """Each of the clip's frames as RGB (at (height, width) `size`, else its own)."""
    return [load_resized(s.path, size or (180, 320))[0] for s in clip.frames]


def write(path, images, *, fps=10, rotation=0, container="mp4", start=0):
    """`images` at `fps` from frame number `start`; `rotation`: the display matrix."""
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, fps)
        if rotation:
            stream.set_display_rotation(rotation)
        for k, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = start + k, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def test_a_video_stored_sideways_is_seen_upright(clip, tmp_path):
    upright = frames_of(clip)[:20]
    # a phone's portrait recording: pixels stored turned a quarter clockwise, and a display
    # matrix that turns them back (counter-clockwise 90)
    path = write(tmp_path / "phone.mp4", [np.rot90(f, -1) for f in upright], rotation=90)
    with Video(path) as video:
        decoded = [frame for _, frame in video.frames()]
        shown = video.image_at(0.55)
    assert (decoded[0].width, decoded[0].height) == (180, 320)  # stored sideways
    pixels = [to_pixels(frame, (112, 192)) for frame in decoded]
    expected = [load_resized(s.path, (112, 192))[0] for s in clip.frames[:20]]
    pairs = zip(pixels, expected, strict=True)
    error = np.mean([np.abs(p.astype(int) - e).mean() for p, e in pairs])
    as_stored = decoded[0].reformat(192, 112, "rgb24").to_ndarray().astype(int)
    sideways = np.abs(as_stored - expected[0]).mean()
    assert error < 6 < sideways
    assert shown.size == (320, 180)  # thumbnails are upright too


def test_a_resolution_change_mid_stream_is_indexed_whole(clip, make_oracle, tmp_path):
    """Two MPEG-TS segments of the same stream at 320x180 then 160x90, joined byte for byte
    (as a broadcast recording or a stream splice is): every frame is decoded and tagged at
    the model's size, and the timeline is the clip's."""
    images = frames_of(clip)
    half = len(images) // 2
    first = write(tmp_path / "a.ts", images[:half], container="mpegts", fps=2)
    small = [load_resized(s.path, (90, 160))[0] for s in clip.frames[half:]]
    second = write(tmp_path / "b.ts", small, container="mpegts", fps=2, start=half)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    with Video(joined) as video:
        sizes = {(frame.width, frame.height) for _, frame in video.frames()}
    assert sizes == {(320, 180), (160, 90)}

    oracle = make_oracle(clip)
    store = Index.create(tmp_path / "i.db", oracle)
    [outcome] = index_videos(store, oracle, [joined])
    assert outcome.status == "indexed", outcome.detail
    # a splice may lose a frame or two where the segments meet (0.5 s each here)
    assert abs(outcome.duration - clip.duration) <= 1.0 and outcome.sampled >= len(images) - 2
    for name in clip.classes:
        truth = sum(end - start for start, end in clip.truth()[name])
        found = sum(hit.end - hit.start for hit in search(store, name))
        assert abs(found - truth) <= 0.05 * truth + 1.0, name


def test_an_all_black_video_is_indexed_with_nothing_on_screen(clip, make_oracle, tmp_path):
    black = write(tmp_path / "black.mp4", [np.zeros((180, 320, 3), np.uint8)] * 30)
    oracle = make_oracle(clip)
    store = Index.create(tmp_path / "i.db", oracle)
    oracle.probabilities = lambda images: np.full(
        (len(images), len(clip.classes)), 0.05, np.float32
    )
    [outcome] = index_videos(store, oracle, [black])
    assert outcome.status == "indexed" and outcome.detail.endswith("0 segments")
    [video] = store.videos()
    assert video["picture"] is None or "cropped" not in str(video["picture"])


LONG = """
import re, sys
from pathlib import Path
import numpy as np
from toontag.video.decode import Video
from toontag.video.scan import scan
from toontag.video.skim import skim

class Model:  # on screen: a bright picture
    image_size, thresholds = (36, 64), (0.5,)
    def probabilities(self, images):
        return (images.mean(axis=(1, 2, 3)) / 255.0)[:, None].astype(np.float32)

def memory(key):
    return int(re.search(key + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

with Video(Path(sys.argv[1])) as video:
    Path("/proc/self/clear_refs").write_text("5")  # the peak so far (imports) is forgotten
    before = memory("VmRSS")
    if sys.argv[2] == "skim":
        times, _, shots, count = skim(video, Model(), trigger="changes", fps=2.0)
    else:
        times, _, shots, count = scan(video, Model(), fps=2.0, cut_samples=sys.argv[2] == "on")
print(count, memory("VmHWM") - before)
"""


def scanned(path, cut_samples: str) -> tuple[int, int]:
    """`scan` of `path` in a process of its own (`cut_samples` "on" or "off"; "skim": `skim`
    it instead, decoding in full where the keyframes' decisions change): the frames decoded
    and how far its resident memory rose above where it started (kB, at its peak)."""
    done = subprocess.run(
        [sys.executable, "-c", LONG, str(path), cut_samples],
        capture_output=True,
        text=True,
        check=True,
    )
    count, peak_kb = map(int, done.stdout.split())
    return count, peak_kb


def test_cut_samples_keep_no_decoded_frame(tmp_path):
    """Frames kept for cuts named late are kept as the model's input, not as decoded frames:
    2 s of 720p at 60 fps would be 160 MB more than the same scan without cut samples."""
    rng = np.random.default_rng(0)
    looks = [rng.integers(0, 255, (90, 160, 3), dtype=np.uint8) for _ in range(5)]
    looks = [look.repeat(8, axis=0).repeat(8, axis=1) for look in looks]  # 720x1280
    path = write(tmp_path / "hd.mp4", [looks[k // 40 % 5] for k in range(180)], fps=60)
    peaks = {flag: scanned(path, flag)[1] for flag in ("off", "on")}
    assert peaks["on"] - peaks["off"] < 40_000, peaks


def test_memory_stays_flat_over_a_long_stream_scanned_or_skimmed(tmp_path):
    """A 20-minute stream (30,000 frames) is scanned, and skimmed, in the same peak memory as
    a 2-minute one: no frame is kept beyond the cut look-back (30,000 kept frames would be
    100+ MB), and skimming keeps a few numbers per keyframe and per stretch, no pixels."""
    rng = np.random.default_rng(0)
    looks = [rng.integers(0, 60, (36, 64, 3), dtype=np.uint8) + 30 * i for i in range(7)]
    peaks = {}
    for minutes in (2, 20):
        frames = [looks[(k // 13) % 7 if k // 500 % 2 else 0] for k in range(minutes * 60 * 25)]
        path = write(tmp_path / f"{minutes}.mp4", frames, fps=25)
        count, peaks[minutes, "on"] = scanned(path, "on")
        assert count == len(frames)
        count, peaks[minutes, "skim"] = scanned(path, "skim")
        assert count < len(frames)  # the held stretches were not decoded
    for mode in ("on", "skim"):
        assert peaks[20, mode] - peaks[2, mode] < 25_000, peaks
