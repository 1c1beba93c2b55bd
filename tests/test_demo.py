"""The first-run demo: what it trains on, the video it makes, its search, and its reuse."""

from __future__ import annotations

import csv
import inspect
import json
import re
import shutil

import pytest

from tests.test_cli import run_cli
from toontag.cli.demo import demo as demo_command
from toontag.data.dataset import load_dataset
from toontag.data.location import validation_frames
from toontag.demo import GAP, run_demo
from toontag.errors import IndexDbError
from toontag.runs import model_id
from toontag.video.db import Index
from toontag.video.synth import make_clip, truth_path

TINY = {  # the paper's CNN at 32x48, one epoch on 1/40 of train, a 20 s video
    "model": "baseline",
    "image_size": (32, 48),
    "every": 40,
    "epochs": 1,
    "seconds": 20,
    "progress": False,
}


def on_screen(frames, hold: float, classes) -> dict[str, list[list[float]]]:
    """Per class, the merged [start, end] seconds its frames are shown, frame i at i * hold
    (to the microsecond)."""
    spans: dict[str, list[list[float]]] = {c: [] for c in classes}
    for i, frame in enumerate(frames):
        for name in frame.labels:
            if spans[name] and spans[name][-1][1] == round(i * hold, 6):
                spans[name][-1][1] = round((i + 1) * hold, 6)
            else:
                spans[name].append([round(i * hold, 6), round((i + 1) * hold, 6)])
    return spans


def intersection(a: list[tuple[float, float]], b: list[tuple[float, float]]):
    """The ranges in both sorted lists of disjoint ranges, touching ones merged."""
    both: list[tuple[float, float]] = []
    for start_a, end_a in a:
        for start_b, end_b in b:
            start, end = max(start_a, start_b), min(end_a, end_b)
            if start < end:
                if both and abs(both[-1][1] - start) < 1e-9:
                    start = both.pop()[0]
                both.append((start, end))
    return sorted(both)


@pytest.fixture(scope="module")
def demo(kral_sakir, tmp_path_factory):
    """The demo at a tiny scale: the paper's CNN at 32x48, one epoch on 1/40 of train."""
    work = tmp_path_factory.mktemp("demo")
    said: list[str] = []
    result = run_demo(data=kral_sakir, work=work, say=said.append, **TINY)
    return result, said


def test_the_demo_trains_away_from_its_video_indexes_it_and_searches(demo, kral_sakir):
    result, said = demo
    assert list(result.steps) == ["model", "video", "index", "search"] and len(said) == 4
    dataset = load_dataset(kral_sakir)
    clip = make_clip(dataset.subset("train"), seconds=20, seed=0)  # the video's frames
    trained = list(csv.DictReader((result.video.parent / "train-frames.csv").open()))
    by_path = {str(s.path): s for s in dataset.samples}
    train_ids = [by_path[r["path"]].frame_id for r in trained]
    video_ids = [s.frame_id for s in clip.frames]
    assert all(by_path[r["path"]].split == "train" for r in trained)
    assert all(s.split == "train" for s in clip.frames)  # no test frame anywhere
    assert min(abs(a - b) for a in train_ids for b in video_ids) > GAP
    truth = json.loads(truth_path(result.video).read_text())
    assert truth["duration"] == pytest.approx(clip.duration)
    # the truth beside the video is its frames' own labels, each frame held for the clip's hold
    shown = {c: [[round(t, 6) for t in r] for r in spans] for c, spans in truth["segments"].items()}
    assert shown == on_screen(clip.frames, clip.hold, dataset.classes)

    store = Index(result.db)
    [video] = store.videos()
    segments = {c: [] for c in store.classes}
    for s in store.segments(video["id"]):
        segments[store.classes[s.character]].append((s.start, s.end))
    store.close()
    seconds = {c: sum(b - a for a, b in spans) for c, spans in segments.items()}
    first, second = sorted(seconds, key=seconds.get, reverse=True)[:2]
    assert seconds[first] > 0 and result.query == f"{first} and {second}"
    expected = intersection(segments[first], segments[second])
    assert [(h.start, h.end) for h in result.hits] == pytest.approx(expected)
    written = json.loads((result.work / "demo.json").read_text())
    assert written["query"] == result.query and written["ranges"] == len(result.hits)


def test_a_second_demo_reuses_what_the_first_made_and_says_how_to_open_the_page(
    demo, kral_sakir, monkeypatch, capsys
):
    result, _ = demo
    made = [result.run / "model.safetensors", result.video, result.db]
    before = [p.stat().st_mtime_ns for p in made]
    again = run_demo(data=kral_sakir, work=result.work, query="remzi or canan", **TINY)
    assert [p.stat().st_mtime_ns for p in made[:2]] == before[:2] and again.db == result.db
    store = Index(result.db)
    assert len(store.videos()) == 1  # the same video, not indexed twice
    store.close()
    # The command (no training options: the demo's run given as --run) prints the page's way.
    command = ["demo", "--data", kral_sakir, "--work", result.work, "--run", result.run]
    code, out, _ = run_cli(monkeypatch, capsys, *command, "--query", "remzi or canan")
    db = json.loads((result.work / "demo.json").read_text())["db"]
    store = Index(db)
    [video] = store.videos()
    either = sorted(
        (s.start, s.end)
        for s in store.segments(video["id"])
        if store.classes[s.character] in ("remzi", "canan")
    )
    store.close()
    ranges = []  # the union of the two characters' segments, overlapping or touching merged
    for start, end in either:
        if ranges and start <= ranges[-1][1] + 1e-9:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    assert code == 0 and f"remzi or canan: {len(ranges)} ranges" in out
    assert f"toontag serve --db {db}" in out and "the address it prints" in out


def test_other_inputs_get_a_video_and_index_of_their_own_and_the_same_ones_reuse_them(
    demo, kral_sakir, tiny_run
):
    """Another --run and --seconds in the first demo's folder: a video of that run's
    validation frames at that length, indexed by that run, the first demo's files untouched
    (they were reused and the index refused, naming `index`'s --db, not a demo option)."""
    result, _ = demo
    first = [p.stat().st_mtime_ns for p in (result.video, result.db)]
    other = run_demo(data=kral_sakir, work=result.work, run=tiny_run, seconds=10, progress=False)
    assert [p.stat().st_mtime_ns for p in (result.video, result.db)] == first
    clip = make_clip(
        validation_frames(tiny_run, load_dataset(kral_sakir)), seconds=10, seed=0, min_frames=1
    )
    truth = json.loads(truth_path(other.video).read_text())
    assert other.video != result.video and truth["duration"] == pytest.approx(clip.duration)
    store = Index(other.db)
    assert store.model_id == model_id(tiny_run) and len(store.videos()) == 1
    store.close()
    made = [p.stat().st_mtime_ns for p in (other.video, other.db)]
    again = run_demo(data=kral_sakir, work=result.work, run=tiny_run, seconds=10, progress=False)
    assert (again.video, again.db) == (other.video, other.db)
    assert [p.stat().st_mtime_ns for p in (other.video, other.db)] == made

    # An index put in its place by hand is refused in the demo's own terms.
    shutil.copy(result.db, other.db)
    with pytest.raises(IndexDbError) as info:
        run_demo(data=kral_sakir, work=result.work, run=tiny_run, seconds=10, progress=False)
    options = {f"--{name}" for name in inspect.signature(demo_command).parameters}
    named = set(re.findall(r"--[a-z][a-z-]*", str(info.value)))
    assert str(other.db) in str(info.value) and named and named <= options
