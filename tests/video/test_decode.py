"""Decoding: exact timestamps (variable frame rate too), any picture size, one-line errors."""

from __future__ import annotations

import av
import numpy as np
import pytest

from toontag.errors import VideoError
from toontag.video.decode import Video, to_pixels


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
