"""Decoding: exact timestamps (variable frame rate too), any picture size, one-line errors."""

from __future__ import annotations

import itertools
import subprocess
import sys

import av
import numpy as np
import pytest

from toontag.errors import ToontagError, VideoError
from toontag.video.decode import Video, to_pixels
from toontag.video.hardware import hardware_decoding


def gray(n: int, shape=(64, 96)) -> list[np.ndarray]:
    return [np.full((*shape, 3), 20 * i, np.uint8) for i in range(n)]


def test_frames_come_with_their_own_timestamps_at_variable_frame_rate(tmp_path, encode_video):
    times = [0.0, 0.1, 0.15, 0.9, 1.0, 1.7, 2.0, 2.05, 2.5, 3.2]
    video = Video(encode_video(tmp_path / "vfr.mp4", gray(10), times))
    got = [round(t, 3) for t, _ in video.frames()]
    assert got == times
    assert video.end >= 3.2


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "suffix"),
    [
        ("libx264", "yuv444p", "mp4"),
        ("mjpeg", "yuvj444p", "avi"),
        ("libvpx-vp9", "yuv420p", "webm"),
    ],
)
def test_odd_picture_sizes_decode_and_resize_to_the_model_input(
    tmp_path, encode_video, codec, pix_fmt, suffix
):
    path = encode_video(
        tmp_path / f"odd.{suffix}",
        gray(6, (97, 181)),
        [i * 0.5 for i in range(6)],
        codec=codec,
        pix_fmt=pix_fmt,
    )
    with Video(path) as video:
        assert (video.width, video.height) == (181, 97)
        frames = list(video.frames())
        assert [round(t, 2) for t, _ in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        pixels = to_pixels(frames[3][1], (112, 192))
    assert pixels.shape == (112, 192, 3) and pixels.dtype == np.uint8
    assert abs(int(pixels.mean()) - 60) <= 3  # the fourth gray level, 3 * 20


def test_image_at_seeks_to_the_frame_on_screen(clip_video, clip):
    with Video(clip_video) as video:
        image = np.asarray(video.image_at(10.2))
    shown = clip.frames[int(10.2 / clip.hold)]
    from toontag.data.images import load_resized

    expected, _ = load_resized(shown.path, image.shape[:2])
    assert np.abs(image.astype(int) - expected).mean() < 6  # H.264 at crf 20


def test_image_at_finds_the_frame_in_mpeg_ts_to_its_last_keyframe_and_end(tmp_path, encode_video):
    """MPEG-TS seeks by byte position, not to the keyframe before: a seek lands after the time
    asked (here its frames start at 0.08 s), or past the last keyframe on no frame at all.
    Every time of an 8 s video, the last 0.6 s too, shows the frame on screen then."""
    levels = [10 * (i // 10) for i in range(200)]  # 25 fps, a gray level for each 0.4 s
    images = [np.full((48, 64, 3), level, np.uint8) for level in levels]
    path = encode_video(tmp_path / "late.ts", images, [i / 25 for i in range(200)])
    with Video(path) as video:
        assert video.start > 0  # the muxer's delay: the frames start after 0
        for t in [0.0, *(0.2 + 0.4 * k for k in range(20)), 7.99]:
            shown = np.asarray(video.image_at(t)).mean()
            assert abs(shown - levels[min(int(t * 25), 199)]) < 3, t


def damaged(video, box: bytes) -> bytes:
    """The video's bytes with MP4 box `box` (in its header, 'moov') zeroed from its type on."""
    data = bytearray(video.read_bytes())
    at = data.index(box, data.index(b"moov"))
    data[at : at + 28] = bytes(28)
    return bytes(data)


@pytest.mark.parametrize(("box", "reason"), [(b"stsz", "cannot decode at 3.0s"), (b"avc1", "")])
def test_a_damaged_video_gets_a_one_line_reason(tmp_path, clip_video, box, reason):
    """Sample sizes zeroed: the seek fails in FFmpeg; the codec's tag zeroed: the stream has no
    decoder. Both are a VideoError naming the file, never FFmpeg's or PyAV's own exception."""
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damaged(clip_video, box))
    with pytest.raises(VideoError, match=reason) as info, Video(path) as video:
        video.image_at(3.0)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_bad_files_get_one_line_reasons(tmp_path, clip_video):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(clip_video.read_bytes()[: clip_video.stat().st_size // 2])
    tone = tmp_path / "tone.wav"
    with av.open(str(tone), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 8000), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
    cases = {
        text: "not a readable video",
        empty: "empty file",
        tone: "no video stream",
        tmp_path / "missing.mp4": "no such file",
    }
    for path, reason in cases.items():
        with pytest.raises(VideoError, match=reason) as info:
            Video(path)
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    with pytest.raises(VideoError, match="truncated: frames stop at"):
        for _ in Video(truncated).frames():
            pass


@pytest.mark.parametrize("suffix", ["mkv", "mp4"])
def test_a_stream_starting_late_is_whole_and_a_cut_one_is_not(tmp_path, encode_video, suffix):
    """A file cut from t=10 s (its first frame at 10 s) is a complete video; the same file
    with its second half cut off is truncated (MKV declares durations from time 0)."""
    images = [np.full((48, 64, 3), 12 * i, np.uint8) for i in range(20)]
    path = encode_video(tmp_path / f"late.{suffix}", images, [10 + 0.5 * i for i in range(20)])
    video = Video(path)
    times = [t for t, _ in video.frames()]
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(9.5)
    if suffix == "mkv":  # a cut-off MKV still declares its full duration in the header
        cut = tmp_path / "cut.mkv"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(VideoError, match="truncated|corrupt"):
            for _ in Video(cut).frames():
                pass


def still_images(folder, encode_video) -> dict[str, object]:
    """One picture under a video's name, in each way a still can come: an image file
    renamed (PNG, JPEG, GIF) and one-frame H.264 MP4 and MJPEG AVI files."""
    from PIL import Image

    image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    stills = {}
    for name, format in [("png", "PNG"), ("jpeg", "JPEG"), ("gif", "GIF")]:
        stills[name] = folder / f"{name}.mp4"
        Image.fromarray(image).save(stills[name], format=format)
    stills["h264"] = encode_video(folder / "h264.mp4", [image], [0.0])
    stills["mjpeg"] = encode_video(
        folder / "mjpeg.avi", [image], [0.0], codec="mjpeg", pix_fmt="yuvj444p"
    )
    return stills


def test_a_still_image_is_not_a_video(tmp_path, encode_video):
    """Issue 10 item 3: a picture named .mp4 used to be indexed as a video of 0.0 s."""
    for name, path in still_images(tmp_path, encode_video).items():
        with pytest.raises(VideoError, match=r"not a video \(a still image") as info:
            for _ in Video(path).frames():
                pass
        assert str(info.value).startswith(str(path)) and "\n" not in str(info.value), name
    two = encode_video(tmp_path / "two.mp4", gray(2), [0.0, 0.5])
    assert len(list(Video(two).frames())) == 2  # the shortest video there is


def test_a_fifo_or_a_link_loop_named_like_a_video_is_one_line(tmp_path):
    """Before: FFmpeg opened the FIFO and waited for a writer forever."""
    import os

    from tests.conftest import within

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    with pytest.raises(VideoError, match=r"pipe.mp4: not a regular file \(a FIFO\)$"):
        within(30, lambda: Video(fifo), fifos=[fifo])
    (tmp_path / "loop.mp4").symlink_to("loop.mp4")
    with pytest.raises(VideoError, match="loop.mp4: a symlink loop"):
        Video(tmp_path / "loop.mp4")
    with pytest.raises(VideoError, match="missing.mp4: no such file$"):
        Video(tmp_path / "missing.mp4")


OPEN_DECODE_CLOSE = """
import sys
import av
from toontag.video.decode import Video

av.logging.set_level(av.logging.DEBUG)  # FFmpeg's log messages into Python, each one
for _ in range(int(sys.argv[2])):
    with Video(sys.argv[1]) as video:
        next(video.frames())  # closed while its decoding threads still work on the next frames
print("closed them all")
"""


def test_a_video_closes_while_ffmpegs_logs_go_to_python(tmp_path, encode_video):
    """Importing torchvision (its video module, before 0.26) sends FFmpeg's log messages to
    Python: each message then waits for the GIL (all of them in PyAV 15, as every one does at
    DEBUG now), and closing a video, which waits for its decoding threads with the GIL held,
    hung for good: so did a thumbnail request after the explain tests had imported torchvision.
    Run in a process of its own, as a deadlock holding the GIL would stop pytest too."""
    noise = np.random.default_rng(0).integers(0, 256, (40, 144, 256, 3), dtype=np.uint8)
    path = encode_video(tmp_path / "noise.mp4", list(noise), [k / 10 for k in range(40)])
    try:
        done = subprocess.run(
            [sys.executable, "-c", OPEN_DECODE_CLOSE, str(path), "40"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("closing a video deadlocked with FFmpeg's log messages sent to Python")
    assert done.stdout.strip() == "closed them all", done.stderr[-2000:]


def test_hardware_decoding_says_in_one_line_what_is_missing(clip_video):
    """A device type this PyAV's FFmpeg lacks, and one it has with no device here (CUDA on a
    machine without NVIDIA's driver), are each one line naming the type; opening a video on
    a missing device says the same, not that the file is unreadable."""
    with pytest.raises(ToontagError, match="'no-such-device': not in this PyAV's FFmpeg"):
        hardware_decoding("no-such-device")
    with pytest.raises(ToontagError, match="'no-such-device'"):
        hardware_decoding("no-such-device", here=False)  # the type, for Ray's workers
    hardware_decoding("cuda", here=False)  # a type this FFmpeg has: not checked here
    try:
        hardware_decoding("cuda")
    except ToontagError as e:
        assert str(e).startswith("hardware decoding 'cuda': no usable device here (")
        assert "\n" not in str(e)
        with pytest.raises(ToontagError, match="no usable device") as opened:
            Video(clip_video, hwaccel="cuda")
        assert not isinstance(opened.value, VideoError)
    else:  # a machine with a GPU: the video decodes there
        with Video(clip_video, hwaccel="cuda") as video:
            assert video.hardware and next(video.frames())[1].width == video.width


def test_a_video_opened_again_keeps_its_options_and_its_own_position(clip_video):
    class Tuned(Video):  # as the speed benchmark's decoders tuned one way
        pass

    with Tuned(clip_video, reference_only=True) as video:
        first = [t for t, _ in itertools.islice(video.frames(), 5)]
        with video.again() as other:
            assert type(other) is Tuned and (other.reference_only, other.hwaccel) == (True, None)
            assert [t for t, _ in itertools.islice(other.frames(), 5)] == first
        assert not video.hardware
