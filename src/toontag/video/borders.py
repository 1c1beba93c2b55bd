"""Black borders that stay all through a video (letterbox, pillarbox, both), found before
indexing and cropped off every frame the model sees.

A few frames spread over the video (keyframes: one decode each) are looked at small and gray.
In each, the rows and columns from every edge in which almost no pixel is brighter than
near-black count as its border. A frame that is dark all over (a fade, a black frame) says
nothing and is passed over; of the others, the border is what is black in *every* one, so a
night scene or a dark sky in some frames is never cropped, and too few informative frames
means no crop. The picture left is then fitted, never stretched, into the aspect of the
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
    left, top, right, bottom = np.min(np.array(edges), axis=0)
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
        return Picture(width, height)  # not a border: a video that is mostly black
    return picture


def detect_picture(video, samples: int = SAMPLES) -> Picture:
    """The picture inside `video` (an open `Video`), from `samples` frames spread over it.
    A video stored sideways (rotation metadata, as phones write) is not looked at: whole."""
    height = max(2, round(video.height * WIDTH / video.width))
    frames = video.spread_frames(samples)
    if any(frame.rotation for frame in frames):
        return Picture(video.width, video.height)
    grays = [
        frame.reformat(min(WIDTH, video.width), height, "gray").to_ndarray() for frame in frames
    ]
    return (
        find_picture(grays, video.width, video.height)
        if grays
        else Picture(video.width, video.height)
    )


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
