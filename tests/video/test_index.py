"""Indexing a video made from dataset frames, scored against its known timeline."""

from __future__ import annotations

import re
import shutil
import sqlite3

import numpy as np
import pytest

from toontag.errors import IndexDbError
from toontag.evaluation.segments import segment_scores
from toontag.video.db import Index
from toontag.video.indexer import IndexSettings, index_videos
from toontag.video.query import parse_query
from toontag.video.search import cues, format_timeline, query_ranges, search

QUERIES = [
    "sakir",
    "remzi",
    "necati",
    "canan",
    "remzi and necati",
    "sakir and not canan",
    "(remzi or canan) and not necati",
]


def true_ranges(clip, query: str):
    return query_ranges(parse_query(query, clip.classes), clip.segments(), clip.duration)


@pytest.fixture
def indexed(tmp_path, clip_video, oracle):
    store = Index.create(tmp_path / "index.db", oracle)
    [outcome] = index_videos(store, oracle, [clip_video])
    assert outcome.status == "indexed", outcome
    return store


def test_search_recovers_the_known_timeline(indexed, clip):
    assert indexed.videos()[0]["duration"] == pytest.approx(clip.duration, abs=0.01)
    for query in QUERIES:
        found = [(h.start, h.end) for h in search(indexed, query)]
        scores = segment_scores(found, true_ranges(clip, query))
        assert scores["precision"] == scores["recall"] == 1.0, (query, scores)
        assert scores["time_precision"] > 0.97 and scores["time_recall"] > 0.97, (query, scores)


def shown(clip) -> list[tuple[float, float, list[str]]]:
    """The clip's true cues from its frames alone: runs of frames showing the same (non-empty)
    set of characters, frame i on screen from i * hold to (i + 1) * hold."""
    runs: list[tuple[float, float, list[str]]] = []
    for i, frame in enumerate(clip.frames):
        names = [c for c in clip.classes if c in frame.labels]
        if runs and runs[-1][2] == names and runs[-1][1] == pytest.approx(i * clip.hold):
            runs[-1] = (runs[-1][0], (i + 1) * clip.hold, names)
        elif names:
            runs.append((i * clip.hold, (i + 1) * clip.hold, names))
    return runs


def read_srt(text: str) -> list[tuple[float, float, list[str]]]:
    """Every cue of an SRT track: (start, end, the names on its text line), numbered 1, 2, ..."""
    cue = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)")
    blocks = text.split("\n\n")
    assert blocks[-1] == ""  # the track ends with a blank line
    cues_read = []
    for number, block in enumerate(blocks[:-1], 1):
        m = cue.fullmatch(block)
        assert m and int(m[1]) == number, block
        h, mi, se, ms, h2, mi2, se2, ms2 = (int(x) for x in m.groups()[1:9])
        start = h * 3600 + mi * 60 + se + ms / 1000
        end = h2 * 3600 + mi2 * 60 + se2 + ms2 / 1000
        cues_read.append((start, end, m[10].split(", ")))
    return cues_read


def test_screen_time_timeline_and_shots(indexed, clip):
    """With a perfect tagger, one sample per frame: each character's segments are its true
    spans, each edge within half a sample (a frame held `hold` seconds) of the truth, so a
    frame missed or gained anywhere fails; the SRT track holds every true cue, named."""
    edge = clip.hold / 2 + 0.01
    found = {c: [] for c in clip.classes}
    for s in indexed.segments(1):
        found[clip.classes[s.character]].append((s.start, s.end))
    for name, spans in clip.truth().items():
        assert len(found[name]) == len(spans), name
        for (a, b), (start, end) in zip(found[name], spans, strict=True):
            assert abs(a - start) <= edge and abs(b - end) <= edge, (name, (a, b), (start, end))
    screen = {c: sum(b - a for a, b in spans) for c, spans in found.items()}
    assert indexed.screen_time(1) == pytest.approx(screen, abs=1e-3)
    cuts = {round(a, 1) for a, _ in indexed.shots(1)[1:]}
    changes = clip.cuts()
    assert len(cuts & {round(c, 1) for c in changes}) >= 0.8 * len(changes)  # sequence joins
    srt = read_srt(format_timeline(cues(indexed, 1, clip.duration), "srt"))
    truth = shown(clip)
    assert len(srt) == len(truth) > 10
    for (a, b, names), (start, end, characters) in zip(srt, truth, strict=True):
        assert names == [c.replace("_", " ").title() for c in characters]
        assert abs(a - start) <= edge and abs(b - end) <= edge
    times, probabilities = indexed.frame_probabilities(1)
    grid = np.arange(len(clip.frames)) * clip.hold  # each held frame, and busy's midways
    on_grid = np.isclose(times[:, None], grid, atol=1e-3).any(axis=1)
    assert on_grid.sum() == len(clip.frames) and np.all(np.diff(times) > 0)
    assert probabilities.shape == (len(times), 4)


