"""A boxed video is cropped and indexed as the original; a fade to black is not a border
(the rule itself, shared with stills: tests/data/test_borders.py; named apart so pytest
collects both)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from toontag.data.borders import Picture
from toontag.data.images import open_rgb
from toontag.video.db import Index
from toontag.video.decode import Video
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.search import search


def write_boxed(clip, path, *, canvas: tuple[int, int], at: tuple[int, int], fps=10, fade=0):
    """The clip's frames pasted at `at` on a black `canvas` (width, height), each held
    clip.hold, keyframes every 10 frames; the last `fade` frames black."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = canvas
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 10
        repeat = round(clip.hold * fps)
        for k, sample in enumerate(clip.frames):
            board = Image.new("RGB", canvas)
            if k < len(clip.frames) - fade:
                board.paste(open_rgb(sample.path)[0], at)
            frame = av.VideoFrame.from_ndarray(np.asarray(board), format="rgb24")
            for r in range(repeat):
                frame.pts, frame.time_base = k * repeat + r, Fraction(1, fps)
                container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    ("canvas", "at", "kind", "box"),
    [
        ((320, 240), (0, 30), "letterbox", (0, 30, 320, 210)),
        ((400, 180), (40, 0), "pillarbox", (40, 0, 360, 180)),
    ],
)
def test_a_boxed_video_is_cropped_and_indexed_as_the_original(
    clip, oracle, tmp_path, canvas, at, kind, box
):
    """The dataset's 16:9 frames in a 4:3 letterbox or a wider pillarbox: the border is found
    on the video's own frames (within 2 pixels), the model sees the original picture, and the
    search finds the clip's true timeline as on the unboxed video."""
    video = write_boxed(clip, tmp_path / f"{kind}.mp4", canvas=canvas, at=at)
    store = Index.create(tmp_path / "index.db", oracle)
    [outcome] = index_videos(store, oracle, [video])
    picture = store.videos()[0]["picture"]
    assert outcome.status == "indexed" and picture["kind"] == kind
    found = (
        picture["left"],
        picture["top"],
        canvas[0] - picture["right"],
        canvas[1] - picture["bottom"],
    )
    assert np.abs(np.array(found) - np.array(box)).max() <= 2, found
    truth = {c: spans for c, spans in clip.truth().items()}
    for c in truth:
        got = [(h.start, h.end) for h in search(store, c)]
        covered = sum(b - a for a, b in got)
        assert covered == pytest.approx(sum(b - a for a, b in truth[c]), abs=1.0), c


def test_a_fade_to_black_is_not_a_border_and_no_borders_skips_looking(clip, oracle, tmp_path):
    video = write_boxed(clip, tmp_path / "fade.mp4", canvas=(320, 180), at=(0, 0), fade=20)
    with Video(video) as probe:
        assert len(probe.spread_frames(16)) >= 8
    store = Index.create(tmp_path / "index.db", oracle)
    index_videos(store, oracle, [video])
    assert store.videos()[0]["picture"]["kind"] == "full frame"
    other = Index.create(tmp_path / "other.db", oracle)
    index_videos(other, oracle, [video], settings=IndexSettings(borders=False))
    assert other.videos()[0]["picture"] is None


def test_the_model_sees_the_original_picture_only_when_borders_are_cropped(clip, oracle, tmp_path):
    video = write_boxed(clip, tmp_path / "letterbox.mp4", canvas=(320, 240), at=(0, 30))
    distance = {}
    for borders in (True, False):
        seen = []
        honest = oracle.probabilities
        oracle.probabilities = lambda images, seen=seen, honest=honest: (
            seen.append(images) or honest(images)
        )
        index_videos(
            Index.create(tmp_path / f"{borders}.db", oracle),
            oracle,
            [video],
            settings=IndexSettings(borders=borders),
        )
        oracle.probabilities = honest
        images = np.concatenate(seen).astype(np.int16)
        nearest = np.abs(images[:, None] - oracle.refs[None]).mean(axis=(2, 3, 4)).min(axis=1)
        distance[borders] = float(nearest.mean())
    assert distance[True] < 4 and distance[False] > 3 * distance[True], distance


def test_a_frame_of_another_size_than_the_borders_were_found_at_is_not_cropped():
    import av

    from toontag.video.decode import to_pixels

    picture = Picture(320, 240, top=30, bottom=30)
    boxed = np.zeros((240, 320, 3), np.uint8)
    boxed[30:210] = 200
    frame = av.VideoFrame.from_ndarray(boxed, format="rgb24")
    assert to_pixels(frame, (18, 32), picture, 16 / 9).min() > 150  # cropped: no black left
    resized = av.VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="rgb24")
    assert to_pixels(resized, (18, 32), picture, 16 / 9).shape == (18, 32, 3)  # left whole
