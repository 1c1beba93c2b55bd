"""Black borders that stay all through a video, found before indexing from frames spread over
it (keyframes: one decode each) and cropped off every frame the model sees; the rule itself,
shared with stills, is `data.borders`."""

from __future__ import annotations

from toontag.data.borders import SAMPLES, WIDTH, Picture, find_picture


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
