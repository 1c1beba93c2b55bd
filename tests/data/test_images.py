import os

import numpy as np
import pytest
from PIL import Image

from toontag.data.images import load_resized, open_rgb
from toontag.errors import BadImageError


def test_real_frame_decodes_to_the_requested_size(dataset):
    pixels, note = load_resized(dataset.samples[0].path, (112, 192))
    assert pixels.shape == (112, 192, 3) and pixels.dtype == np.uint8 and note is None


def test_truncated_jpeg_is_a_named_error(dataset, tmp_path):
    data = dataset.samples[0].path.read_bytes()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadImageError, match="broken.jpg: cannot decode"):
        open_rgb(broken)


def test_not_an_image(tmp_path):
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    with pytest.raises(BadImageError, match="fake.jpg: not a readable image"):
        open_rgb(fake)
    with pytest.raises(BadImageError, match="file not found"):
        open_rgb(tmp_path / "missing.jpg")


def test_alpha_is_composited_onto_white(tmp_path):
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(path)
    image, note = open_rgb(path)
    assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)
    assert "alpha" in note


@pytest.mark.parametrize(("mode", "ext"), [("L", "png"), ("CMYK", "jpg"), ("P", "png")])
def test_other_modes_become_rgb(tmp_path, mode, ext):
    path = tmp_path / f"image.{ext}"
    Image.new(mode, (4, 4)).save(path)
    image, note = open_rgb(path)
    assert image.mode == "RGB" and mode in note


def test_a_16_bit_png_keeps_its_picture(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)  # a 16-bit grayscale PNG
    image, note = open_rgb(path)
    pixels = np.asarray(image)
    assert pixels.shape == (48, 64, 3) and "scaled to 8-bit" in note
    assert pixels[0, 0, 0] == 0 and pixels[-1, -1, 0] == 255
    assert abs(pixels.mean() - 127.5) < 2  # the ramp, not a white sheet


def test_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((20, 60, 3), np.uint8)
    wide[:, :10] = 255  # a white band on the left
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(wide).save(path, exif=exif, quality=95)
    pixels = np.asarray(open_rgb(path)[0])
    assert pixels.shape == (60, 20, 3)  # shown upright: tall
    assert pixels[:10].mean() > 200 and pixels[-10:].mean() < 50  # the band is now on top


def test_a_picture_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (200, 100)).save(path)
    monkeypatch.setenv("TOONTAG_MAX_PIXELS", "10000")
    with pytest.raises(BadImageError, match=r"200x100 is over the limit of 10,000 pixels"):
        open_rgb(path)
    monkeypatch.setenv("TOONTAG_MAX_PIXELS", "20000")
    assert open_rgb(path)[0].size == (200, 100)


@pytest.mark.parametrize("orientation", [1, 6])  # as stored; turned a quarter
def test_a_large_jpeg_decoded_at_reduced_scale_matches_the_full_decode(
    dataset, tmp_path, orientation
):
    """A 1920x1080 still for a 112x192 model is decoded at 1/4 scale (still at least twice
    the model's size, whichever way it is turned) and then resized: the model sees what a
    full decode would have given it, within JPEG rounding."""
    frame = Image.open(dataset.samples[0].path).convert("RGB").resize((1920, 1080))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "still.jpg"
    frame.save(path, quality=92, exif=exif)
    size = (112, 192) if orientation == 1 else (192, 112)
    reduced, _ = load_resized(path, size)
    image, _ = open_rgb(path, at_least=(2 * size[0], 2 * size[1]))
    assert max(image.size) == 1920 // 4 and image.size[0] >= 2 * size[1]  # decoded at 1/4
    full, _ = open_rgb(path)
    assert full.size == (image.size[0] * 4, image.size[1] * 4)
    expected = np.asarray(full.resize(size[::-1], Image.Resampling.BILINEAR, reducing_gap=2.0))
    assert reduced.shape == (*size, 3)
    assert np.abs(reduced.astype(int) - expected).mean() < 1.0


def one_colour_png(path, width: int, height: int):
    """A 1-bit PNG of one colour written row by row, without holding it in memory: 400
    megapixels is about 80 kB on disk."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    row, packer = b"\0" + b"\xff" * ((width + 7) // 8), zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grey
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def test_a_144_megapixel_jpeg_in_frames_is_toontags_one_line_and_no_library_warning(
    monkeypatch, capsys, tmp_path
):
    """Issue 26 item 9: Pillow's own check (89 megapixels) printed its raw warning, with the
    path of its source file, before toontag's limit refused the picture."""
    import warnings

    from tests.test_cli import run_cli

    big = tmp_path / "big.jpg"
    Image.new("L", (12000, 12000), 200).save(big)
    monkeypatch.delenv("TOONTAG_MAX_PIXELS", raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, _, err = run_cli(monkeypatch, capsys, "frames", big, "--out", tmp_path / "project")
    assert [str(w.message) for w in caught] == []
    assert code == 1 and err == (
        f"error: {big}: 12000x12000 is over the limit of 100,000,000 pixels "
        "(a decompression bomb?); set TOONTAG_MAX_PIXELS to allow it\n"
    )


def test_toontag_max_pixels_admits_a_400_megapixel_png_and_is_cited_when_it_refuses(
    monkeypatch, tmp_path
):
    """Issue 26 item 9: past twice Pillow's own limit (179 megapixels) Pillow refused in its
    words whatever TOONTAG_MAX_PIXELS said. Decoding the whole picture takes 2.4 GB, so
    admitted here means: handed on to be decoded (the decoder is stopped at its start)."""
    from PIL import ImageFile

    png = one_colour_png(tmp_path / "huge.png", 20000, 20000)
    monkeypatch.delenv("TOONTAG_MAX_PIXELS", raising=False)
    with pytest.raises(BadImageError) as info:
        open_rgb(png)
    assert str(info.value) == (
        f"{png}: 20000x20000 is over the limit of 100,000,000 pixels (a decompression bomb?); "
        "set TOONTAG_MAX_PIXELS to allow it"
    )

    class Decoding(Exception):
        pass

    def load(image):
        raise Decoding(image.size)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setenv("TOONTAG_MAX_PIXELS", "400000000")
    with pytest.raises(Decoding, match=r"\(20000, 20000\)"):
        open_rgb(png)


@pytest.mark.parametrize("text", ["lots", "4e8", "0", "-5"])
def test_a_toontag_max_pixels_that_is_not_a_number_is_named(monkeypatch, dataset, text):
    from toontag.errors import DataError

    monkeypatch.setenv("TOONTAG_MAX_PIXELS", text)
    with pytest.raises(DataError, match=f"TOONTAG_MAX_PIXELS={text!r}: not a whole number"):
        open_rgb(dataset.samples[0].path)


def test_a_fifo_named_like_an_image_is_named_not_waited_for(dataset, tmp_path):
    """Before: decoding opened the FIFO and waited for a writer forever (every command that
    reads images: predict, explain, frames, train, data stats)."""
    from tests.conftest import within
    from toontag.data.images import picture_aspect

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(BadImageError, match=r"pipe.jpg: not a regular file \(a FIFO\)$"):
        within(30, lambda: open_rgb(fifo), fifos=[fifo])
    frame = dataset.samples[0].path
    assert within(30, lambda: picture_aspect([fifo, frame]), fifos=[fifo]) == 320 / 180
    (tmp_path / "loop.jpg").symlink_to("loop.jpg")
    with pytest.raises(BadImageError, match="loop.jpg: a symlink loop"):
        open_rgb(tmp_path / "loop.jpg")
