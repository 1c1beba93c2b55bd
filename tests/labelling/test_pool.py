"""The pool of a labelling project, from real dataset frames: videos made from test-split
sequences with a known timeline, folders of dataset images (some duplicated, one corrupt)."""

from __future__ import annotations

import bisect
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli

from toontag.data.audit import thumbnail_distances
from toontag.data.dataset import load_dataset
from toontag.data.images import open_rgb
from toontag.labelling.candidates import thumbnail
from toontag.labelling.pool import add_to_pool
from toontag.labelling.project import Project
from toontag.labelling.video_candidates import video_candidates
from toontag.video.decode import Video


def truth_of(video: Path) -> tuple[list[dict], list[float]]:
    """The clip's frames (each with its start) and the times where one sequence ends."""
    frames = json.loads(video.with_suffix(".truth.json").read_text())["frames"]
    ids = [int(Path(f["path"]).stem) for f in frames]
    cuts = [f["start"] for i, f in enumerate(frames) if i and ids[i] != ids[i - 1] + 1]
    return frames, cuts


def pool_files(project: Path) -> set[str]:
    return {p.relative_to(project).as_posix() for p in (project / "frames").rglob("*.jpg")}


@pytest.fixture(scope="module")
def images(dataset, tmp_path_factory) -> tuple[Path, list[Path]]:
    """Six distinct test frames, a copy of one in a subfolder, another saved again as PNG,
    and a JPEG cut short."""
    folder = tmp_path_factory.mktemp("images") / "stills"
    (folder / "more").mkdir(parents=True)
    picked = [s.path for s in dataset.subset("test").samples[::300][:6]]
    for path in picked:
        shutil.copy(path, folder / path.name)
    shutil.copy(picked[0], folder / "more" / "copy.jpg")
    open_rgb(picked[1])[0].save(folder / "more" / "again.png")
    (folder / "broken.jpg").write_bytes(picked[2].read_bytes()[:300])
    return folder, picked


def test_a_frame_before_the_stream_start_is_stored_at_zero(clip_video, tmp_path, monkeypatch):
    """A stream whose first frames come before its declared start (negative times): such a
    frame is named and stored at 0 s alike, and a pool.csv an older toontag wrote with the
    raw negative time still opens, read as 0."""
    opened = Video.__init__

    def declaring_a_late_start(self, *args, **options):
        opened(self, *args, **options)
        self.start += truth_of(clip_video)[1][0] + 0.3  # its first cut: before the start
        self.declared_duration = None

    monkeypatch.setattr(Video, "__init__", declaring_a_late_start)
    store = Project.open(tmp_path / "p", create=True)
    with Video(clip_video) as video:
        taken, _ = video_candidates(video, store, label="v", folder="v", every=2.0, per_shot=8)
    first = min(taken, key=lambda c: c.frame.time).frame
    assert (first.time, first.path) == (0.0, "v/000000000.jpg")
    assert all(int(c.frame.path[2:-4]) == round(c.frame.time * 1000) for c in taken)

    add_to_pool(tmp_path / "q", [clip_video], max_distance=0)
    pool = tmp_path / "q" / "pool.csv"
    with pool.open(newline="") as f:
        rows = list(csv.reader(f))
    rows[1][2] = "-1.700"  # as an older toontag stored it
    with pool.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    assert Project.open(tmp_path / "q").read_pool()[0].time == 0.0


