"""Black borders that stay all through a video are found and cropped; fades, dark scenes and
black videos are not cropped."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from toontag.data.images import open_rgb
from toontag.video.borders import Picture, find_picture, fit_picture
from toontag.video.db import Index
from toontag.video.decode import Video
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.search import search


def gray_frames(count: int, shape=(90, 160), *, top=0, bottom=0, left=0, right=0, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        g = rng.integers(40, 255, size=shape, dtype=np.uint8)
        g[:top], g[shape[0] - bottom :], g[:, :left], g[:, shape[1] - right :] = 0, 0, 0, 0
        frames.append(g)
    return frames


def test_letterbox_and_pillarbox_are_found_in_frame_pixels():
    letterbox = find_picture(gray_frames(8, top=12, bottom=12), 320, 180)
    assert (letterbox.kind, letterbox.top, letterbox.bottom, letterbox.left) == (
        "letterbox",
        24,
        24,
        0,
    )
    pillarbox = find_picture(gray_frames(8, left=20, right=20), 320, 180)
    assert (pillarbox.kind, pillarbox.box) == ("pillarbox", (40, 0, 280, 180))
    assert find_picture(gray_frames(8, top=5, left=20), 320, 180).kind == "windowbox"


def test_fades_dark_scenes_and_black_videos_are_not_cropped():
    fades = gray_frames(6) + [np.zeros((90, 160), np.uint8)] * 6  # black frames say nothing
    assert find_picture(fades, 320, 180) == Picture(320, 180)
    night = gray_frames(6) + gray_frames(3, top=30, seed=1)  # a dark sky in a few frames
    assert not find_picture(night, 320, 180).cropped
    assert not find_picture([np.zeros((90, 160), np.uint8)] * 12, 320, 180).cropped
    assert not find_picture(gray_frames(3, top=12, bottom=12), 320, 180).cropped  # too few
    assert not find_picture(gray_frames(8, shape=(90, 160), top=1), 320, 180).cropped  # 1%


def test_a_cropped_picture_is_fitted_never_stretched():
    image = Image.new("RGB", (320, 240), (0, 0, 0))
    image.paste(Image.new("RGB", (320, 180), (200, 50, 50)), (0, 30))  # 16:9 in 4:3
    fitted = fit_picture(image, Picture(320, 240, top=30, bottom=30), 16 / 9)
    assert fitted.size == (320, 180) and np.asarray(fitted).min(axis=(0, 1)).tolist() == [
        200,
        50,
        50,
    ]
    pillar = fit_picture(
        Image.new("RGB", (320, 180), (9, 9, 9)), Picture(320, 180, left=40, right=40), 16 / 9
    )
    assert pillar.size == (320, 180)  # 4:3 padded back to 16:9 with black, not stretched
    assert np.asarray(pillar)[:, :40].max() == 0 and np.asarray(pillar)[:, 40:280].min() == 9
    same = Image.new("RGB", (8, 8))
    assert fit_picture(same, Picture(8, 8), 1.0) is same


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
