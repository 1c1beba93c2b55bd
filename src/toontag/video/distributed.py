"""Indexing on a Ray cluster (`toontag index ... --ray ADDRESS`).

Ray actors do the work of one video each (`analyse_video`: reading, content hashing, decoding,
inference, smoothing), with the model loaded once per actor from the run's files, which the
driver puts in Ray's object store (workers need toontag installed, not the run's folder). A
worker with a GPU runs PyTorch on it; the others run ONNX Runtime on their CPU. The driver
does only what must be in one place: it checks each video against the index (size, mtime and
settings: an unchanged video is never sent), hands the videos out, and writes each finished
video in one transaction as its record streams back, so a killed driver resumes at the videos
not yet written, and the index is the same as `index` without Ray would make.

A worker that dies mid-video is restarted by Ray and its video is run again there (at-least-
once; the driver writes only whole records). Workers may see the videos under another mount
point: `path_map` replaces a driver's path prefix by the workers'.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from pathlib import Path

from toontag.errors import ModelError, ToontagError, failure_reason
from toontag.progress import progress_bar
from toontag.runs import CONFIG, ENSEMBLE, MODEL_INFO, ONNX_FILE, WEIGHTS
from toontag.video.db import Index
from toontag.video.indexer import (
    IndexSettings,
    Outcome,
    analyse_video,
    commit,
    known_state,
)

RUN_FILES = (CONFIG, MODEL_INFO, WEIGHTS, ONNX_FILE)  # ONNX last
RESTARTS = 3  # times Ray restarts a dead worker, and runs its video again


class RayError(ToontagError):
    """The Ray cluster cannot be reached or used."""


def run_files(run: Path) -> dict[str, bytes]:
    """The files a worker rebuilds the run from (its ONNX export made first if stale)."""
    from toontag.models.engine import onnx_for

    run = Path(run)
    if (run / ENSEMBLE).is_file():
        raise ModelError(f"{run}: an ensemble; --ray takes a single run (export members apart)")
    onnx_for(run)
    return {name: (run / name).read_bytes() for name in RUN_FILES}


def map_path(path: Path, path_map: list[tuple[str, str]]) -> str:
    """`path` as the workers see it: the first matching driver prefix replaced."""
    text = str(path)
    for driver, worker in path_map:
        if text == driver or text.startswith(driver.rstrip("/") + "/"):
            return worker.rstrip("/") + text[len(driver.rstrip("/")) :]
    return text


class IndexWorker:
    """One Ray actor: the run rebuilt in a private folder, its engine loaded once."""

    def __init__(self, files: dict[str, bytes], engine: str, threads: int):
        self.folder = Path(tempfile.mkdtemp(prefix="toontag-run-"))
        for name in RUN_FILES:
            (self.folder / name).write_bytes(files[name])
        if engine == "onnx":  # ONNX Runtime alone: the worker never imports PyTorch
            from toontag.models.runtime import OnnxModel

            self.model = OnnxModel(self.folder / "model.onnx", threads=threads)
        else:
            from toontag.models.engine import load_engine

            self.model = load_engine(self.folder, engine)

    def analyse(
        self, path: str, key: str, settings: IndexSettings, known_sha256: str | None, batch: int
    ):
        try:
            return analyse_video(
                self.model,
                Path(path),
                settings=settings,
                key=key,
                known_sha256=known_sha256,
                batch_size=batch,
            )
        except Exception as e:  # noqa: BLE001  (one file's failure is its own)
            return ("failed", failure_reason(e, Path(path)))


def connect(address: str):
    """Ray, connected: "local" starts a Ray instance on this machine, else `address`
    ("auto", "HOST:PORT", "ray://HOST:PORT") names a running cluster."""
    import logging

    try:
        import ray
    except ImportError:
        raise RayError("Ray is not installed: pip install 'toontag[ray]'") from None
    if ray.is_initialized():
        return ray
    if address not in ("local", "auto"):  # Ray retries an unreachable address for minutes
        reachable(address)
    try:
        ray.init(
            address=None if address == "local" else address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RayError(f"cannot reach the Ray cluster at {address}: {first[:200]}") from None
    return ray


def reachable(address: str, timeout: float = 5.0) -> None:
    """A one-line error unless something listens at `address` ([ray://]HOST:PORT)."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RayError(f"{address}: a Ray address is local, auto or HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        reason = e.strerror or type(e).__name__
        raise RayError(f"cannot reach the Ray cluster at {address}: {reason}") from None


def index_on_ray(
    index: Index,
    run: Path,
    paths: list[Path],
    *,
    address: str,
    settings: IndexSettings,
    batch_size: int = 32,
    workers: int | None = None,
    path_map: list[tuple[str, str]] = (),
) -> list[Outcome]:
    """Index `paths` with Ray workers (see the module); their outcomes. `workers`: actors
    to start (default: one per CPU of the cluster; one per GPU of them runs on a GPU)."""
    ray = connect(address)
    from ray.exceptions import RayError as RayFailure

    files = ray.put(run_files(run))
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    count = workers or max(1, int(resources.get("CPU", 1)))
    remote = ray.remote(max_restarts=RESTARTS, max_task_retries=RESTARTS)(IndexWorker)
    actors = [
        remote.options(num_gpus=1, num_cpus=0).remote(files, "torch", 1)
        if k < gpus
        else remote.options(num_cpus=1).remote(files, "onnx", 1)
        for k in range(count)
    ]
    outcomes, queue, pending = [], deque(), {}
    for path in paths:
        try:
            done, known = known_state(index, path, settings)
        except Exception as e:  # noqa: BLE001
            done, known = Outcome(path, "failed", failure_reason(e, path)), None
        if done:
            outcomes.append(done)
        else:
            queue.append((path, known))
    idle = list(actors)
    with progress_bar() as bar:
        task = bar.add_task(f"videos on {count} Ray workers", total=len(queue))
        while queue or pending:
            while idle and queue:
                path, known = queue.popleft()
                actor = idle.pop()
                ref = actor.analyse.remote(
                    map_path(path, path_map), str(path), settings, known, batch_size
                )
                pending[ref] = (path, actor, time.perf_counter())
            [ref], _ = ray.wait(list(pending), num_returns=1)
            path, actor, start = pending.pop(ref)
            idle.append(actor)
            try:
                result = ray.get(ref)
            except RayFailure as e:
                result = ("failed", f"Ray worker lost ({type(e).__name__})")
            if isinstance(result, tuple):
                outcomes.append(Outcome(path, "failed", result[1]))
            else:
                outcomes.append(commit(index, path, result, time.perf_counter() - start))
            bar.advance(task)
    for actor in actors:
        ray.kill(actor)
    order = {path: k for k, path in enumerate(paths)}
    return sorted(outcomes, key=lambda o: order[o.path])
