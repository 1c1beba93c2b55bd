"""Shared fixtures: the real dataset beside the repo, small slices of it, and isolated caches.

Tests never reach the network (the hub is switched offline) and never write outside tmp.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import errno
import os
import shutil
import tempfile
import threading
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # a hub lookup fails at once instead of retrying
if "TOONTAG_CACHE" not in os.environ:
    # The session's own feature cache (about a GB over the suite), removed as it ends: one left
    # behind by every run filled the disk until CI's install failed.
    os.environ["TOONTAG_CACHE"] = tempfile.mkdtemp(prefix="toontag-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TOONTAG_CACHE"], ignore_errors=True)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Where the commands look too (data.location): $TOONTAG_DATA, the README's clone beside the
# code, then CI's layout beside the repository.
KRAL_SAKIR = Path(
    os.environ.get("TOONTAG_DATA")
    or next(
        (
            p
            for p in (REPO / "kral_sakir", REPO.parent / "shared" / "data" / "kral_sakir")
            if (p / "train").is_dir()
        ),
        REPO.parent / "shared" / "data" / "kral_sakir",
    )
)


def pytest_sessionstart(session):
    """Under CI (TOONTAG_REQUIRE_BROWSER=1) the browser tests must run, not skip."""
    from toontag.explain.browser import chromium

    if os.environ.get("TOONTAG_REQUIRE_BROWSER") == "1" and chromium() is None:
        raise pytest.UsageError("TOONTAG_REQUIRE_BROWSER=1 but Chromium is not installed")


@pytest.fixture(scope="session")
def kral_sakir() -> Path:
    if not (KRAL_SAKIR / "train").is_dir():
        pytest.fail(f"the Kral Sakir dataset is expected at {KRAL_SAKIR} (or set TOONTAG_DATA)")
    return KRAL_SAKIR


@pytest.fixture(scope="session")
def dataset(kral_sakir):
    from toontag.data.dataset import load_dataset

    return load_dataset(kral_sakir)


@pytest.fixture
def refuse_listing(monkeypatch):
    """A function that makes a folder unlistable, as `chmod 000` does for anyone but root
    (who reads anything, as tests in a container often run): `os.scandir` refuses it with
    the system's PermissionError."""
    refused, scandir = set(), os.scandir

    def refusing(path="."):
        if isinstance(path, (str, os.PathLike)) and Path(path).resolve() in refused:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    return lambda folder: refused.add(Path(folder).resolve())


def within(seconds: float, work, *, fifos=()):
    """`work()`'s result (or its exception), failing the test if it has not returned after
    `seconds`: it runs on a daemon thread, so a reader that blocks cannot hang the test run. A
    reader then waiting on one of `fifos` is let go (a writer opens it and closes it at once)."""
    result, failure = [], []

    def run():
        try:
            result.append(work())
        except BaseException as e:  # noqa: BLE001  (raised again in the test's thread)
            failure.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=seconds)
    if worker.is_alive():
        for _ in range(50):  # a reader may open the FIFO again, or another one
            for fifo in fifos:
                with contextlib.suppress(OSError):  # no reader waiting on it
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            worker.join(timeout=0.1)
        pytest.fail(f"still running after {seconds} s (waiting on a FIFO?)")
    if failure:
        raise failure[0]
    return result[0]


