"""Video: index videos, list them, search the index, export a timeline."""

from __future__ import annotations

import csv
import json
import math
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toontag.cli._app import app, err, out, report_files
from toontag.cli.options import DbOpt, EngineOpt, JsonOpt


def shot_source(text: str) -> str:
    """`--shot-input`: one of `toontag.video.shots.SOURCES`."""
    from toontag.video.shots import SOURCES

    if text not in SOURCES:
        raise typer.BadParameter(
            f"{text!r}: one of {', '.join(SOURCES)}", param_hint="--shot-input"
        )
    return text


def skim_trigger(text: str) -> str | None:
    """`--skim`: off (None) or one of `toontag.video.skim.TRIGGERS`."""
    from toontag.video.skim import TRIGGERS

    if text == "off":
        return None
    if text not in TRIGGERS:
        raise typer.BadParameter(f"{text!r}: off, {', '.join(TRIGGERS)}", param_hint="--skim")
    return text


def still_percent(text: str) -> float | None:
    """`--still`: a percentage from 0 to 100, or off (None)."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:
        raise typer.BadParameter(
            f"{text!r}: a percentage from 0 to 100, or off", param_hint="--still"
        )
    return value


@app.command()
def index(
    run: Annotated[Path, typer.Argument(help="A finished run (or ensemble) directory.")],
    videos: Annotated[list[Path], typer.Argument(help="Video files or folders of them.")],
    db: DbOpt,
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Frames sampled per second.")] = 2.0,
    engine: EngineOpt = "onnx",
    min_segment: Annotated[
        float, typer.Option(min=0, max=3600, help="Drop on-screen stretches shorter than this (s).")
    ] = 1.0,
    max_gap: Annotated[
        float,
        typer.Option(min=0, max=3600, help="Close gaps in a character's presence up to this (s)."),
    ] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, max=4096, help="Frames per batch.")] = 32,
    borders: Annotated[
        bool,
        typer.Option(
            help="Find black borders that stay all through a video (letterbox, pillarbox) and "
            "crop them before the model; `videos` shows what was found."
        ),
    ] = True,
    cut_samples: Annotated[
        bool,
        typer.Option(
            help="Also sample the first frame of every shot the shot detector finds, so "
            "short shots are seen and their edges land on the cuts."
        ),
    ] = False,
    fast_decode: Annotated[
        bool,
        typer.Option(
            help="Decode only the frames others are predicted from (skips most B-frames): "
            "1.2-1.4x faster at 720p and 1080p, time IoU at most 0.015 lower "
            "(results/indexing-speed.md)."
        ),
    ] = False,
    hwaccel: Annotated[
        str | None,
        typer.Option(
            metavar="cuda",
            help="Decode on a device of this type (cuda: NVIDIA's NVDEC, through PyAV's own "
            "FFmpeg), checked before any video is read; a stream it cannot decode is decoded "
            "on the CPU. The model runs on the GPU with --engine torch.",
        ),
    ] = None,
    still: Annotated[
        str,
        typer.Option(
            metavar="PERCENT|off",
            help="A sampled frame whose model input differs from the last one tagged in at most "
            "this percentage of its pixels (by more than 16 levels) takes its tags without "
            "running the model (held drawings, still shots); chosen on validation videos "
            "(results/indexing-speed.md). off: every sampled frame tagged, as indexes made "
            "before this option were (a video indexed under other settings is indexed again).",
        ),
    ] = "1",
    shot_input: Annotated[
        str,
        typer.Option(
            metavar="scaled|planes",
            help="The shot detector's small copy: scaled by FFmpeg (swscale), or read in place "
            "from the decoder's planes (cheaper at 720p and up, slightly different cuts: "
            "results/indexing-speed.md).",
        ),
    ] = "scaled",
    busy_samples: Annotated[
        bool,
        typer.Option(
            help="Also tag the frame midway between two sampled frames whose characters "
            "differ, so that a change inside a shot is placed twice as finely; chosen on "
            "validation videos (results/indexing-speed.md).",
        ),
    ] = True,
    skim: Annotated[
        str,
        typer.Option(
            metavar="off|changes|cuts",
            help="Decode the keyframes first and every frame only between keyframes whose "
            "characters differ (changes) or whose pictures cut too (cuts); elsewhere the "
            "keyframe's tags hold: faster, and can miss a short shot between keyframes "
            "alike or damage where nothing is decoded. changes (with --busy-samples) was "
            "chosen on validation videos (results/indexing-speed.md); off: every frame.",
        ),
    ] = "changes",
    ray: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS",
            help="Spread the videos over a Ray cluster: local (start one here), auto, or "
            "HOST:PORT; this process only checks and writes the index.",
        ),
    ] = None,
    ray_workers: Annotated[
        int | None, typer.Option(min=1, max=100_000, help="Ray workers (default: one per CPU).")
    ] = None,
    path_map: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HERE=THERE",
            help="Where Ray workers see a folder this machine sees as HERE (repeatable).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who is on screen when, for each video, into an index (SQLite). Unchanged videos are
    skipped; a killed run resumes at the video it was on; a bad file does not stop the rest."""
    from toontag.models.engine import load_engine
    from toontag.video.db import Index
    from toontag.video.indexer import IndexSettings, expand, index_videos
    from toontag.video.search import display_name
    from toontag.video.segments import Smoothing

    if hwaccel is not None:  # with Ray the workers decode: the device is theirs to check
        from toontag.video.hardware import hardware_decoding

        hardware_decoding(hwaccel, here=ray is None)
    model = load_engine(run, engine)
    store = Index.create(db, model)
    settings = IndexSettings(
        fps=fps,
        smoothing=Smoothing(min_segment=min_segment, max_gap=max_gap),
        borders=borders,
        cut_samples=cut_samples,
        fast_decode=fast_decode,
        still=still_percent(still),
        shot_input=shot_source(shot_input),
        skim=skim_trigger(skim),
        busy=busy_samples,
        hwaccel=hwaccel,
    )
    work = {"settings": settings, "batch_size": batch_size}  # the same with or without Ray
    paths = expand(videos)
    if ray is not None:
        from toontag.video.distributed import index_on_ray

        pairs = [tuple(m.split("=", 1)) for m in path_map or []]
        if any(len(pair) != 2 or not all(pair) for pair in pairs):
            raise typer.BadParameter("--path-map takes HERE=THERE, two paths")
        outcomes = index_on_ray(
            store, run, paths, **work, address=ray, workers=ray_workers, path_map=pairs
        )
    elif path_map or ray_workers:
        raise typer.BadParameter("--path-map and --ray-workers go with --ray")
    else:
        outcomes = index_videos(store, model, paths, **work)
    results = []
    for o in outcomes:
        r = {**o.to_dict(), "error": o.detail} if o.status == "failed" else o.to_dict()
        if o.video_id is not None:
            r["screen_time"] = store.screen_time(o.video_id)
        results.append(r)

    def line(r: dict) -> str:
        shown = ", ".join(f"{display_name(c)} {t:.1f}s" for c, t in r["screen_time"].items() if t)
        speed = ""
        if r["status"] == "indexed":
            speed = f" ({r['duration']:.1f}s of video in {r['seconds']:.1f}s, "
            speed += f"{r['duration'] / max(r['seconds'], 1e-9):.0f}x real time)"
        return f"{r['path']}: [bold]{r['status']}[/]{speed}: {shown or 'no character'}"

    report_files(results, line, as_json=as_json)


