"""Black borders (letterbox, pillarbox, both) found in a picture and cropped off before the
model sees it: a video's (`video.borders` looks at frames spread over it) and a still's.

A picture is looked at small and gray: the rows and columns from every edge in which almost
no pixel is brighter than near-black count as its border. A frame that is dark all over (a
fade, a black frame) says nothing. Of a video's frames the border is what is black in *every*
informative one, so a night scene or a dark sky in some frames is never cropped, and too few
informative frames means no crop (`find_picture`). A still has one frame only, so its border
must also look made: the bars at opposite edges as wide as each other, as a letterboxing or
pillarboxing tool leaves them, so a dark sky or floor alone is never cropped
(`still_picture`). The picture left is then fitted, never stretched, into the aspect of the
frames the model was trained on (`fit_picture`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

BLACK = 32  # luma at or below this is black (an encoder's noise on a black bar included)
STRAY = 0.02  # a line with at most this share of brighter pixels is still black
SAMPLES = 16  # frames looked at per video
INFORMATIVE = 4  # frames that are not dark all over needed to decide anything
LEAST = 0.02  # a border thinner than this share of the side is not one (encoder padding)
KEEPS = 0.25  # a crop must leave at least this share of each side, else it is refused
WIDTH = 320  # the width frames are looked at
SYMMETRY = 0.02  # a still's opposite bars differ by at most this share of the side


@dataclass(frozen=True)
class Picture:
    """Where the picture is inside a `width` x `height` frame, in the frame's pixels."""

    width: int
    height: int
    left: int = 0
    top: int = 0
    right: int = 0  # black columns at the right edge
    bottom: int = 0

    @property
    def cropped(self) -> bool:
        return any((self.left, self.top, self.right, self.bottom))

    @property
    def kind(self) -> str:
        rows, cols = self.top + self.bottom > 0, self.left + self.right > 0
        return {
            (False, False): "full frame",
            (True, False): "letterbox",
            (False, True): "pillarbox",
            (True, True): "windowbox",
        }[rows, cols]

    @property
    def box(self) -> tuple[int, int, int, int]:
        """PIL's crop box: left, upper, right, lower."""
        return self.left, self.top, self.width - self.right, self.height - self.bottom

    def to_dict(self) -> dict:
        left, top, right, bottom = self.box
        return {"kind": self.kind, **asdict(self), "picture": [right - left, bottom - top]}


def black_edges(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """Black lines from each edge of one gray frame (left, top, right, bottom); None when
    the whole frame is dark."""
    bright = gray > BLACK
    rows = bright.mean(axis=1) <= STRAY
    cols = bright.mean(axis=0) <= STRAY
    if rows.all() or cols.all():
        return None

    def run(flags: np.ndarray) -> int:
        return int(np.argmin(flags))  # the first line that is not black

    return run(cols), run(rows), run(cols[::-1]), run(rows[::-1])


def find_picture(grays: list[np.ndarray], width: int, height: int) -> Picture:
    """The border black in every informative frame of `grays` (all of one size), scaled to
    the `width` x `height` frame; rounded inwards, so no picture pixel is cut."""
    edges = [e for e in (black_edges(g) for g in grays) if e is not None]
    if len(edges) < INFORMATIVE:
        return Picture(width, height)
    small_h, small_w = grays[0].shape
    return scaled_picture(np.min(np.array(edges), axis=0), small_w, small_h, width, height)


def still_picture(image: Image.Image) -> Picture:
    """The picture inside one still: its black bars where opposite ones match (within
    `SYMMETRY` of the side; a lone dark edge is part of the picture), else the whole still."""
    width, height = image.size
    small = np.asarray(image.convert("L").resize((WIDTH, max(2, round(height * WIDTH / width)))))
    edges = black_edges(small)
    if edges is None:
        return Picture(width, height)
    left, top, right, bottom = edges
    small_h, small_w = small.shape
    if abs(left - right) > SYMMETRY * small_w:
        left = right = 0
    if abs(top - bottom) > SYMMETRY * small_h:
        top = bottom = 0
    return scaled_picture((left, top, right, bottom), small_w, small_h, width, height)


def scaled_picture(edges, small_w: int, small_h: int, width: int, height: int) -> Picture:
    """Black lines (left, top, right, bottom) found at `small_w` x `small_h`, as the picture
    of the `width` x `height` frame; rounded inwards, a border thinner than `LEAST` is none
    and a crop leaving less than `KEEPS` of a side is refused (mostly black, not a border)."""
    left, top, right, bottom = (int(v) for v in edges)
    sx, sy = width / small_w, height / small_h

    def scaled(lines: int, scale: float, side: int) -> int:
        pixels = int(np.floor(lines * scale))
        return pixels if pixels >= LEAST * side else 0

    picture = Picture(
        width,
        height,
        scaled(left, sx, width),
        scaled(top, sy, height),
        scaled(right, sx, width),
        scaled(bottom, sy, height),
    )
    kept_w, kept_h = picture.box[2] - picture.box[0], picture.box[3] - picture.box[1]
    if kept_w < KEEPS * width or kept_h < KEEPS * height:
        return Picture(width, height)
    return picture


def fit_picture(image: Image.Image, picture: Picture, aspect: float) -> Image.Image:
    """The frame's picture, cropped out of its borders and padded with black to `aspect`
    (width / height; the model's training frames), never stretched. A full frame is kept as
    it is."""
    if not picture.cropped:
        return image
    image = image.crop(picture.box)
    width, height = image.size
    if abs(width / height - aspect) < 0.01 * aspect:
        return image
    target = (
        (round(height * aspect), height)
        if width / height < aspect
        else (width, round(width / aspect))
    )
    canvas = Image.new("RGB", target)
    canvas.paste(image, ((target[0] - width) // 2, (target[1] - height) // 2))
    return canvas
