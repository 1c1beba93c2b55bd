"""Black borders are found and cropped: a video's that stay all through it, a still's whose
bars match; fades, dark scenes, a lone dark edge and black pictures are not cropped."""

from __future__ import annotations

import numpy as np
from PIL import Image

from toontag.data.borders import Picture, find_picture, fit_picture, still_picture
from toontag.data.images import load_resized


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


def boxed_still(canvas: tuple[int, int], at: tuple[int, int], size=(320, 180), seed=0):
    """A textured picture of `size` pasted at `at` on a black `canvas` (width, height)."""
    rng = np.random.default_rng(seed)
    picture = rng.integers(60, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    board = Image.new("RGB", canvas)
    board.paste(Image.fromarray(picture), at)
    return board, picture


def test_a_stills_matching_bars_are_found_and_a_lone_dark_edge_is_not():
    letterboxed, _ = boxed_still((320, 240), (0, 30))
    assert still_picture(letterboxed).box == (0, 30, 320, 210)
    square, _ = boxed_still((320, 320), (0, 70))  # 16:9 in 1:1
    assert still_picture(square).kind == "letterbox"
    side, _ = boxed_still((400, 180), (40, 0))
    assert (still_picture(side).kind, still_picture(side).box) == ("pillarbox", (40, 0, 360, 180))
    sky = np.asarray(boxed_still((320, 180), (0, 0))[0]).copy()
    sky[:40] = 0  # a dark sky at the top only: part of the picture
    assert not still_picture(Image.fromarray(sky)).cropped
    lopsided, _ = boxed_still((320, 240), (0, 10))  # bars of 10 and 50 rows: not a letterbox
    assert not still_picture(lopsided).cropped
    assert not still_picture(Image.new("RGB", (320, 180))).cropped  # black all over
    assert not still_picture(boxed_still((320, 180), (0, 0))[0]).cropped


def test_a_letterboxed_still_reaches_the_model_as_the_original_unless_told_not_to(tmp_path):
    board, picture = boxed_still((320, 240), (0, 30))
    path = tmp_path / "boxed.png"
    board.save(path)
    cropped, note = load_resized(path, (18, 32), aspect=16 / 9)
    original = np.asarray(Image.fromarray(picture).resize((32, 18), Image.BILINEAR), np.int16)
    assert note == "letterbox cropped" and np.abs(cropped - original).mean() < 3
    whole, note = load_resized(path, (18, 32))
    assert note is None and whole[:2].max() < 40  # the bars are still there