@app.command()
def videos(
    db: DbOpt,
    as_json: JsonOpt = False,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write a library report into this folder: screen-time.csv (seconds and "
            "share per character per video) and screen-time.png (a chart)."
        ),
    ] = None,
) -> None:
    """The indexed videos, with each character's screen time."""
    from toontag.video.db import Index
    from toontag.video.report import write_library_report
    from toontag.video.search import display_name

    store = Index(db)
    if report:
        table, chart = write_library_report(store, report)
        (err if as_json else out).print(f"written: {table} and {chart}", soft_wrap=True)
    rows = [{**v, "screen_time": store.screen_time(v["id"])} for v in store.videos()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "video", "duration", "picture", *(display_name(c) for c in store.classes))
    for r in rows:
        times = (f"{t:.1f}s" for t in r["screen_time"].values())
        table.add_row(str(r["id"]), r["path"], f"{r['duration']:.1f}s", picture_text(r), *times)
    out.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='e.g. "remzi and necati", "sakir and not canan"')],
    db: DbOpt,
    min_duration: Annotated[
        float, typer.Option(min=0, max=1e6, help="Leave out ranges shorter than this (s).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
) -> None:
    """The time ranges, per video, where a query over character names holds (and, or,
    not, parentheses; a name may be a unique part of one: necati = fil_necati; a name that
    is one of those words goes in double quotes: '"and" or remzi')."""

    from toontag.io import escape_controls
    from toontag.video.db import Index
    from toontag.video.search import search as run_search

    hits = [h.to_dict() for h in run_search(Index(db), query, min_duration=min_duration)]
    if as_json:
        print(json.dumps({"query": query, "hits": hits}, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, ["video_id", "path", "start", "end", "duration"])
        writer.writeheader()
        writer.writerows({**hit, "path": escape_controls(hit["path"])} for hit in hits)
    else:
        out.print(hits_table(query, hits))


def hits_table(query: str, hits: list[dict]) -> Table:
    """A search's ranges as the terminal shows them."""
    from toontag.video.search import clock

    table = Table("video", "start", "end", "duration", title=f"{query}: {len(hits)} ranges")
    for h in hits:
        table.add_row(
            h["path"], clock(h["start"], "."), clock(h["end"], "."), f"{h['duration']:.1f}s"
        )
    return table


@app.command()
def timeline(
    video: Annotated[str, typer.Argument(help="An indexed video: its path, file name or id.")],
    db: DbOpt,
    format: Annotated[  # noqa: A002
        str,
        typer.Option(
            "--format",
            help="srt, vtt (subtitles), csv, json (the API's document), edl (CMX3600: one "
            "event per character segment) or fcp-xml (FCP 7 XML: one marker per segment).",
        ),
    ] = "srt",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
) -> None:
    """Who is on screen when in one video: a subtitle track (SRT, WebVTT), CSV, JSON, or an
    editor's import (CMX3600 EDL, FCP 7 XML) at the video's frame rate."""
    from toontag.errors import IndexDbError
    from toontag.io import write_text
    from toontag.video.db import Index
    from toontag.video.search import TIMELINE_FORMATS, timeline_text

    if format not in TIMELINE_FORMATS:
        raise typer.BadParameter(f"{format!r}: formats are {', '.join(TIMELINE_FORMATS)}")
    store = Index(db)
    # an id is a few ASCII digits; anything else ("²", 20 digits) is looked up as a path
    found = store.video(int(video) if re.fullmatch(r"[0-9]{1,18}", video) else video)
    if found is None:
        raise IndexDbError(f"{video}: not in {db} (toontag videos --db {db} lists them)")
    text = timeline_text(store, found, format)
    if out_file:
        write_text(out_file, text)
        out.print(f"written: {out_file}")
    else:
        sys.stdout.write(text)


def picture_text(video: dict) -> str:
    """'letterbox 1440x810 of 1440x1080' / 'full frame' / '-' (indexed without looking)."""
    picture = video.get("picture")
    if not picture:
        return "-"
    if picture["kind"] == "full frame":
        return "full frame"
    width, height = picture["picture"]
    return f"{picture['kind']} {width}x{height} of {video['width']}x{video['height']}"
