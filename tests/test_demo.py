"""The first-run demo: what it trains on, the video it makes, its search, and its reuse."""

from __future__ import annotations

import csv
import json

import pytest

from tests.test_cli import run_cli
from toontag.data.dataset import load_dataset
from toontag.demo import GAP, run_demo
from toontag.video.db import Index
from toontag.video.search import search
from toontag.video.synth import make_clip, truth_path


@pytest.fixture(scope="module")
def demo(kral_sakir, tmp_path_factory):
    """The demo at a tiny scale: the paper's CNN at 32x48, one epoch on 1/40 of train."""
    work = tmp_path_factory.mktemp("demo")
    said: list[str] = []
    result = run_demo(
        data=kral_sakir,
        work=work,
        model="baseline",
        image_size=(32, 48),
        every=40,
        epochs=1,
        seconds=20,
        progress=False,
        say=said.append,
    )
    return result, said


def test_the_demo_trains_away_from_its_video_indexes_it_and_searches(demo, kral_sakir):
    result, said = demo
    assert list(result.steps) == ["model", "video", "index", "search"] and len(said) == 4
    dataset = load_dataset(kral_sakir)
    clip = make_clip(dataset.subset("train"), seconds=20, seed=0)  # the video's frames
    trained = list(csv.DictReader((result.work / "train-frames.csv").open()))
    by_path = {str(s.path): s for s in dataset.samples}
    train_ids = [by_path[r["path"]].frame_id for r in trained]
    video_ids = [s.frame_id for s in clip.frames]
    assert all(by_path[r["path"]].split == "train" for r in trained)
    assert all(s.split == "train" for s in clip.frames)  # no test frame anywhere
    assert min(abs(a - b) for a in train_ids for b in video_ids) > GAP
    truth = json.loads(truth_path(result.video).read_text())
    assert truth["duration"] == pytest.approx(clip.duration)

    store = Index(result.db)
    [video] = store.videos()
    screen = store.screen_time(video["id"])
    top_two = sorted(screen, key=screen.get, reverse=True)[:2]
    assert result.query == " and ".join(top_two)
    assert [h.to_dict() for h in result.hits] == [h.to_dict() for h in search(store, result.query)]
    store.close()
    written = json.loads((result.work / "demo.json").read_text())
    assert written["query"] == result.query and written["ranges"] == len(result.hits)


def test_a_second_demo_reuses_what_the_first_made_and_says_how_to_open_the_page(
    demo, kral_sakir, monkeypatch, capsys
):
    result, _ = demo
    made = [result.run / "model.safetensors", result.video, result.db]
    before = [p.stat().st_mtime_ns for p in made]
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "demo",
        "--data",
        kral_sakir,
        "--work",
        result.work,
        "--query",
        "remzi or canan",
    )
    assert code == 0 and [p.stat().st_mtime_ns for p in made[:2]] == before[:2]
    store = Index(result.db)
    assert len(store.videos()) == 1  # the same video, not indexed twice
    hits = search(store, "remzi or canan")
    store.close()
    assert f"remzi or canan: {len(hits)} ranges" in out
    assert f"toontag serve --db {result.db}" in out and "http://127.0.0.1:8000/" in out
