"""Decode any image a user may hand us into RGB, or fail with a one-line reason."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from toontag.data.borders import fit_picture, still_picture
from toontag.errors import BadImageError, DataError, FileError
from toontag.io import open_regular

# Larger pictures are refused before decoding (a decompression bomb would exhaust memory):
# 100 megapixels, about a 13,000 x 7,700 frame; $TOONTAG_MAX_PIXELS changes it.
MAX_PIXELS = 100_000_000
# That limit stands in for Pillow's own, checked on every picture toontag opens straight after
# its header is read: Pillow's, fixed at 89 megapixels, would print its raw warning (with its
# source path) above it and refuse in its own words at twice it, whatever TOONTAG_MAX_PIXELS
# says.
Image.MAX_IMAGE_PIXELS = None
ORIENTATION, TURNED = 0x0112, {5, 6, 7, 8}  # the EXIF tag; its values for a quarter turn

# The width / height of the pictures a run was trained on, for runs that do not record it:
# they were all trained on Kral Sakir's 320x180 frames.
PICTURE_ASPECT = 16 / 9


def max_pixels() -> int:
    """The largest picture opened, in pixels: $TOONTAG_MAX_PIXELS, else `MAX_PIXELS`."""
    text = os.environ.get("TOONTAG_MAX_PIXELS", "").strip()
    if not text:
        return MAX_PIXELS
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise DataError(
            f"TOONTAG_MAX_PIXELS={text!r}: not a whole number of pixels, e.g. 400000000"
        )
    return limit


def open_rgb(
    path: Path, *, at_least: tuple[int, int] | None = None
) -> tuple[Image.Image, str | None]:
    """Open `path` fully decoded as RGB; returns the image and a note when it was converted.

    Alpha is composited onto white (cartoon frames have light backgrounds more often than
    dark), grayscale and CMYK are converted. Unreadable or truncated files raise
    `BadImageError` naming the file. `at_least` (height, width): a JPEG may be decoded at
    libjpeg's 1/2, 1/4 or 1/8 scale as long as the picture, turned upright, stays at least
    this large (a 1920x1080 still for a 112x192 model decodes at 1/4, three times faster).
    """
    limit = max_pixels()
    try:
        with open_regular(path, error=BadImageError) as file, Image.open(file) as im:
            width, height = im.size
            if width * height > limit:
                raise BadImageError(
                    path,
                    f"{width}x{height} is over the limit of {limit:,} pixels "
                    "(a decompression bomb?); set TOONTAG_MAX_PIXELS to allow it",
                )
            if at_least is not None:
                high, wide = at_least
                if im.getexif().get(ORIENTATION, 1) in TURNED:
                    high, wide = wide, high
                im.draft(im.mode, (wide, high))  # JPEG only; other formats ignore it
            im.load()
            rotated = ImageOps.exif_transpose(im)  # as a camera or editor meant it shown
            im = rotated if rotated is not None else im
            mode = im.mode
            if mode in ("I;16", "I;16L", "I;16B", "I"):  # 16-bit grayscale: scale, not clip
                wide = np.asarray(im, dtype=np.float64)
                top = 65535.0 if mode.startswith("I;16") or wide.max() > 255 else 255.0
                gray = np.clip(wide / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                return Image.fromarray(gray).convert("RGB"), f"{mode} scaled to 8-bit RGB"
            if mode == "RGB":
                return im.copy(), None
            if "A" in mode or (mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return Image.alpha_composite(white, rgba).convert("RGB"), (
                    f"{mode} with alpha, composited onto white"
                )
            return im.convert("RGB"), f"{mode} converted to RGB"
    except FileNotFoundError as e:
        raise BadImageError(path, "file not found") from e
    except UnidentifiedImageError as e:
        raise BadImageError(path, "not a readable image") from e
    except Image.DecompressionBombError as e:  # Pillow's limit, where other code set it again
        raise BadImageError(path, f"refused: {e}") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(path, f"cannot decode ({e})") from e


def load_resized(
    path: Path, size: tuple[int, int], *, aspect: float | None = None
) -> tuple[np.ndarray, str | None]:
    """Decode `path` and resize it to (height, width): a uint8 HxWx3 array and the note.
    `aspect` (width / height of the model's training pictures): a still's black bars are
    cropped first and the picture fitted to it, as `index` does to a video's (`borders`)."""
    height, width = size
    image, note = open_rgb(path, at_least=(2 * height, 2 * width))  # then resized smoothly
    if aspect is not None:
        picture = still_picture(image)
        if picture.cropped:
            image = fit_picture(image, picture, aspect)
            cropped = f"{picture.kind} cropped"
            note = cropped if note is None else f"{note}; {cropped}"
    return resize_rgb(image, size), note


def picture_aspect(paths: list[Path], sample: int = 64) -> float:
    """The median width / height of (up to `sample` of) `paths`, read from their headers;
    PICTURE_ASPECT when none can be read."""
    step = max(1, len(paths) // sample)
    aspects = []
    for path in paths[::step][:sample]:
        try:
            with open_regular(path) as file, Image.open(file) as image:
                width, height = image.size
        except (OSError, ValueError, Image.DecompressionBombError, FileError):
            continue
        if width and height:
            aspects.append(width / height)
    return float(np.median(aspects)) if aspects else PICTURE_ASPECT


def resize_rgb(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """An RGB image resized to (height, width) as the model sees it: uint8 HxWx3. Training
    images and video frames both go through here."""
    height, width = size
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(image, dtype=np.uint8)
