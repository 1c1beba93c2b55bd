"""The `toontag` command line: thin commands that validate, then call the library.

Every error a user can cause is printed as one red line naming the file or value, exit 1.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from toontag.errors import ToontagError

app = typer.Typer(
    help="Recognise which cartoon characters appear in images: train, evaluate, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
out = Console(width=None if sys.stdout.isatty() else 160)  # tables stay whole in logs

DataArg = Annotated[
    Path,
    typer.Argument(
        help="Dataset folder (<split>/<combination>/<id>.jpg) "
        "or CSV manifest (path,labels[,split])."
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache", help="Image cache folder (default $TOONTAG_CACHE or ~/.cache/toontag)."
    ),
]


def parse_size(text: str) -> tuple[int, int]:
    """'224' -> (224, 224); '112x192' -> (112, 192), as HEIGHTxWIDTH."""
    match = re.fullmatch(r"(\d+)(?:[x,](\d+))?", text.strip())
    if not match:
        raise typer.BadParameter(f"{text!r} is not HEIGHTxWIDTH, e.g. 224 or 112x192")
    height = int(match[1])
    return height, int(match[2] or height)


@data_app.command("stats")
def data_stats(
    data: DataArg,
    check: Annotated[
        bool, typer.Option(help="Decode and hash every file to find problems.")
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the stats here.")
    ] = None,
) -> None:
    """Images per character and per combination for each split (the paper's Tables 2 and 4),
    and the problems found: unreadable files, converted images, duplicates by content."""
    from toontag.data.dataset import load_dataset
    from toontag.data.stats import dataset_stats
    from toontag.io import write_json

    dataset = load_dataset(data)
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
    data: DataArg,
    threshold: Annotated[
        float, typer.Option(help="Thumbnail distance (0-255) at or under which frames are twins.")
    ] = 10.0,
    run: Annotated[
        list[Path] | None, typer.Option(help="Runs whose test score to split by near-twins.")
    ] = None,
    results: Annotated[Path, typer.Option(help="Where the result files go.")] = Path("results"),
    cache: CacheOpt = None,
) -> None:
    """Near-duplicate frames across train and test: how many test frames have a near-twin in
    train, a contact sheet of examples, and each run's test F1 without them."""
    import time

    from toontag.data.audit import audit_split
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.leakage import publish_audit

    started = time.perf_counter()
    dataset = load_dataset(data)
    audit = audit_split(dataset, threshold=threshold, cache_root=cache)
    path = publish_audit(audit, dataset, run or [], results, seconds=time.perf_counter() - started)
    n, twins = len(audit.distance), int(audit.twins.sum())
    out.print(f"{twins} of {n} test frames ({twins / n:.1%}) have a near-twin in train")
    out.print(f"written: {path}, .json and .png")


@data_app.command("suspects")
def data_suspects(
    data: DataArg,
    oof: Annotated[Path, typer.Option(help="Out-of-fold predictions CSV (path, labels, p_*).")],
    predictions: Annotated[
        list[Path] | None,
        typer.Option(help="A model's predictions-test.csv to score without the suspects."),
    ] = None,
    twins: Annotated[bool, typer.Option(help="Check against the split audit's twins.")] = True,
    results: Annotated[Path, typer.Option(help="Where the result files go.")] = Path("results"),
    cache: CacheOpt = None,
) -> None:
    """Frames whose labels disagree most with out-of-fold predictions (confident learning),
    as a CSV to review and a contact sheet."""
    import time

    from toontag.data.audit import audit_split
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.suspects import publish_suspects

    started = time.perf_counter()
    dataset = load_dataset(data)
    audit = audit_split(dataset, cache_root=cache) if twins else None
    path = publish_suspects(dataset, oof, predictions or [], results, audit=audit,
                            seconds=time.perf_counter() - started)  # fmt: skip
    out.print(f"written: {path}, .json, .csv and .png")


@data_app.command("correct")
def data_correct(
    data: DataArg,
    reviewed: Annotated[
        Path, typer.Argument(help="suspects.csv with its corrected column filled.")
    ],
    manifest: Annotated[Path, typer.Option("--out", help="The corrected manifest to write.")],
) -> None:
    """A manifest of the whole dataset with a reviewer's corrections applied (train on it)."""
    from toontag.data.dataset import load_dataset
    from toontag.evaluation.suspects import corrected_manifest
    from toontag.io import write_text

    write_text(manifest, corrected_manifest(load_dataset(data), reviewed))
    out.print(f"written: {manifest}")


@app.command()
def models() -> None:
    """List the model names toontag knows (any timm model name works too)."""
    from toontag.models import PAPER_BACKBONES, list_models

    for name in list_models():
        out.print(f"{name:20s} {PAPER_BACKBONES.get(name, 'the paper CNN, from scratch')}")


@app.command()
def train(
    data: Annotated[Path | None, typer.Option(help="Dataset folder or CSV manifest.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run directory to create.")] = None,
    preset: Annotated[
        str, typer.Option(help="Named recipe: paper (the default) or fast (see config.py).")
    ] = "paper",
    model: Annotated[
        str | None,
        typer.Option(help="baseline, a paper backbone or a timm name; default efficientnet_lite0."),
    ] = None,
    pretrained: Annotated[bool, typer.Option(help="Start from ImageNet weights.")] = True,
    weights: Annotated[Path | None, typer.Option(help="Local backbone checkpoint.")] = None,
    freeze_backbone: Annotated[bool, typer.Option(help="Train the head only.")] = False,
    image_size: Annotated[
        str | None, typer.Option(help="HEIGHTxWIDTH, or one number; default 224x224.")
    ] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Maximum epochs; default the preset's (paper: 50).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Default 32.")] = None,
    lr: Annotated[
        float | None, typer.Option(help="Learning rate; default the preset's (paper: 1e-4).")
    ] = None,
    dropout: Annotated[float | None, typer.Option(help="Head dropout; default 0.1.")] = None,
    conv_layers: Annotated[int, typer.Option(help="Baseline conv layers: 4, or 2 (Table 6).")] = 4,
    augment: Annotated[
        bool | None, typer.Option(help="Flip, zoom and colour jitter; default the preset's.")
    ] = None,
    tune_thresholds: Annotated[
        bool | None, typer.Option(help="Per-class thresholds tuned on validation (else 0.5).")
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Train share held out by sequence.")] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    devices: Annotated[int, typer.Option(help="Devices (processes on CPU).")] = 1,
    strategy: Annotated[str, typer.Option(help="Lightning strategy, e.g. ddp.")] = "auto",
    resume: Annotated[Path | None, typer.Option(help="Continue this killed run.")] = None,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any recipe field, KEY=VALUE (repeatable): e.g. schedule=cosine, "
            "augment=flip_crop, optimizer=adamw, ema_decay=0.999; see src/toontag/config.py.",
        ),
    ] = None,
    cache: CacheOpt = None,
) -> None:
    """Train a model with the paper's recipe (Adam, BCE, ReduceLROnPlateau, EarlyStopping) or
    another preset; options and --set change single fields of it."""
    from toontag.config import parse_settings
    from toontag.config import preset as named_preset
    from toontag.training.run import train as train_run

    if resume is not None:
        run_dir = resume
        config = None
        if data is None:
            data = Path(json.loads((resume / "split.json").read_text())["data"])
    else:
        if data is None or out_dir is None:
            raise typer.BadParameter("--data and --out are required (or --resume RUN)")
        if conv_layers not in (2, 4):
            raise typer.BadParameter("--conv-layers is 4 (the paper's CNN) or 2 (its ablation)")
        run_dir = out_dir
        given = {
            "model": model,
            "image_size": parse_size(image_size) if image_size else None,
            "max_epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "dropout": dropout,
            "augment": augment,
            "tune_thresholds": tune_thresholds,
        }
        config = (
            named_preset(preset)
            .replace(
                pretrained=pretrained,
                weights=str(weights) if weights else None,
                freeze_backbone=freeze_backbone,
                conv_channels=(16, 32, 64, 64)[:conv_layers],
                val_fraction=val_fraction,
                seed=seed,
                devices=devices,
                strategy=strategy,
                **{k: v for k, v in given.items() if v is not None},
            )
            .replace(**parse_settings(settings or []))
        )
    report = train_run(config, data=data, run=run_dir, resume=resume is not None, cache_root=cache)
    if report:
        out.print(
            f"[green]trained[/] {run_dir}: best epoch {report['best_epoch']} of "
            f"{report['epochs_run']}, val loss {report['best_val_loss']:.4f}, "
            f"{report['fit_seconds']:.0f} s"
        )
        if report["skipped_images"]:
            out.print(
                f"[yellow]skipped {len(report['skipped_images'])} unreadable images "
                f"(listed in {run_dir / 'report.json'})[/]"
            )


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[Path, typer.Option(help="Dataset folder or CSV manifest.")],
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 1000,
    cache: CacheOpt = None,
) -> None:
    """Metrics of a run on one split, with 95% bootstrap intervals, written into the run."""
    from toontag.evaluation.evaluate import evaluate_run

    m = evaluate_run(run, data=data, split=split, cache_root=cache, resamples=resamples)
    ci = m["ci95"]
    out.print(
        f"{m['model']} on {split} ({m['images']} images): micro-F1 {m['f1_micro']:.4f} "
        f"[{ci['f1_micro'][0]:.4f}, {ci['f1_micro'][1]:.4f}], accuracy {m['accuracy']:.4f}, "
        f"subset accuracy {m['subset_accuracy']:.4f}, AUC {m['auc_micro']:.4f}, "
        f"loss {m['loss']:.4f}"
    )
    out.print(f"written: {run / f'metrics-{split}.json'} and .md")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """The characters present in each image, with probabilities."""
    from toontag.evaluation.predict import predict_files
    from toontag.training.rundir import load_trained

    results = predict_files(load_trained(run), images)

    def line(r: dict) -> str:
        probs = ", ".join(f"{c} {p:.2f}" for c, p in r["probabilities"].items())
        found = ", ".join(r["characters"]) or "(none)"
        note = f"  [dim]({r['note']})[/]" if "note" in r else ""
        return f"{r['path']}: [bold]{found}[/]  ({probs}){note}"

    if as_json:
        print(json.dumps(results, indent=2))
    report_files(results, None if as_json else line)