def test_reindexing_an_unchanged_video_is_a_no_op(indexed, clip_video, oracle, tmp_path):
    calls = oracle.calls
    [again] = index_videos(indexed, oracle, [clip_video])
    assert again.status == "unchanged" and oracle.calls == calls
    copy = tmp_path / "copy.mp4"
    shutil.copy2(clip_video, copy)
    copy.touch()  # new mtime, same bytes
    index_videos(indexed, oracle, [copy])
    calls = oracle.calls
    copy.touch()
    [touched] = index_videos(indexed, oracle, [copy])
    assert (touched.status, touched.detail, oracle.calls) == ("unchanged", "same content", calls)


def test_a_killed_run_leaves_no_partial_video_and_resumes(tmp_path, clip, clip_video, oracle):
    second = tmp_path / "second.mp4"
    second.write_bytes(clip_video.read_bytes() + b"\0")  # other content, same frames
    store = Index.create(tmp_path / "index.db", oracle)
    original = oracle.probabilities
    budget = {"batches": -(-len(clip.frames) // 32)}  # the first video's batches of 32

    def dying(images):
        budget["batches"] -= 1
        if budget["batches"] < 0:
            raise KeyboardInterrupt  # as Ctrl+C or a kill in the middle of the second video
        return original(images)

    oracle.probabilities = dying
    every = IndexSettings(skim=None, busy=False)  # every frame: the batches counted above
    with pytest.raises(KeyboardInterrupt):
        index_videos(store, oracle, [clip_video, second], settings=every)
    rows = store.db.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
    assert [v["path"] for v in store.videos()] == [str(clip_video)]
    assert rows == len(clip.frames)
    oracle.probabilities = original
    outcomes = index_videos(store, oracle, [clip_video, second], settings=every)
    assert [o.status for o in outcomes] == ["unchanged", "indexed"]


def test_bad_files_fail_alone(tmp_path, clip_video, oracle):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    store = Index.create(tmp_path / "index.db", oracle)
    outcomes = index_videos(store, oracle, [bad, tmp_path / "gone.mkv", clip_video])
    assert [o.status for o in outcomes] == ["failed", "failed", "indexed"]
    assert outcomes[0].detail.startswith("not a readable video")


def test_any_error_on_one_file_fails_that_file_only(tmp_path, clip_video, oracle, monkeypatch):
    """Item 6: an engine error (ONNX Runtime's own exception type) or a file the system
    refuses used to abort the batch; now that file fails in one line and the next is indexed.
    Root reads any file, so the refusal comes from a patched hash (where a real one is met)."""
    import toontag.video.indexer as indexer

    class Fail(Exception):  # as onnxruntime.capi.onnxruntime_pybind11_state.Fail
        pass

    refused, second = tmp_path / "refused.mp4", tmp_path / "second.mp4"
    for path, extra in [(refused, b"\0"), (second, b"\0\0")]:
        path.write_bytes(clip_video.read_bytes() + extra)  # other content, same frames
    original, hash_file = oracle.probabilities, indexer.hash_file

    def broken_once(images):
        oracle.probabilities = original
        raise Fail("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code\nmore")

    def refusing(path):
        if path == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return hash_file(path)

    oracle.probabilities = broken_once
    monkeypatch.setattr(indexer, "hash_file", refusing)
    store = Index.create(tmp_path / "index.db", oracle)
    outcomes = index_videos(store, oracle, [clip_video, refused, second])
    assert [o.status for o in outcomes] == ["failed", "failed", "indexed"]
    assert outcomes[0].detail == (
        "Fail: [ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code"
    )
    assert outcomes[1].detail == "permission denied"
    assert [v["path"] for v in store.videos()] == [str(second)]


def test_a_still_image_named_mp4_fails_as_not_a_video(tmp_path, oracle, encode_video):
    """Item 3: a picture renamed .mp4 used to be 'indexed' as a video of 0.0 s."""
    from test_decode import still_images

    stills = list(still_images(tmp_path, encode_video).values())
    store = Index.create(tmp_path / "index.db", oracle)
    outcomes = index_videos(store, oracle, stills)
    assert {o.status for o in outcomes} == {"failed"}
    assert {o.detail for o in outcomes} == {"not a video (a still image)"}
    assert store.videos() == []


def test_an_index_refuses_another_model_another_schema_and_foreign_files(
    tmp_path, clip, oracle, make_oracle
):
    path = tmp_path / "index.db"
    Index.create(path, oracle).close()
    with pytest.raises(IndexDbError, match="made with model oracle-1"):
        Index.create(path, make_oracle(clip, model_id="other-2"))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(IndexDbError, match="index schema 99 .* reads schema 2"):
        Index(path)
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(IndexDbError, match="not a toontag index"):
        Index(text)
    with pytest.raises(IndexDbError, match="no such index"):
        Index(tmp_path / "missing.db")


def test_the_index_opens_read_only_for_readers(indexed):
    reader = Index(indexed.path)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.db.execute("DELETE FROM videos")
    assert indexed.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_folders_expand_to_their_videos(tmp_path, clip_video):
    from toontag.errors import VideoError
    from toontag.video.indexer import expand

    (tmp_path / "season" / "1").mkdir(parents=True)
    (tmp_path / "season" / "1" / "b.mkv").touch()
    (tmp_path / "season" / "a.MP4").touch()
    (tmp_path / "season" / "notes.txt").touch()
    (tmp_path / "season" / "._a.MP4").touch()  # a Mac's metadata beside a copied file
    (tmp_path / "season" / ".Trashes").mkdir()
    (tmp_path / "season" / ".Trashes" / "c.mp4").touch()
    found = expand([tmp_path / "season", clip_video, clip_video])
    assert [p.name for p in found] == ["b.mkv", "a.MP4", "episode.mp4"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="empty: a folder without video files"):
        expand([tmp_path / "empty"])


def test_cut_samples_put_a_sample_at_the_start_of_every_shot(dataset, oracle, tmp_path):
    from toontag.video.synth import make_clip, write_clip

    clip = make_clip(dataset.subset("test"), seconds=20, holds=(0.32, 0.56, 0.8), seed=2)
    video = tmp_path / "varied.mp4"
    write_clip(clip, video, fps=25)
    oracle = type(oracle)(clip)
    found = {}
    for extra in (False, True):
        store = Index.create(tmp_path / f"{extra}.db", oracle)
        every = IndexSettings(cut_samples=extra, skim=None, busy=False)  # the grid alone
        [outcome] = index_videos(store, oracle, [video], settings=every)
        times, _ = store.frame_probabilities(outcome.video_id)
        found[extra] = (times, [a for a, _ in store.shots(outcome.video_id)[1:]])
    grid, cuts = found[False]
    times, same_cuts = found[True]
    assert same_cuts == cuts and len(cuts) >= 3
    assert set(np.round(grid, 3)) <= set(np.round(times, 3))  # the grid, plus
    for cut in cuts:  # a sample at every shot's first frame
        assert np.isclose(times, cut, atol=1e-3).any(), cut
    assert len(times) > len(grid)


def test_fast_decode_skips_b_frames_and_finds_the_same_timeline(clip, clip_video, oracle, tmp_path):
    stores = {}
    for fast in (False, True):
        store = Index.create(tmp_path / f"{fast}.db", oracle)
        [outcome] = index_videos(
            store, oracle, [clip_video], settings=IndexSettings(fast_decode=fast)
        )
        assert outcome.status == "indexed", outcome
        stores[fast] = store
    (full, _), (fast, settings) = (
        stores[k].db.execute("SELECT frames, settings FROM videos").fetchone() for k in (0, 1)
    )
    assert fast < 0.8 * full  # x264's B-frames were not decoded
    assert '"decode": "reference frames"' in settings  # a setting: a change reindexes
    for query in QUERIES:
        found = [(h.start, h.end) for h in search(stores[True], query)]
        scores = segment_scores(found, true_ranges(clip, query))
        assert scores["precision"] == scores["recall"] == 1.0, (query, scores)
        assert scores["time_precision"] > 0.95 and scores["time_recall"] > 0.95, (query, scores)


def test_subtitles_and_csv_escape_control_characters_and_webvtt_markup_in_names():
    """A name never ends a cue or a row: its control characters are escaped, and in WebVTT
    its <, > and & too (they would start a tag, an entity or an arrow)."""
    timeline = [(0.0, 1.5, ["a\n\n2\nforged", "b<i>-->&c"])]
    srt = format_timeline(timeline, "srt")
    assert srt == "1\n00:00:00,000 --> 00:00:01,500\nA\\n\\n2\\nforged, B<i>-->&c\n\n"
    vtt = format_timeline(timeline, "vtt")
    assert vtt.endswith("\nA\\n\\n2\\nforged, B&lt;i&gt;--&gt;&amp;c\n\n")
    csv_text = format_timeline(timeline, "csv")
    assert csv_text == "start,end,characters\n0.000,1.500,a\\n\\n2\\nforged;b<i>-->&c\n"