def test_a_video_gives_each_shot_and_a_frame_every_two_seconds(clip_video, tmp_path):
    project = tmp_path / "p"
    summary = add_to_pool(project, [clip_video], max_distance=0)
    [outcome] = summary.sources
    assert outcome.status == "added" and outcome.shots >= 13
    pool = Project.open(project).read_pool()
    assert len(pool) == summary.total == outcome.added
    frames, cuts = truth_of(clip_video)
    times = [f.time for f in pool]
    assert times == sorted(times) and all(f.source == str(clip_video) for f in pool)
    # the middle of every shot PySceneDetect found, and the picture on screen every 2 s (a
    # sample showing the same picture as its shot's middle is dropped as a duplicate)
    assert {f.shot for f in pool if f.reason == "shot"} == set(range(outcome.shots))
    shown = {int(t // 0.5) for t in times}
    assert all(int(2 * k // 0.5) in shown for k in range(int(outcome.duration // 2)))
    assert any(f.reason == "regular" for f in pool)
    # each frame shows what the timeline has at its time; a shot never spans a true cut
    thumbs = np.load(project / "thumbs.npy")
    for frame, thumb in zip(pool, thumbs, strict=True):
        true = thumbnail(open_rgb(frames[int(frame.time // 0.5)]["path"])[0])
        assert float(thumbnail_distances(thumb[None], true[None])) < 4, frame
        assert (frame.width, frame.height) == open_rgb(project / frame.path)[0].size
    sequence = {}
    for frame in pool:
        sequence.setdefault(frame.shot, set()).add(bisect.bisect_right(cuts, frame.time))
    assert all(len(s) == 1 for s in sequence.values())
    assert pool_files(project) == {f.path for f in pool}

    # near-duplicates (the split's distance, 10) dropped: fewer frames, none close to another
    deduped = tmp_path / "d"
    summary = add_to_pool(deduped, [clip_video])
    kept = Project.open(deduped).read_pool()
    assert 0 < len(kept) < len(pool) and summary.sources[0].dropped > 0
    assert {f.path for f in kept} <= {f.path for f in pool}
    distance = thumbnail_distances(*[np.load(deduped / "thumbs.npy")] * 2).numpy()
    assert (distance[~np.eye(len(kept), dtype=bool)] > 10).all()
    assert pool_files(deduped) == {f.path for f in kept}


def test_a_still_held_ten_seconds_is_one_frame(dataset, encode_video, tmp_path):
    image = np.asarray(open_rgb(dataset.samples[0].path)[0].resize((192, 112)))
    video = encode_video(tmp_path / "still.mp4", [image] * 100, [i / 10 for i in range(100)])
    summary = add_to_pool(tmp_path / "p", [video])
    [outcome] = summary.sources
    assert (outcome.added, outcome.shots, outcome.candidates) == (1, 1, 6)  # 5 regular
    [frame] = Project.open(tmp_path / "p").read_pool()
    assert (frame.reason, frame.shot, frame.width, frame.height) == ("shot", 0, 192, 112)


def test_a_folder_of_images_gives_the_distinct_ones(images, tmp_path):
    folder, picked = images
    summary = add_to_pool(tmp_path / "p", [folder])
    [outcome] = summary.sources
    assert (outcome.status, outcome.added, outcome.dropped) == ("added", 6, 2)
    assert [(Path(p).name, r) for p, r in outcome.unreadable] == [
        ("broken.jpg", "not a readable image")
    ]
    pool = Project.open(tmp_path / "p").read_pool()
    assert sorted(Path(f.source).name for f in pool) == sorted(p.name for p in picked)
    assert {(f.reason, f.time, f.shot) for f in pool} == {("image", None, None)}
    again = add_to_pool(tmp_path / "p", [folder]).sources[0]
    assert (again.status, again.added) == ("unchanged", 0)
    # a new image in the folder: it and the images not in the pool (dropped before) are read
    shutil.copy(picked[0], folder / "more" / "late.jpg")
    try:
        later = add_to_pool(tmp_path / "p", [folder]).sources[0]
    finally:
        (folder / "more" / "late.jpg").unlink()
    assert (later.status, later.added, later.candidates, later.dropped) == ("added", 0, 3, 3)
    assert len(later.unreadable) == 1


def test_adding_a_video_again_adds_nothing(clip_video, tmp_path):
    project = tmp_path / "p"
    add_to_pool(project, [clip_video])
    before = (project / "pool.csv").read_bytes()
    copy = tmp_path / "renamed.mp4"
    shutil.copy(clip_video, copy)
    again = add_to_pool(project, [clip_video, copy])
    assert [(o.status, o.detail) for o in again.sources] == [
        ("unchanged", "same size and mtime"),
        ("unchanged", f"same content as {clip_video}"),
    ]
    assert (project / "pool.csv").read_bytes() == before


def test_a_moved_project_still_loads_and_trains_from(clip_video, tmp_path):
    project = tmp_path / "p"
    inside = project / "episodes" / "one.mp4"
    inside.parent.mkdir(parents=True)
    shutil.copy(clip_video, inside)
    add_to_pool(project, [inside])
    first = Project.open(project).read_pool()[0]
    assert first.source == "episodes/one.mp4"
    with (project / "labels.csv").open("a") as f:
        f.write(f"{first.path},remzi\n")
    (project / "thumbs.npy").unlink()  # a cache: made again from the frames
    moved = tmp_path / "elsewhere" / "q"
    shutil.move(project, moved)
    data = load_dataset(moved / "labels.csv")
    assert data.classes == ("remzi",) and data.samples[0].path == moved / first.path
    assert open_rgb(data.samples[0].path)[0].size == (first.width, first.height)
    last = Project.open(moved).read_pool()[-1]
    (moved / last.path).write_bytes(b"")  # a pool frame gone bad: listed, the rest go on
    again = add_to_pool(moved, [moved / "episodes" / "one.mp4"])
    assert again.sources[0].status == "unchanged"
    assert again.total == len(Project.open(moved).read_pool())
    assert [path for path, _ in again.broken] == [last.path]
    assert len(np.load(moved / "thumbs.npy")) == again.total


KILLED = """
import sys, time
from pathlib import Path
from toontag.labelling.pool import add_to_pool

project, first, second = map(Path, sys.argv[1:])

def progress(source, done, total):
    if source == second and done > 0:  # a few of its frames are written: stall here
        print("second", flush=True)
        time.sleep(120)

add_to_pool(project, [first, second], progress=progress)
"""


def test_kill_9_mid_add_leaves_the_pool_as_it_was(clip_video, dataset, encode_video, tmp_path):
    image = np.asarray(open_rgb(dataset.samples[-1].path)[0].resize((192, 112)))
    first = encode_video(tmp_path / "first.mp4", [image] * 30, [i / 10 for i in range(30)])
    project = tmp_path / "p"
    script = tmp_path / "add.py"
    script.write_text(textwrap.dedent(KILLED))
    child = subprocess.Popen(
        [sys.executable, str(script), str(project), str(first), str(clip_video)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "second\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    pool = Project.open(project).read_pool()
    assert [Path(f.source).name for f in pool] == ["first.mp4"]
    assert len(pool_files(project)) > len(pool)  # the killed source's first frames
    summary = add_to_pool(project, [first, clip_video])
    assert [o.status for o in summary.sources] == ["unchanged", "added"]
    pool = Project.open(project).read_pool()
    assert pool_files(project) == {f.path for f in pool}
    assert len(np.load(project / "thumbs.npy")) == len(pool) == summary.total


def test_frames_command(monkeypatch, capsys, clip_video, images, tmp_path):
    folder, _ = images
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.mp4").write_bytes(b"\x00\xffnot a video" * 100)
    project = tmp_path / "p"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "frames",
        clip_video,
        folder,
        tmp_path / "bad.mp4",
        tmp_path / "empty",
        "--out",
        project,
        "--every",
        "5",
    )
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{clip_video}: added ") and "shots" in lines[0]
    assert lines[1].startswith(f"{folder}: added 6 frames (8 images, 2 near-duplicates")
    total = len(Project.open(project).read_pool())
    assert lines[-1] == f"pool: {total} frames in {project}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert [e.split(": ")[1] for e in errors] == [
        str(folder / "broken.jpg"),
        str(tmp_path / "bad.mp4"),
        str(tmp_path / "empty"),
    ]
    code, out, _ = run_cli(monkeypatch, capsys, "frames", clip_video, "--out", project, "--json")
    assert code == 0
    assert json.loads(out)["sources"][0]["status"] == "unchanged"
    # an empty pool is a project like any other; a folder that is not one is one line
    empty = Project.open(tmp_path / "fresh", create=True)
    assert empty.read_pool() == [] and empty.read_thumbs() is None
    code, _, err = run_cli(monkeypatch, capsys, "frames", tmp_path / "empty", "--out", folder)
    assert code == 1 and len(err.strip().splitlines()) == 1


def test_frames_pass_over_hidden_files_and_report_an_unreadable_folder(
    monkeypatch, capsys, images, refuse_listing, tmp_path
):
    _, picked = images
    folder = tmp_path / "stills"
    (folder / "locked").mkdir(parents=True)
    for path in picked[:2]:
        shutil.copy(path, folder / path.name)
        (folder / f"._{path.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / "._clip.mp4").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    shutil.copy(picked[2], folder / "locked" / "b.jpg")
    refuse_listing(folder / "locked")
    code, out, err = run_cli(monkeypatch, capsys, "frames", folder, "--out", tmp_path / "p")
    assert code == 1
    assert out.splitlines()[0].startswith(f"{folder}: added 2 frames (2 images")
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {folder / 'locked'}: cannot read this folder (permission denied)"]


def test_frames_name_a_link_loop_and_a_fifo_given_or_found_and_add_the_rest(
    monkeypatch, capsys, images, tmp_path
):
    """Before: a link loop given to `frames` stopped everything with exit 70 (RuntimeError:
    Symlink loop), a FIFO given waited for a writer forever, and inside a folder both were
    passed over without a word (issue 26, items 2 and 3)."""
    from tests.conftest import within

    _, picked = images
    folder = tmp_path / "stills"
    folder.mkdir()
    for path in picked[:2]:
        shutil.copy(path, folder / path.name)
    (folder / "loop.jpg").symlink_to("loop.jpg")
    (folder / "more").symlink_to("more")
    os.mkfifo(folder / "pipe.jpg")
    os.mkfifo(tmp_path / "given.jpg")
    (tmp_path / "given.mp4").symlink_to("given.mp4")
    args = (folder, tmp_path / "given.jpg", tmp_path / "given.mp4", "--out", tmp_path / "p")
    code, out, err = within(
        120,
        lambda: run_cli(monkeypatch, capsys, "frames", *args),
        fifos=[folder / "pipe.jpg", tmp_path / "given.jpg"],
    )
    assert code == 1
    assert out.splitlines()[0].startswith(f"{folder}: added 2 frames (2 images")
    loop, fifo = "a symlink loop (it cannot be followed)", "not a regular file (a FIFO)"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {folder / 'loop.jpg'}: {loop}",
        f"error: {folder / 'more'}: {loop}",
        f"error: {folder / 'pipe.jpg'}: {fifo}",
        f"error: {tmp_path / 'given.jpg'}: {fifo}",
        f"error: {tmp_path / 'given.mp4'}: {loop}",
    ]