def write_manifest(path: Path, samples, *, split: bool = True, unknown=None) -> Path:
    """A manifest of `samples`; with `unknown(i, sample)`, the classes row i marks unknown
    (left out of its labels) in an ``unknown`` column."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "labels", *["split"] * split, *["unknown"] * bool(unknown)])
        for i, s in enumerate(samples):
            hidden = list(unknown(i, s)) if unknown else []
            row = [str(s.path), ";".join(c for c in s.labels if c not in hidden)]
            writer.writerow([*row, *[s.split] * split, *[";".join(hidden)] * bool(unknown)])
    return path


def write_project(folder: Path, labels: str, pool: str | None = None) -> Path:
    """A bare labelling project in `folder`: project.json, the text of its labels.csv and,
    when given, of its pool.csv (no frames: reading it as a dataset decodes nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.json").write_text('{"format": 1, "sources": []}')
    (folder / "labels.csv").write_text(labels)
    if pool is not None:
        (folder / "pool.csv").write_text(pool)
    return folder


class Started:
    """A command started in a subprocess, its stdout and stderr pipes (not a terminal) read
    line by line as they come."""

    def __init__(self, args, env=None):
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "toontag", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=self._read, args=(pipe, lines), daemon=True)
            for pipe, lines in ((self.process.stdout, self.out), (self.process.stderr, self.err))
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(pipe, lines: list[str]) -> None:
        for line in pipe:
            lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, *, timeout: float, err: bool = False) -> str:
        """The first line of stdout (stderr with `err`) holding `text`, once it comes."""
        import time

        lines = self.err if err else self.out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(lines) if text in line), None)
            if found is not None:
                return found
            if self.process.poll() is not None and not any(r.is_alive() for r in self.readers):
                break
            time.sleep(0.1)
        pytest.fail(f"no {text!r} in {lines[-20:]} (exit {self.process.poll()})")

    def stop(self) -> None:
        """Ctrl+C, as a person stops a server; killed if it has not ended in 30 s."""
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for reader in self.readers:
            reader.join(10)


@contextlib.contextmanager
def started(args, env=None):
    """`toontag ARGS` running in a subprocess until the block ends (see `Started`)."""
    command = Started(args, env)
    try:
        yield command
    finally:
        command.stop()


@pytest.fixture(scope="session")
def small_manifest(dataset, tmp_path_factory) -> Path:
    """Every 40th frame of each split: 335 train and 84 test images covering all classes."""
    train = [s for s in dataset.samples if s.split == "train"][::40]
    test = [s for s in dataset.samples if s.split == "test"][::40]
    return write_manifest(tmp_path_factory.mktemp("slice") / "small.csv", train + test)


@pytest.fixture(scope="session")
def tiny_run(small_manifest, tmp_path_factory) -> Path:
    """A finished run of the paper's CNN at 32x48, two epochs on the small slice (~20 s)."""
    from toontag.config import TrainConfig
    from toontag.training.run import train

    run = tmp_path_factory.mktemp("tiny") / "run"
    config = TrainConfig(model="baseline", image_size=(32, 48), max_epochs=2, lr=1e-3)
    train(config, data=small_manifest, run=run, progress=False)
    return run


def run_schemathesis(host: str, port: int, *, config: str, examples: int, folder: Path):
    """Schemathesis's own command against a live server's OpenAPI document: every check, a
    fixed seed, `examples` per operation and phase, `config` as its TOML. The finished
    process and its JSON report."""
    import json
    import subprocess
    import sys

    (folder / "schemathesis.toml").write_text(config)
    report = folder / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(folder / "schemathesis.toml"),
            "--no-color",
            "run",
            f"http://{host}:{port}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            str(examples),
            "--seed",
            "20240601",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--report",
            "json",
            "--report-json-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=folder,
    )
    return run, (json.loads(report.read_text()) if report.is_file() else None)


def kill_at(script: str, args, marker: Path, what: str, wait: float = 120.0) -> None:
    """Run the Python `script` with `args` in a child process and kill -9 it as soon as it
    writes `marker` (as a power cut would); fails if it ends first or waits over `wait` s."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env)
    try:
        deadline = time.monotonic() + wait
        while not marker.is_file() and child.poll() is None:
            assert time.monotonic() < deadline, f"waited {wait} s for {what}"
            time.sleep(0.05)
        assert child.poll() is None, f"the child ended before {what}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()


@pytest.fixture(scope="session")
def killed_at():
    """`kill_at`: a child process killed -9 at a point it marks."""
    return kill_at


def crash_at_epoch(epoch: int):
    """A callback that kills training at the start of `epoch` (0-based), as a power cut would."""
    import lightning as L

    class Crash(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch == epoch:
                raise SystemExit("killed")

    return Crash()


# Videos made from dataset frames with a known timeline, and a tagger that knows them.


class Oracle:
    """A perfect tagger for one clip: it recognises the clip's frames by their pixels (the
    nearest of them after H.264), so index and search can be scored without model error."""

    model = "oracle"
    image_size = (36, 64)

    def __init__(self, clip, model_id: str = "oracle-1"):
        from toontag.data.images import load_resized

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
    from fractions import Fraction

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


@pytest.fixture(scope="session")
def make_oracle():
    return Oracle
