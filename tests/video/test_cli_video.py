"""The video commands end to end: data video -> index -> videos -> search -> timeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_cli import run_cli

from toontag.video.db import Index


@pytest.fixture(scope="module")
def made(tmp_path_factory, kral_sakir):
    import sys

    from toontag.cli import main

    path = tmp_path_factory.mktemp("cli") / "episode.mp4"
    argv = sys.argv
    sys.argv = ["toontag", "data", "video", str(kral_sakir), "--out", str(path),
                "--seconds", "20", "--fps", "10"]  # fmt: skip
    try:
        with pytest.raises(SystemExit) as done:
            main()
    finally:
        sys.argv = argv
    assert not done.value.code
    return path


def test_index_search_timeline(monkeypatch, capsys, tiny_run, made, tmp_path):
    truth = json.loads(made.with_suffix(".truth.json").read_text())
    assert truth["duration"] >= 20 and set(truth["segments"]) == {
        "kral_sakir", "remzi", "fil_necati", "canan"}  # fmt: skip
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    db = tmp_path / "index.db"
    code, out, err = run_cli(
        monkeypatch, capsys, "index", tiny_run, made, bad, "--db", db, "--json"
    )
    results = {r["path"]: r for r in json.loads(out)}
    assert code == 1  # one file failed, the other is indexed all the same
    assert results[str(made)]["status"] == "indexed"
    assert set(results[str(made)]["screen_time"]) == set(truth["segments"])
    assert results[str(bad)]["error"].startswith("not a readable video")
    assert (tiny_run / "model.onnx").is_file()  # the ONNX engine exported it on first use

    code, out, _ = run_cli(monkeypatch, capsys, "index", tiny_run, made, "--db", db)
    assert code == 0 and "unchanged" in out

    code, out, _ = run_cli(monkeypatch, capsys, "search", "sakir or not sakir", "--db", db,
                           "--json")  # fmt: skip
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 1 and hits[0]["start"] == 0.0
    assert hits[0]["end"] == pytest.approx(truth["duration"], abs=0.05)
    code, out, _ = run_cli(monkeypatch, capsys, "search", "remzi and necati", "--db", db, "--csv")
    assert code == 0 and out.splitlines()[0] == "video_id,path,start,end,duration"
    code, out, _ = run_cli(monkeypatch, capsys, "search", "remzi and (bob", "--db", db)
    assert code == 1 and "valid names: canan, fil_necati, kral_sakir, remzi" in _

    code, out, _ = run_cli(monkeypatch, capsys, "timeline", made.name, "--db", db, "--format",
                           "vtt")  # fmt: skip
    assert code == 0 and out.startswith("WEBVTT\n\n")
    code, out, _ = run_cli(monkeypatch, capsys, "timeline", "1", "--db", db, "--format", "csv")
    assert out.startswith("start,end,characters\n")
    code, out, err = run_cli(monkeypatch, capsys, "timeline", "other.mp4", "--db", db)
    assert code == 1 and "other.mp4: not in" in err
    code, out, _ = run_cli(monkeypatch, capsys, "videos", "--db", db)
    assert code == 0 and made.name in out and "Fil Necati" in out


def test_onnx_and_torch_engines_agree(monkeypatch, capsys, tiny_run, made, tmp_path):
    found = {}
    for engine in ("onnx", "torch"):
        db = tmp_path / f"{engine}.db"
        code, _, _ = run_cli(monkeypatch, capsys, "index", tiny_run, made, "--db", db,
                             "--engine", engine)  # fmt: skip
        assert code == 0
        found[engine] = Index(db).frame_probabilities(1)
    assert np.array_equal(found["onnx"][0], found["torch"][0])
    assert np.abs(found["onnx"][1] - found["torch"][1]).max() < 1e-4


def test_a_database_that_is_not_an_index_is_one_line(monkeypatch, capsys, tiny_run, made, tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("hello")
    code, _, err = run_cli(monkeypatch, capsys, "index", tiny_run, made, "--db", db)
    assert code == 1 and err.count("\n") == 1 and "not a toontag index" in err
