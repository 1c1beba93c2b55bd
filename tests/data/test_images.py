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
