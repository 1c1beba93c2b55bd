"""Videos made from dataset frames with a known timeline, and a tagger that knows them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from toontag.data.images import load_resized


class Oracle:
    """A perfect tagger for one clip: it recognises the clip's frames by their pixels (the
    nearest of them after H.264), so index and search can be scored without model error."""

    model = "oracle"
    image_size = (36, 64)

    def __init__(self, clip, model_id: str = "oracle-1"):
        self.model_id = model_id
        self.classes = clip.classes
        self.thresholds = (0.5,) * len(clip.classes)
        frames = {s.path: s for s in clip.frames}
        self.refs = np.stack([load_resized(p, self.image_size)[0] for p in frames]).astype(np.int16)
        self.labels = np.array([[c in s.labels for c in self.classes] for s in frames.values()])
        self.calls = 0

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        distance = np.abs(images[:, None].astype(np.int16) - self.refs[None]).mean(axis=(2, 3, 4))
        return np.where(self.labels[distance.argmin(axis=1)], 0.95, 0.05).astype(np.float32)


def encode(path: Path, images, times, *, codec="libx264", pix_fmt="yuv420p") -> Path:
    """Write RGB `images` shown at `times` (seconds; any spacing: variable frame rate)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = pix_fmt
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for image, t in zip(images, times, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="session")
def clip(dataset):
    """About 40 s of test-split sequences, each frame held 0.5 s."""
    from toontag.video.synth import make_clip

    return make_clip(dataset.subset("test"), seconds=40, hold=0.5, seed=1)


@pytest.fixture(scope="session")
def clip_video(clip, tmp_path_factory) -> Path:
    from toontag.video.synth import write_clip

    path = tmp_path_factory.mktemp("clip") / "episode.mp4"
    write_clip(clip, path, fps=10)
    return path


@pytest.fixture(scope="session")
def encode_video():
    return encode


@pytest.fixture
def oracle(clip) -> Oracle:
    return Oracle(clip)
