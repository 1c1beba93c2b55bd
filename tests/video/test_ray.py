"""Indexing on a Ray cluster: a local cluster on loopback (a head and 2 worker nodes) makes the
same index as one process, loses nothing when a worker is killed mid-video, and maps paths."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import pytest

from toontag.models.engine import load_engine
from toontag.video.db import Index
from toontag.video.distributed import RayError, connect, index_on_ray, reachable
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.synth import make_clip, write_clip

ray = pytest.importorskip("ray")
SETTINGS = IndexSettings()
COLUMNS = "path, sha256, bytes, duration, fps, width, height, frames, sample_fps, settings, picture"
TABLES = {
    "shots": 't.start, t."end"',
    "segments": 't.character, t.start, t."end", t.confidence',
    "frames": "t.time, t.probabilities",
}  # every column but the video id


def test_an_unreachable_cluster_is_one_line():
    with pytest.raises(RayError, match="cannot reach the Ray cluster at 127.0.0.1:1: "):
        reachable("127.0.0.1:1", timeout=2)
    with pytest.raises(RayError, match="a Ray address is local, auto or HOST:PORT"):
        connect("no-port")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def videos(dataset, tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    test = dataset.subset("test")
    for k in range(4):
        write_clip(make_clip(test, seconds=12, hold=0.5, seed=10 + k), folder / f"ep{k}.mp4")
    return sorted(folder.glob("*.mp4"))


@pytest.fixture(scope="module")
def reference(tiny_run, videos, tmp_path_factory):
    """The index one process makes (ONNX Runtime on one thread, as each Ray worker runs)."""
    db = tmp_path_factory.mktemp("one") / "index.db"
    model = load_engine(tiny_run, threads=1)
    outcomes = index_videos(Index.create(db, model), model, videos)
    assert [o.status for o in outcomes] == ["indexed"] * 4
    return rows(db)


def rows(db) -> dict:
    with sqlite3.connect(db) as con:
        return {
            "videos": con.execute(f"SELECT {COLUMNS} FROM videos ORDER BY path").fetchall(),
            **{
                table: con.execute(
                    f"SELECT v.path, {fields} FROM {table} t JOIN videos v ON v.id = t.video_id "
                    f"ORDER BY v.path, t.rowid"
                ).fetchall()
                for table, fields in TABLES.items()
            },
        }


def ray_index(tiny_run, videos, db, **options):
    model = load_engine(tiny_run)
    return index_on_ray(
        Index.create(db, model), tiny_run, videos, address="auto", settings=SETTINGS, **options
    )


def test_a_ray_cluster_makes_the_index_one_process_makes(
    cluster, tiny_run, videos, reference, tmp_path
):
    db = tmp_path / "ray.db"
    outcomes = ray_index(tiny_run, videos, db, workers=3)
    assert [o.status for o in outcomes] == ["indexed"] * 4
    assert rows(db) == reference
    again = ray_index(tiny_run, videos, db)  # unchanged videos are never sent to a worker
    assert [o.status for o in again] == ["unchanged"] * 4


def test_a_worker_killed_mid_video_loses_nothing(cluster, tiny_run, videos, reference, tmp_path):
    db, killed = tmp_path / "killed.db", []

    def kill_one_busy_worker():
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            busy = subprocess.run(
                ["pgrep", "-f", "ray::IndexWorker.analyse"], capture_output=True, text=True
            ).stdout.split()
            if busy:
                subprocess.run(["kill", "-9", busy[0]], check=False)
                killed.append(busy[0])
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_busy_worker)
    killer.start()
    outcomes = ray_index(tiny_run, videos, db, workers=2)
    killer.join()
    assert killed, "no worker was caught mid-video"
    assert [o.status for o in outcomes] == ["indexed"] * 4
    assert rows(db) == reference


def test_workers_see_the_videos_through_the_path_map(
    cluster, tiny_run, videos, reference, tmp_path
):
    mount = tmp_path / "mount"
    mount.symlink_to(videos[0].parent)
    wrong = ray_index(
        tiny_run,
        videos[:1],
        tmp_path / "wrong.db",
        workers=1,
        path_map=[(str(videos[0].parent), str(tmp_path / "elsewhere"))],
    )
    assert wrong[0].status == "failed" and "no such file" in wrong[0].detail
    db = tmp_path / "mapped.db"
    outcomes = ray_index(
        tiny_run, videos, db, workers=2, path_map=[(str(videos[0].parent), str(mount))]
    )
    assert [o.status for o in outcomes] == ["indexed"] * 4
    assert rows(db) == reference  # indexed under the driver's paths


def test_index_ray_on_the_command_line(
    cluster, tiny_run, videos, reference, tmp_path, monkeypatch, capsys
):
    from test_cli import run_cli

    db = tmp_path / "cli.db"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "index",
        tiny_run,
        videos[0].parent,
        "--db",
        db,
        "--ray",
        "auto",
        "--ray-workers",
        "2",
        "--json",
    )
    assert code == 0, err
    assert rows(db) == reference
    code, _, err = run_cli(
        monkeypatch, capsys, "index", tiny_run, videos[0], "--db", db, "--path-map", "/a=/b"
    )
    assert code == 2 and "go with --ray" in err