def report_files(results: list[dict], line) -> None:
    """One line per file (`line(result)`, or the file's error in red); exit 1 after them if
    any file failed, so one bad file never hides the others' results."""
    for r in results:
        if line is not None:
            out.print(f"[red]{r['path']}: {r['error']}[/]" if "error" in r else line(r))
    if any("error" in r for r in results):
        raise typer.Exit(1)


@app.command()
def explain(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the heatmap PNGs.")],
    character: Annotated[
        str | None, typer.Option(help="Explain this character (default: those predicted).")
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Backbone layer for Grad-CAM (default: its feature map).")
    ] = None,
) -> None:
    """Grad-CAM heatmaps over each image for each predicted character, and a sheet."""
    from toontag.explain.gradcam import Explainer
    from toontag.explain.render import explain_files
    from toontag.training.rundir import load_trained

    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size, layer)
    results = explain_files(
        explainer, images, out_dir, thresholds=trained.thresholds, character=character
    )
    out.print(f"written: {out_dir} (Grad-CAM layer {explainer.layer!r}; sheet.png)")
    report_files(
        results,
        lambda r: f"{r['path']}: " + ", ".join(f"{c} {p:.2f}" for c, p in r["explained"].items()),
    )


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    data: Annotated[Path, typer.Option(help="Dataset folder or CSV manifest.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for report.html.")],
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    check: Annotated[
        bool, typer.Option(help="Open it in headless Chromium; keep a screenshot.")
    ] = False,
    cache: CacheOpt = None,
) -> None:
    """One self-contained HTML page: curves, per-class figures, ROC/PR, confusions, the most
    confident errors and a Grad-CAM per character."""
    from toontag.evaluation.evaluate import evaluate_run
    from toontag.explain.gradcam import Explainer
    from toontag.explain.report import build_report
    from toontag.training.rundir import load_trained

    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    metrics = evaluate_run(run, data=data, split=split, cache_root=cache)
    page = build_report(run, metrics, explainer, out_dir)
    out.print(f"written: {page}")
    if check:
        from toontag.explain.browser import check_page

        seen = check_page(page, screenshot=out_dir / "screenshot.png")
        broken = [alt for alt, ok in seen["images"] if not ok]
        if broken or seen["errors"]:
            raise ToontagError(
                f"{page}: {len(broken)} images did not load, console: {seen['errors']}"
            )
        out.print(
            f"checked in Chromium: {len(seen['images'])} images load, no console error; "
            f"{out_dir / 'screenshot.png'}"
        )


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    format: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",  # noqa: A002
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write (default RUN/model.onnx).")
    ] = None,
) -> None:
    """The trained model as ONNX (class names and thresholds in its metadata), checked
    against PyTorch on the same inputs."""
    from toontag.models.onnx import export_onnx
    from toontag.training.rundir import load_trained

    if format != "onnx":
        raise typer.BadParameter(f"{format!r}: the one export format is onnx")
    result = export_onnx(load_trained(run), out_file or run / "model.onnx")
    out.print(
        f"written: {result['path']}; ONNX Runtime vs PyTorch on {result['images']} images: "
        f"max probability difference {result['max_probability_difference']:.2e}"
    )


