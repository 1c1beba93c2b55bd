"""The first-run path: a model, a short video, its index and one search, in a few minutes.

`run_demo` strings about a minute of animation sequences of the training split into a video,
trains EfficientNet-Lite0 (ImageNet weights, offline) briefly with the `fast` preset on every
fourth frame of the rest of the training split (each of the video's sequences, and `GAP`
frames either side of it, kept out), indexes the video and runs one search. Given a finished
run instead, the video is made of the frames that run validated on. Test frames are never
used. Everything goes under one folder, in a folder of its own for each set of inputs (the
dataset, the run or the training settings, the video's length; `inputs.json` says which): a
second call with the same inputs reuses what the first made (a killed training resumes from its
last finished epoch), and other inputs never reuse a video or an index made from others.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from toontag.errors import IndexDbError, VideoError
from toontag.io import csv_text, write_json, write_text

EVERY = 4  # every fourth training frame: about 3,300, an epoch about a minute on 2 cores
GAP = 30  # frame ids either side of the video's sequences kept out of training
EPOCHS = 2
MODEL, IMAGE_SIZE = "efficientnet_lite0", (112, 192)  # the CPU recipe's; (height, width)


@dataclass
class Demo:
    work: Path
    run: Path
    video: Path
    db: Path
    query: str
    hits: list = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds of each step run


def run_demo(
    *,
    data: Path,
    work: Path,
    run: Path | None = None,
    seconds: float = 60.0,
    query: str | None = None,
    model: str = MODEL,
    image_size: tuple[int, int] = IMAGE_SIZE,
    every: int = EVERY,
    epochs: int = EPOCHS,
    progress: bool = True,
    say: Callable[[str], None] = lambda text: None,
) -> Demo:
    """The demo in folder `work` on the dataset at `data` (see the module). `run`: a finished
    run to use instead of training one (`model`, `image_size`, every `every`-th frame,
    `epochs`); `query`: the search (default: the two characters on screen longest, joined by
    `and`). `say(text)` is told each step as it starts."""
    from toontag.data.dataset import load_dataset
    from toontag.models.engine import load_engine
    from toontag.video.query import parse_query
    from toontag.video.synth import make_clip, write_clip

    work = Path(work)
    dataset = load_dataset(data)
    engine = load_engine(run) if run is not None else None  # a bad run fails before any work
    if query is not None:  # so does a bad query
        parse_query(query, engine.classes if engine else dataset.classes)
    inputs = {"data": str(Path(data).resolve()), "seconds": float(seconds)}
    if engine is not None:  # the run's path and its weights (a run trained again differs)
        inputs |= {"run": str(Path(run).resolve()), "model_id": engine.model_id}
    else:
        inputs |= {
            "model": model,
            "image_size": list(image_size),
            "every": every,
            "epochs": epochs,
        }
    folder = work / _folder_name(inputs)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "inputs.json").is_file():
        write_json(folder / "inputs.json", inputs)
    demo = Demo(
        work,
        Path(run) if run else folder / "run",
        folder / "episode.mp4",
        folder / "index.db",
        query or "",
    )
    timed = partial(_step, demo.steps, say=say)
    if run is None:
        clip = make_clip(dataset.subset("train"), seconds=seconds, seed=0)
        with timed(
            "model",
            f"training {demo.run}: {model} at {image_size[0]}x{image_size[1]}, "
            f"{epochs} epochs on 1/{every} of the training split",
        ):
            _train(
                dataset,
                clip,
                demo.run,
                model=model,
                image_size=image_size,
                every=every,
                epochs=epochs,
                progress=progress,
            )
        engine = load_engine(demo.run)
    else:  # any run of consecutive frames: a run may have validated on scattered ones
        from toontag.data.location import validation_frames

        clip = make_clip(validation_frames(run, dataset), seconds=seconds, seed=0, min_frames=1)
    with timed(
        "video", f"making {demo.video}: {clip.duration:.0f} s of frames it never trained on"
    ):
        if not demo.video.is_file():
            write_clip(clip, demo.video, fps=24)  # and its true timeline beside it
    with timed("index", f"indexing it into {demo.db}"):
        store = _index(engine, demo.video, demo.db)
    from toontag.video.search import search

    try:
        demo.query = query if query is not None else _busiest_pair(store)
        with timed("search", f"searching {demo.query!r}"):
            demo.hits = search(store, demo.query)
    finally:
        store.close()
    write_json(
        work / "demo.json",
        {
            "run": str(demo.run),
            "video": str(demo.video),
            "db": str(demo.db),
            "query": demo.query,
            "ranges": len(demo.hits),
            "seconds": demo.steps,
        },
    )
    return demo


def _folder_name(inputs: dict) -> str:
    """`trained-60s-<hash>` or `run-60s-<hash>`: the inputs' kind and length, then a short
    hash of them all."""
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:10]
    return f"{'run' if 'run' in inputs else 'trained'}-{inputs['seconds']:g}s-{digest}"


@contextmanager
def _step(steps: dict, name: str, what: str, say):
    """Announce a step, then time it into `steps[name]` (seconds)."""
    say(what)
    start = time.perf_counter()
    yield
    steps[name] = round(time.perf_counter() - start, 1)


def _train(dataset, clip, run: Path, *, model, image_size, every, epochs, progress) -> None:
    """Train into `run` on every `every`-th training frame away from `clip`'s sequences."""
    from toontag.config import preset
    from toontag.training.run import train_or_resume

    manifest = run.parent / "train-frames.csv"
    if not manifest.is_file():
        near = {s.frame_id + d for s in clip.frames for d in range(-GAP, GAP + 1)}
        kept = [s for s in dataset.subset("train").samples[::every] if s.frame_id not in near]
        rows = [(s.path, ";".join(s.labels), "train") for s in kept]
        write_text(manifest, csv_text(["path", "labels", "split"], rows))
    config = preset("fast").replace(model=model, image_size=image_size, max_epochs=epochs)
    train_or_resume(config, run=run, data=manifest, classes=dataset.classes, progress=progress)


def _index(engine, video: Path, db: Path):
    """The index at `db` holding `video`, indexed by `engine` (`load_engine`'s), open."""
    from toontag.video.db import Index
    from toontag.video.indexer import index_videos

    try:
        store = Index.create(db, engine)
    except IndexDbError as e:  # its advice names `index`'s options, which the demo lacks
        raise IndexDbError(
            f"{db}: not an index this demo can reuse (another model's, another toontag "
            "version's, or not an index); delete it to index the video again, or pass "
            "another --work"
        ) from e
    [outcome] = index_videos(store, engine, [video])
    if outcome.status == "failed":
        store.close()
        raise VideoError(video, outcome.detail)
    return store


def _busiest_pair(store) -> str:
    """`A and B`: the two characters on screen longest, over every indexed video."""
    from toontag.video.query import quote_name

    total = dict.fromkeys(store.classes, 0.0)
    for video in store.videos():
        for c, t in store.screen_time(video["id"]).items():
            total[c] += t
    return " and ".join(map(quote_name, sorted(total, key=total.get, reverse=True)[:2]))
