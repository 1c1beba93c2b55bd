"""`toontag data ...`: inspect a dataset, audit its split and labels, make test videos."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from toontag.cli._app import class_list, data_app, out, parse_video_size, show_classes
from toontag.cli.options import DATA_HELP, CacheOpt, ClassesOpt, DataArg, ResultsOpt
from toontag.data.location import find_data


@data_app.command("stats")
def data_stats(
    data: DataArg = None,
    check: Annotated[
        bool, typer.Option(help="Decode and hash every file to find problems.")
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the stats here.")
    ] = None,
    classes: ClassesOpt = None,
) -> None:
    """Images per character and per combination for each split (the paper's Tables 2 and 4),
    and the problems found: unreadable files, converted images, duplicates by content."""
    from toontag.data.dataset import load_dataset
    from toontag.data.stats import dataset_stats
    from toontag.io import write_json

    data = find_data(data)
    dataset = load_dataset(data, **class_list(classes))
    show_classes(dataset, counts=False)  # the table counts them
    stats = dataset_stats(dataset, check=check)
    splits = stats["splits"]
    table = Table(title=f"{data}: images per character")
    for col in ["split", "images", *dataset.classes]:
        table.add_column(col, justify="left" if col == "split" else "right")
    max_count = len(dataset.classes)
    for n in range(1, max_count + 1):
        table.add_column(f"{n} char", justify="right")
    for name, s in splits.items():
        by_count = [f"{s['by_count'].get(n, 0):,}" for n in range(1, max_count + 1)]
        table.add_row(
            name, f"{s['images']:,}", *(f"{v:,}" for v in s["characters"].values()), *by_count
        )
    out.print(table)
    combos = Table(title="images per combination")
    combos.add_column("combination")
    for name in splits:
        combos.add_column(name, justify="right")
    for combo in next(iter(splits.values()))["combinations"]:
        combos.add_row(combo, *(f"{s['combinations'][combo]:,}" for s in splits.values()))
    out.print(combos)
    problems = stats["problems"]
    found = {k: v for k, v in problems.items() if v}
    if not found:
        out.print("[green]no problems found[/]" + ("" if check else " (files not checked)"))
    for kind, items in found.items():
        out.print(f"[yellow]{kind.replace('_', ' ')}: {len(items)}[/]")
        for item in items[:10]:
            out.print("  " + (" = ".join(item) if isinstance(item, list) else str(item)))
    if json_out:
        write_json(json_out, stats)


@data_app.command("audit")
def data_audit(
    data: DataArg = None,
    threshold: Annotated[
        float,
        typer.Option(
            min=0, max=255, help="Thumbnail distance (0-255) at or under which frames are twins."
        ),
    ] = 10.0,
    run: Annotated[
        list[Path] | None, typer.Option(help="Runs whose test score to split by near-twins.")
    ] = None,
    results: ResultsOpt = Path("results"),
    cache: CacheOpt = None,
) -> None:
    """Near-duplicate frames across train and test: how many test frames have a near-twin in
    train, a contact sheet of examples, and each run's test F1 without them."""

    from toontag.benchmark.results import write_result
    from toontag.data.audit import audit_split
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.leakage import audit_result

    started = time.perf_counter()
    dataset = load_dataset(find_data(data))
    audit = audit_split(dataset, threshold=threshold, cache_root=cache)
    seconds = time.perf_counter() - started
    payload, markdown = audit_result(audit, dataset, run or [], results, cache_root=cache)
    write_result(results / "split-audit", payload, markdown, wall_seconds=seconds)
    path = results / "split-audit.md"
    n, twins = len(audit.distance), int(audit.twins.sum())
    out.print(f"{twins} of {n} test frames ({twins / n:.1%}) have a near-twin in train")
    out.print(f"written: {path}, .json and .png")


@data_app.command("suspects")
def data_suspects(
    oof: Annotated[Path, typer.Option(help="Out-of-fold predictions CSV (path, labels, p_*).")],
    data: DataArg = None,
    predictions: Annotated[
        list[Path] | None,
        typer.Option(help="A model's predictions-test.csv to score without the suspects."),
    ] = None,
    twins: Annotated[bool, typer.Option(help="Check against the split audit's twins.")] = True,
    results: ResultsOpt = Path("results"),
    cache: CacheOpt = None,
) -> None:
    """Frames whose labels disagree most with out-of-fold predictions (confident learning),
    as a CSV to review and a contact sheet."""

    from toontag.benchmark.results import write_result
    from toontag.data.audit import audit_split
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.suspects import suspects_result

    started = time.perf_counter()
    dataset = load_dataset(find_data(data))
    audit = audit_split(dataset, cache_root=cache) if twins else None
    seconds = time.perf_counter() - started
    payload, markdown = suspects_result(
        dataset, oof, predictions or [], results, audit=audit, cache_root=cache
    )
    write_result(results / "suspects", payload, markdown, wall_seconds=seconds)
    path = results / "suspects.md"
    out.print(f"written: {path}, .json, .csv and .png")


@data_app.command("correct")
def data_correct(
    data: Annotated[Path, typer.Argument(help=DATA_HELP)],
    reviewed: Annotated[
        Path, typer.Argument(help="suspects.csv with its corrected column filled.")
    ],
    manifest: Annotated[Path, typer.Option("--out", help="The corrected manifest to write.")],
) -> None:
    """A manifest of the whole dataset with a reviewer's corrections applied (train on it)."""
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.suspects import corrected_manifest
    from toontag.io import write_text

    write_text(manifest, corrected_manifest(load_dataset(find_data(data)), reviewed))
    out.print(f"written: {manifest}")


@data_app.command("video")
def data_video(
    out_file: Annotated[Path, typer.Option("--out", help="The MP4 to write.")],
    data: DataArg = None,
    split: Annotated[str, typer.Option(help="Take frames from this split.")] = "test",
    seconds: Annotated[float, typer.Option(min=1, max=86400, help="About this long (s).")] = 60.0,
    hold: Annotated[
        float, typer.Option(min=0.05, max=3600, help="Seconds each frame is shown.")
    ] = 0.5,
    fps: Annotated[int, typer.Option(min=1, max=240, help="Frame rate of the file.")] = 24,
    size: Annotated[
        str | None,
        typer.Option(
            help="WIDTHxHEIGHT of the video, as video tools write it, e.g. 1920x1080 "
            "(default: the frames' own size)."
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Which sequences, in which order.")
    ] = 0,
) -> None:
    """A test video from labelled frames: real animation sequences strung together, each
    frame held `--hold` seconds; the true timeline goes beside it as <out>.truth.json."""
    from toontag.data.dataset import load_dataset
    from toontag.data.images import open_rgb
    from toontag.errors import DataError
    from toontag.video.synth import make_clip, truth_path, write_clip

    frames = load_dataset(find_data(data)).subset(split)
    clip = make_clip(frames, seconds=seconds, hold=hold, seed=seed)
    shape = parse_video_size(size) if size is not None else None
    if shape is not None:
        first, _ = open_rgb(clip.frames[0].path)
        if first.width > first.height and shape[0] > shape[1]:  # landscape frames, portrait video
            raise DataError(
                f"--size {size} makes a portrait video ({shape[1]} wide, {shape[0]} high) of "
                f"landscape {first.width}x{first.height} frames; video sizes are WIDTHxHEIGHT: "
                f"--size {shape[0]}x{shape[1]}?"
            )
    write_clip(clip, out_file, fps=fps, size=shape)
    out.print(
        f"written: {out_file} ({clip.duration:.1f} s, {len(clip.frames)} frames of {split}) "
        f"and {truth_path(out_file)}"
    )