@app.command()
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="Two or more finished run directories.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Ensemble directory to write.")],
) -> None:
    """One model from several runs: the mean of their probabilities. `evaluate` and
    `predict` take the ensemble directory like any run."""
    from toontag.training.rundir import write_ensemble

    trained = write_ensemble(out_dir, runs)
    out.print(f"[green]ensemble[/] {out_dir}: {trained.config.model}")


@app.command()
def benchmark(
    suite: Annotated[str, typer.Option(help="paper, or a suite TOML file.")] = "paper",
    protocol: Annotated[str, typer.Option(help="cpu (2 cores, reduced size) or gpu.")] = "cpu",
    only: Annotated[list[str] | None, typer.Option(help="Run just these rows.")] = None,
    data: Annotated[Path, typer.Option(help="The Kral Sakir dataset.")] = Path(
        "../shared/data/kral_sakir"
    ),
    runs: Annotated[Path, typer.Option(help="Where the rows' run directories go.")] = Path(
        "runs/benchmark"
    ),
    results: Annotated[Path, typer.Option(help="Where the result files go.")] = Path("results"),
    max_minutes: Annotated[
        float | None, typer.Option(help="Cap each row's fitting time (reported as such).")
    ] = None,
    report_only: Annotated[
        bool, typer.Option(help="Publish the finished rows; train nothing.")
    ] = False,
    note: Annotated[
        str | None, typer.Option(help="A sentence for the result file, e.g. how rows ran.")
    ] = None,
    cache: CacheOpt = None,
) -> None:
    """Run a suite's rows one after another (finished rows are kept, killed ones resume)
    and write results/benchmark-<protocol>.md and .json beside the paper's figures."""
    import time

    from toontag.benchmark.report import paper_rule, publish
    from toontag.benchmark.runner import run_suite
    from toontag.benchmark.suite import load_suite

    started = time.perf_counter()
    spec = load_suite(suite)
    if protocol not in spec.protocols:
        raise typer.BadParameter(f"{protocol!r}: protocols are {', '.join(spec.protocols)}")
    found = run_suite(
        spec,
        spec.protocols[protocol],
        data=data,
        runs=runs,
        only=only,
        cache_root=cache,
        overrides={"max_minutes": max_minutes} if max_minutes else None,
        train_missing=not report_only,
        progress=sys.stderr.isatty(),
    )
    for name, r in found.items():
        f1 = ""
        if r["status"] == "done":
            at_half, tuned = paper_rule(r["test"])["f1_micro"], r["test"]["f1_micro"]
            f1 = f"  test micro-F1 {at_half:.4f} at 0.5, {tuned:.4f} at tuned thresholds"
        out.print(f"{name:28s} {r['status']}{f1}")
    seconds = time.perf_counter() - started
    path = publish(spec, spec.protocols[protocol], found, results, seconds=seconds, note=note,
                   rendered=report_only)  # fmt: skip
    out.print(f"written: {path} and .json")


