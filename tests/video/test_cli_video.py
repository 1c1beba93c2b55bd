"""The video commands end to end: data video -> index -> videos -> search -> timeline."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import run_cli

from toontag.data.dataset import Sample
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.synth import Clip

EDGE = 0.05  # seconds: how far a found edge may sit from the true one


@pytest.fixture(scope="module")
def made(tmp_path_factory, kral_sakir):
    import sys

    from toontag.cli import main

    path = tmp_path_factory.mktemp("cli") / "episode.mp4"
    argv = sys.argv
    sys.argv = [
        "toontag",
        "data",
        "video",
        str(kral_sakir),
        "--out",
        str(path),
        "--seconds",
        "20",
        "--fps",
        "10",
    ]
    try:
        with pytest.raises(SystemExit) as done:
            main()
    finally:
        sys.argv = argv
    assert not done.value.code
    return path


def oracle_index(made, make_oracle, db) -> dict:
    """`made` indexed by a perfect tagger (it knows the video's frames from its truth file),
    so the index holds the true timeline; the truth file's contents."""
    truth = json.loads(made.with_suffix(".truth.json").read_text())
    frames = tuple(
        Sample(Path(f["path"]), tuple(f["labels"]), "test", i)
        for i, f in enumerate(truth["frames"])
    )
    oracle = make_oracle(Clip(frames, truth["hold"], tuple(truth["classes"])))
    store = Index.create(db, oracle)
    [outcome] = index_videos(store, oracle, [made])
    store.close()
    assert outcome.status == "indexed"
    return truth


def intersection(first, second) -> list[tuple[float, float]]:
    pairs = [(max(a, c), min(b, d)) for a, b in first for c, d in second]
    return sorted((a, b) for a, b in pairs if a < b)


def present(truth: dict, t: float) -> list[str]:
    return [c for c in truth["classes"] if any(a <= t < b for a, b in truth["segments"][c])]


def test_search_and_timeline_csv_rows_are_the_true_timeline(
    monkeypatch, capsys, made, make_oracle, tmp_path
):
    db = tmp_path / "oracle.db"
    truth = oracle_index(made, make_oracle, db)
    segments = truth["segments"]
    for query, first, second in [
        ("remzi and necati", "remzi", "fil_necati"),
        ("sakir and canan", "kral_sakir", "canan"),
    ]:
        expected = intersection(segments[first], segments[second])
        code, out, _ = run_cli(monkeypatch, capsys, "search", query, "--db", db, "--csv")
        rows = list(csv.DictReader(io.StringIO(out)))
        assert code == 0 and len(expected) > 0 and len(rows) == len(expected), query
        for row, (a, b) in zip(rows, expected, strict=True):
            assert (row["video_id"], row["path"]) == ("1", str(made))
            start, end, duration = float(row["start"]), float(row["end"]), float(row["duration"])
            assert start == pytest.approx(a, abs=EDGE) and end == pytest.approx(b, abs=EDGE)
            assert duration == pytest.approx(end - start, abs=2e-3)

    code, out, _ = run_cli(monkeypatch, capsys, "timeline", "1", "--db", db, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) > 1
    for t in np.arange(truth["hold"] / 2, truth["duration"], truth["hold"]):  # each frame's middle
        here = [
            r["characters"].split(";") for r in rows if float(r["start"]) <= t < float(r["end"])
        ]
        assert here == ([present(truth, t)] if present(truth, t) else []), t  # one row, the truth


def test_index_search_timeline(monkeypatch, capsys, tiny_run, made, tmp_path):
    truth = json.loads(made.with_suffix(".truth.json").read_text())
    assert truth["duration"] >= 20 and set(truth["segments"]) == {
        "kral_sakir",
        "remzi",
        "fil_necati",
        "canan",
    }
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

    code, out, _ = run_cli(
        monkeypatch, capsys, "search", "sakir or not sakir", "--db", db, "--json"
    )
    hits = json.loads(out)["hits"]
    assert code == 0 and len(hits) == 1 and hits[0]["start"] == 0.0
    assert hits[0]["end"] == pytest.approx(truth["duration"], abs=0.05)
    code, out, _ = run_cli(monkeypatch, capsys, "search", "remzi and necati", "--db", db, "--csv")
    assert code == 0 and out.splitlines()[0] == "video_id,path,start,end,duration"
    code, out, _ = run_cli(monkeypatch, capsys, "search", "remzi and (bob", "--db", db)
    assert code == 1 and "valid names: canan, fil_necati, kral_sakir, remzi" in _

    code, out, _ = run_cli(
        monkeypatch, capsys, "timeline", made.name, "--db", db, "--format", "vtt"
    )
    assert code == 0 and out.startswith("WEBVTT\n\n")
    code, out, err = run_cli(monkeypatch, capsys, "timeline", "other.mp4", "--db", db)
    assert code == 1 and "other.mp4: not in" in err
    code, out, _ = run_cli(monkeypatch, capsys, "videos", "--db", db)
    assert code == 0 and made.name in out and "Fil Necati" in out


def test_index_passes_over_hidden_files_and_reports_an_unreadable_folder(
    monkeypatch, capsys, tiny_run, made, refuse_listing, tmp_path
):
    folder = (tmp_path / "season").resolve()
    (folder / "locked").mkdir(parents=True)
    (folder / made.name).symlink_to(made)
    (folder / f"._{made.name}").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    refuse_listing(folder / "locked")
    db = tmp_path / "index.db"
    code, out, err = run_cli(monkeypatch, capsys, "index", tiny_run, folder, "--db", db, "--json")
    results = json.loads(out)
    assert code == 1
    assert [(r["path"], r["status"]) for r in results] == [
        (str(made.resolve()), "indexed"),
        (str(folder / "locked"), "failed"),
    ]
    assert results[1]["error"] == "cannot read this folder (permission denied)"


def test_onnx_and_torch_engines_agree(monkeypatch, capsys, tiny_run, made, tmp_path):
    found = {}
    for engine in ("onnx", "torch"):
        db = tmp_path / f"{engine}.db"
        code, _, _ = run_cli(
            monkeypatch, capsys, "index", tiny_run, made, "--db", db, "--engine", engine
        )
        assert code == 0
        found[engine] = Index(db).frame_probabilities(1)
    assert np.array_equal(found["onnx"][0], found["torch"][0])
    assert np.abs(found["onnx"][1] - found["torch"][1]).max() < 1e-4


def test_a_database_that_is_not_an_index_is_one_line(monkeypatch, capsys, tiny_run, made, tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("hello")
    code, _, err = run_cli(monkeypatch, capsys, "index", tiny_run, made, "--db", db)
    assert code == 1 and err.count("\n") == 1 and "not a toontag index" in err


def test_timeline_exports_for_editors_hold_every_segment(
    monkeypatch, capsys, made, make_oracle, tmp_path
):
    """`timeline --format edl / fcp-xml` through OpenTimelineIO: read back, each character
    segment of the index is one event (EDL) or one marker (FCP XML), at the video's frames."""
    import opentimelineio as otio

    from toontag.video.editorial import timecode_rate
    from toontag.video.search import display_name

    db = tmp_path / "oracle.db"
    oracle_index(made, make_oracle, db)
    store = Index(db)
    video = store.video(1)
    rate = timecode_rate(video["fps"])  # 10 fps has no SMPTE timecode: counted in 30
    expected = sorted(
        (
            display_name(store.classes[s.character]),
            round(s.start * rate),
            round(s.end * rate) - round(s.start * rate),
        )
        for s in store.segments(1)
    )
    assert video["fps"] == 10 and rate == 30 and len(expected) >= 4
    for fmt, adapter in [("edl", "cmx_3600"), ("fcp-xml", "fcp_xml")]:
        out_file = tmp_path / f"episode.{fmt}"
        code, _, err = run_cli(
            monkeypatch, capsys, "timeline", "1", "--db", db, "--format", fmt, "--out", out_file
        )
        assert code == 0, err
        options = {"rate": rate} if fmt == "edl" else {}  # FCP XML states its rate
        back = otio.adapters.read_from_file(str(out_file), adapter_name=adapter, **options)
        if fmt == "edl":
            found = [(c.name, c.source_range) for c in back.find_clips()]
            assert all(
                c.media_reference.target_url == made.absolute().as_uri() for c in back.find_clips()
            )
        else:
            found = [(m.name, m.marked_range) for m in back.tracks.markers]
        frames = sorted((name, r.start_time.value, r.duration.value) for name, r in found)
        assert frames == expected, fmt
    code, out, _ = run_cli(monkeypatch, capsys, "timeline", "1", "--db", db, "--format", "json")
    document = json.loads(out)
    assert code == 0 and document["path"] == str(made) and document["fps"] == 10
    assert len(document["segments"]) == len(expected) and document["shots"][0]["start"] == 0.0


def test_videos_report_writes_screen_time_per_character_as_csv_and_a_chart(
    monkeypatch, capsys, made, make_oracle, tmp_path
):
    db = tmp_path / "oracle.db"
    truth = oracle_index(made, make_oracle, db)
    report = tmp_path / "report"
    code, out, err = run_cli(
        monkeypatch, capsys, "videos", "--db", db, "--report", report, "--json"
    )
    assert code == 0 and json.loads(out)[0]["id"] == 1 and "screen-time.png" in err
    [row] = list(csv.DictReader((report / "screen-time.csv").open()))
    assert row["path"] == str(made) and float(row["duration"]) == pytest.approx(20.0, abs=0.05)
    for c, spans in truth["segments"].items():
        seconds = sum(b - a for a, b in spans)
        assert float(row[c]) == pytest.approx(seconds, abs=0.2), c
        assert float(row[f"{c}_percent"]) == pytest.approx(100 * seconds / 20.0, abs=1.0), c
    assert (report / "screen-time.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_data_video_sizes_are_width_by_height_and_a_portrait_slip_is_caught(
    monkeypatch, capsys, kral_sakir, tmp_path
):
    import av

    wide = tmp_path / "wide.mp4"
    code, _, _ = run_cli(
        monkeypatch,
        capsys,
        "data",
        "video",
        kral_sakir,
        "--out",
        wide,
        "--seconds",
        "2",
        "--fps",
        "10",
        "--size",
        "640x360",
    )
    assert code == 0
    with av.open(str(wide)) as video:
        stream = video.streams.video[0]
        assert (stream.width, stream.height) == (640, 360)  # WIDTHxHEIGHT, as video tools
    tall = tmp_path / "tall.mp4"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "data",
        "video",
        kral_sakir,
        "--out",
        tall,
        "--seconds",
        "2",
        "--size",
        "1080x1920",
    )
    assert code == 1 and not tall.exists()
    [line] = err.strip().splitlines()
    assert "portrait" in line and "WIDTHxHEIGHT" in line and "--size 1920x1080?" in line
    code, _, err = run_cli(
        monkeypatch, capsys, "data", "video", kral_sakir, "--out", tall, "--size", "720"
    )
    assert code == 2 and "WIDTHxHEIGHT" in err


@pytest.mark.parametrize("name", ["v.webm", "v.gif", "v.jpg", "v.txt", "v"])
def test_data_video_to_a_container_it_cannot_write_is_one_line_naming_those_it_can(
    monkeypatch, capsys, kral_sakir, tmp_path, name
):
    out = tmp_path / name
    code, _, err = run_cli(
        monkeypatch, capsys, "data", "video", kral_sakir, "--out", out, "--seconds", "1"
    )
    assert code == 1 and not out.exists() and list(tmp_path.iterdir()) == []
    [line] = err.strip().splitlines()
    assert line.startswith(f"error: {out}: toontag writes videos as .mp4, ") and ".mkv" in line
    assert "bug" not in line


def test_data_video_writes_each_container_it_names_without_a_stray_muxer_warning(
    monkeypatch, capsys, caplog, kral_sakir, tmp_path
):
    """MP4's option to put its index first is given to MP4 alone: other muxers warned that it
    went unused (through the decoder library's log, on stderr)."""
    import av

    for suffix in (".MP4", ".mkv", ".ts"):
        out = tmp_path / f"v{suffix}"
        code, _, err = run_cli(
            monkeypatch, capsys, "data", "video", kral_sakir, "--out", out, "--seconds", "1"
        )
        assert code == 0 and err == "" and caplog.messages == [], suffix
        with av.open(str(out)) as video:
            assert video.streams.video[0].codec_context.name == "h264"


# A file name that, written raw, would forge an EDL event and comment, end a subtitle cue,
# colour a terminal and break XML
HOSTILE = (
    "ep\n* FROM CLIP NAME: forged\n"
    "999  AX V C 00:00:00:00 00:00:01:00 00:00:00:00 00:00:01:00\r\n\n\x1b[31m\x01\u2028.mp4"
)


def test_control_characters_in_a_video_name_are_escaped_in_every_export(
    monkeypatch, capsys, made, make_oracle, tmp_path
):
    """Every timeline export (EDL, FCP XML, SRT, WebVTT, CSV), `search --csv` and the
    screen-time table hold the name with its control characters escaped, so that the EDL
    reads back (OpenTimelineIO, and pycmx where installed) with the index's events alone."""
    import shutil

    import opentimelineio as otio

    from toontag.io import escape_controls

    hostile = tmp_path / HOSTILE
    shutil.copy(made, hostile)
    shutil.copy(made.with_suffix(".truth.json"), hostile.with_suffix(".truth.json"))
    db = tmp_path / "oracle.db"
    oracle_index(hostile, make_oracle, db)
    segments = len(Index(db).segments(1))
    shown = escape_controls(HOSTILE)
    assert "\\n* FROM CLIP NAME: forged\\n999" in shown and "\\x1b[31m\\x01\\u2028" in shown
    exports = {}
    for fmt in ("edl", "fcp-xml", "srt", "vtt", "csv"):
        code, out, err = run_cli(monkeypatch, capsys, "timeline", "1", "--db", db, "--format", fmt)
        assert code == 0, err
        assert not set(out) & set("\r\x1b\x01\u2028"), fmt
        exports[fmt] = out
    edl = exports["edl"]
    assert edl.startswith(f"TITLE: {shown}\n") and "\n999 " not in edl and "\nforged" not in edl
    back = otio.adapters.read_from_string(edl, adapter_name="cmx_3600", rate=30)
    assert back.name == shown and len(list(back.find_clips())) == segments
    try:
        import pycmx
    except ImportError:
        pass
    else:
        edits = pycmx.parse_cmx3600(io.StringIO(edl))
        assert edits.title == shown and len(list(edits.events)) == segments
    back = otio.adapters.read_from_string(exports["fcp-xml"], adapter_name="fcp_xml")
    assert [c.name for c in back.find_clips()] == [shown]
    assert len(back.tracks.markers) == segments
    code, out, _ = run_cli(monkeypatch, capsys, "search", "remzi", "--db", db, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and rows and {r["path"] for r in rows} == {escape_controls(str(hostile))}
    assert len(out.splitlines()) == len(rows) + 1
    report = tmp_path / "report"
    code, _, _ = run_cli(monkeypatch, capsys, "videos", "--db", db, "--report", report)
    [row] = list(csv.DictReader((report / "screen-time.csv").open()))
    assert code == 0 and row["path"] == escape_controls(str(hostile))


def test_timeline_out_refuses_a_fifo_or_a_symlink_and_leaves_it(
    monkeypatch, capsys, made, make_oracle, tmp_path
):
    """Before: `timeline --out F` replaced a FIFO, device or symlink at F with a regular file
    (a symlink's target stayed as it was)."""
    import os
    import stat

    db = tmp_path / "oracle.db"
    oracle_index(made, make_oracle, db)
    capsys.readouterr()  # the indexing's progress
    target = tmp_path / "mine.srt"
    target.write_text("the user's own\n")
    os.mkfifo(tmp_path / "pipe.srt")
    (tmp_path / "link.srt").symlink_to(target)
    for name, kind in (("pipe.srt", "a FIFO"), ("link.srt", "a symlink")):
        out_file = tmp_path / name
        code, out, err = run_cli(
            monkeypatch, capsys, "timeline", "1", "--db", db, "--out", out_file
        )
        assert code == 1 and out == ""
        assert err.startswith(f"error: {out_file}: is {kind}, not a regular file; ")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.srt").st_mode)
    assert (tmp_path / "link.srt").readlink() == target
    assert target.read_text() == "the user's own\n"


def test_index_names_a_link_loop_and_a_fifo_and_indexes_the_rest(
    monkeypatch, capsys, tiny_run, made, tmp_path
):
    """Before: a link loop given to `index` stopped everything with exit 70 (RuntimeError:
    Symlink loop); inside a folder it and a FIFO were passed over without a word (item 3)."""
    import os

    from tests.conftest import within

    folder = (tmp_path / "season").resolve()
    folder.mkdir()
    (folder / made.name).symlink_to(made)
    (folder / "loop.mp4").symlink_to("loop.mp4")
    (folder / "more").symlink_to("more")  # a loop where a folder might have been
    os.mkfifo(folder / "pipe.mp4")
    db = tmp_path / "index.db"
    args = ("index", tiny_run, folder, folder / "loop.mp4", "--db", db, "--json")
    code, out, err = within(
        300, lambda: run_cli(monkeypatch, capsys, *args), fifos=[folder / "pipe.mp4"]
    )
    assert code == 1
    loop = "a symlink loop (it cannot be followed)"
    assert [(r["path"], r["status"], r.get("error")) for r in json.loads(out)] == [
        (str(made.resolve()), "indexed", None),
        (str(folder / "loop.mp4"), "failed", loop),
        (str(folder / "more"), "failed", loop),
        (str(folder / "pipe.mp4"), "failed", "not a regular file (a FIFO)"),
    ]


def test_index_still_is_a_setting_of_its_own(monkeypatch, capsys, tiny_run, made, tmp_path):
    db = tmp_path / "index.db"

    def index(*still):
        code, out, err = run_cli(
            monkeypatch, capsys, "index", tiny_run, made, "--db", db, *still, "--json"
        )
        return code, (json.loads(out)[0]["status"] if code == 0 else err)

    assert index("--still", "0.3") == (0, "indexed")
    assert index("--still", "0.3") == (0, "unchanged")
    assert index() == (0, "indexed")  # the default, 1%: another setting
    assert index("--still", "1") == (0, "unchanged")  # the same as the default
    assert index("--still", "off") == (0, "indexed")  # every sample tagged: as before
    code, err = index("--still", "120")
    assert code != 0 and "--still" in err and "percentage from 0 to 100, or off" in err


def test_index_skim_is_a_setting_and_a_wrong_trigger_is_one_line(
    monkeypatch, capsys, tiny_run, made, tmp_path
):
    db = tmp_path / "index.db"

    def index(*skim):
        code, out, err = run_cli(
            monkeypatch, capsys, "index", tiny_run, made, "--db", db, *skim, "--json"
        )
        return code, (json.loads(out)[0]["status"] if code == 0 else err)

    assert index("--skim", "off") == (0, "indexed")
    assert index("--skim", "off") == (0, "unchanged")
    assert index("--skim", "cuts") == (0, "indexed")  # another setting: indexed again
    assert index() == (0, "indexed")  # changes, the default
    assert index("--skim", "changes") == (0, "unchanged")
    code, err = index("--skim", "frames")
    assert code != 0 and "--skim" in err and "off, changes, cuts" in err
    assert len(err.strip().splitlines()) == 1


def test_index_hwaccel_is_checked_before_any_video_and_is_not_a_setting(
    monkeypatch, capsys, tiny_run, made, tmp_path
):
    """A device that is not there stops `index` before it opens the index or a video; where
    the frames are decoded does not decide the rows, so it is not stored with them."""
    db = tmp_path / "index.db"
    code, out, err = run_cli(
        monkeypatch, capsys, "index", tiny_run, made, "--db", db, "--hwaccel", "no-such-device"
    )
    assert code == 1 and "'no-such-device'" in err and len(err.strip().splitlines()) == 1
    assert not db.exists()
    assert IndexSettings(hwaccel="cuda").to_dict() == IndexSettings().to_dict()
    with pytest.raises(ValueError, match="no-such-device"):
        IndexSettings(hwaccel="no-such-device")


KILLED_MID_VIDEO = """
import sys, time
from pathlib import Path
from toontag.models.engine import load_engine
from toontag.video import indexer
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos

run, db, marker, *videos = map(Path, sys.argv[1:])
model = load_engine(run, "onnx")
committed, tag = [], model.probabilities
original_commit = indexer.commit

def commit(*args, **kwargs):  # remember that the first video is in
    committed.append(1)
    return original_commit(*args, **kwargs)

def tag_then_hang(images):  # killed here: inside the second video, samples tagged before
    if committed:
        marker.write_text("mid-video")
        time.sleep(600)
    return tag(images)

indexer.commit, model.probabilities = commit, tag_then_hang
index_videos(Index.create(db, model), model, videos, settings=IndexSettings(still=1.0))
"""


def test_index_killed_mid_video_with_still_on_keeps_whole_videos_and_resumes(
    tiny_run, made, tmp_path, killed_at
):
    from toontag.models.engine import load_engine

    second = tmp_path / "second.mp4"
    second.write_bytes(made.read_bytes() + b"\0")  # other content, the same frames
    db, marker = tmp_path / "index.db", tmp_path / "marker"
    args = [tiny_run, db, marker, made, second]
    killed_at(KILLED_MID_VIDEO, args, marker, "the second video")
    model = load_engine(tiny_run, "onnx")
    store = Index.create(db, model)
    assert [v["path"] for v in store.videos()] == [str(made)]  # no part of the second
    outcomes = index_videos(store, model, [made, second])
    assert [o.status for o in outcomes] == ["unchanged", "indexed"]
    fresh = Index.create(tmp_path / "fresh.db", model)
    index_videos(fresh, model, [second])

    def rows(index, path):
        return index.db.execute(
            "SELECT f.time, f.probabilities FROM frames f JOIN videos v ON v.id = f.video_id "
            "WHERE v.path = ? ORDER BY f.time",
            (str(path),),
        ).fetchall()

    assert rows(store, second) == rows(fresh, second) and len(rows(fresh, second)) > 10