DbOpt = Annotated[Path, typer.Option("--db", help="The index: one SQLite file.")]


@data_app.command("video")
def data_video(
    data: DataArg,
    out_file: Annotated[Path, typer.Option("--out", help="The MP4 to write.")],
    split: Annotated[str, typer.Option(help="Take frames from this split.")] = "test",
    seconds: Annotated[float, typer.Option(min=1, help="About this long.")] = 60.0,
    hold: Annotated[float, typer.Option(min=0.05, help="Seconds each frame is shown.")] = 0.5,
    fps: Annotated[int, typer.Option(min=1, help="Frame rate of the file.")] = 24,
    size: Annotated[
        str | None, typer.Option(help="HEIGHTxWIDTH of the video (default: the frames').")
    ] = None,
    seed: Annotated[int, typer.Option(help="Which sequences, in which order.")] = 0,
) -> None:
    """A test video from labelled frames: real animation sequences strung together, each
    frame held `--hold` seconds; the true timeline goes beside it as <out>.truth.json."""
    from toontag.data.dataset import load_dataset
    from toontag.video.synth import make_clip, truth_path, write_clip

    frames = load_dataset(data).subset(split)
    clip = make_clip(frames, seconds=seconds, hold=hold, seed=seed)
    write_clip(clip, out_file, fps=fps, size=parse_size(size) if size else None)
    out.print(
        f"written: {out_file} ({clip.duration:.1f} s, {len(clip.frames)} frames of {split}) "
        f"and {truth_path(out_file)}"
    )


@app.command()
def index(
    run: Annotated[Path, typer.Argument(help="A finished run (or ensemble) directory.")],
    videos: Annotated[list[Path], typer.Argument(help="Video files or folders of them.")],
    db: DbOpt,
    fps: Annotated[float, typer.Option(min=0.1, max=60, help="Frames sampled per second.")] = 2.0,
    engine: Annotated[str, typer.Option(help="onnx (ONNX Runtime) or torch.")] = "onnx",
    min_segment: Annotated[
        float, typer.Option(min=0, help="Drop on-screen stretches shorter than this (s).")
    ] = 1.0,
    max_gap: Annotated[
        float, typer.Option(min=0, help="Close gaps in a character's presence up to this (s).")
    ] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Frames per inference batch.")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Who is on screen when, for each video, into an index (SQLite). Unchanged videos are
    skipped; a killed run resumes at the video it was on; a bad file does not stop the rest."""
    from toontag.models.engine import load_engine
    from toontag.video.db import Index
    from toontag.video.indexer import expand, index_videos
    from toontag.video.search import display_name
    from toontag.video.segments import Smoothing

    model = load_engine(run, engine)
    store = Index.create(db, model)
    smoothing = Smoothing(min_segment=min_segment, max_gap=max_gap)
    outcomes = index_videos(
        store, model, expand(videos), fps=fps, smoothing=smoothing, batch_size=batch_size
    )
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

    if as_json:
        print(json.dumps(results, indent=2))
    report_files(results, None if as_json else line)


@app.command()
def videos(
    db: DbOpt,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """The indexed videos, with each character's screen time."""
    from toontag.video.db import Index
    from toontag.video.search import display_name

    store = Index(db)
    rows = [{**v, "screen_time": store.screen_time(v["id"])} for v in store.videos()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("id", "video", "duration", *(display_name(c) for c in store.classes))
    for r in rows:
        times = (f"{t:.1f}s" for t in r["screen_time"].values())
        table.add_row(str(r["id"]), r["path"], f"{r['duration']:.1f}s", *times)
    out.print(table)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help='e.g. "remzi and necati", "sakir and not canan"')],
    db: DbOpt,
    min_duration: Annotated[
        float, typer.Option(min=0, help="Leave out ranges shorter than this (s).")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV on stdout.")] = False,
) -> None:
    """The time ranges, per video, where a query over character names holds (and, or,
    not, parentheses; a name may be a unique part of one: necati = fil_necati)."""
    import csv

    from toontag.video.db import Index
    from toontag.video.search import clock
    from toontag.video.search import search as run_search

    hits = [h.to_dict() for h in run_search(Index(db), query, min_duration=min_duration)]
    if as_json:
        print(json.dumps({"query": query, "hits": hits}, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, ["video_id", "path", "start", "end", "duration"])
        writer.writeheader()
        writer.writerows(hits)
    else:
        table = Table("video", "start", "end", "duration", title=f"{query}: {len(hits)} ranges")
        for h in hits:
            table.add_row(
                h["path"], clock(h["start"], "."), clock(h["end"], "."), f"{h['duration']:.1f}s"
            )
        out.print(table)


@app.command()
def timeline(
    video: Annotated[str, typer.Argument(help="An indexed video: its path, file name or id.")],
    db: DbOpt,
    format: Annotated[str, typer.Option("--format", help="srt, vtt or csv.")] = "srt",  # noqa: A002
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
) -> None:
    """Who is on screen when in one video, as a subtitle track (SRT, WebVTT) or CSV."""
    from toontag.errors import IndexDbError
    from toontag.io import write_text
    from toontag.video.db import Index
    from toontag.video.search import TIMELINE_FORMATS, cues, format_timeline

    if format not in TIMELINE_FORMATS:
        raise typer.BadParameter(f"{format!r}: formats are {', '.join(TIMELINE_FORMATS)}")
    store = Index(db)
    found = store.video(int(video) if video.isdigit() else video)
    if found is None:
        raise IndexDbError(f"{video}: not in {db} (toontag videos --db {db} lists them)")
    text = format_timeline(cues(store, found["id"], found["duration"]), format)
    if out_file:
        write_text(out_file, text)
        out.print(f"written: {out_file}")
    else:
        sys.stdout.write(text)


@app.command()
def serve(
    db: DbOpt,
    host: Annotated[
        str, typer.Option(help="Interface to bind (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    """A web page over an index: search, thumbnails of the hits, a player that starts at
    the clicked range; and its JSON API (OpenAPI at /docs)."""
    import uvicorn

    from toontag.serve.app import create_app

    application = create_app(db)
    out.print(f"serving {db} at http://{host}:{port} (API docs at /docs); Ctrl+C stops")
    uvicorn.run(application, host=host, port=port, log_level="warning")


def quiet_libraries() -> None:
    """Keep the terminal for toontag's own output: no tips or deprecation noise from the
    libraries. Other warnings (a decompression bomb, say) still show."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for module in ("lightning", "pytorch_lightning", "torch", "timm", "torchmetrics"):
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    quiet_libraries()
    try:
        app(prog_name="toontag")
    except ToontagError as e:
        Console(stderr=True).print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        Console(stderr=True).print("[red]interrupted[/]")
        sys.exit(130)
