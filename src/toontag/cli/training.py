"""Training and evaluation: train, evaluate, predict, ensemble, export, benchmark, models."""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toontag.cli._app import (
    CacheOpt,
    ClassesOpt,
    DataOpt,
    ResultsOpt,
    _folder,
    app,
    class_list,
    err,
    out,
    out_dir_option,
    output_folder,
    parse_size,
    report_files,
    show_classes,
)
from toontag.data.location import find_data


@app.command()
def models() -> None:
    """List the model names toontag knows (any timm model name works too)."""
    from toontag.models import PAPER_BACKBONES, list_models

    for name in list_models():
        out.print(f"{name:20s} {PAPER_BACKBONES.get(name, 'the paper CNN, from scratch')}")


@app.command()
def train(
    data: DataOpt = None,
    out_dir: Annotated[Path | None, out_dir_option("Run directory to create.")] = None,
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
    classes: ClassesOpt = None,
    unlabelled: Annotated[
        Path | None,
        typer.Option(
            help="Also learn from unlabelled images: a labelling project (its pool frames "
            "without labels) or a folder. A teacher trained on the labels pseudo-labels the "
            "ones it is sure of (RUN/teacher); the model is then trained on both."
        ),
    ] = None,
) -> None:
    """Train a model with the paper's recipe (Adam, BCE, ReduceLROnPlateau, EarlyStopping) or
    another preset; options and --set change single fields of it."""
    from toontag.config import parse_settings
    from toontag.config import preset as named_preset
    from toontag.training.run import train as train_run

    if resume is not None:
        if classes is not None:
            raise typer.BadParameter("--classes: a resumed run keeps the classes it started with")
        run_dir = resume
        config = None
        data = find_data(data, run=resume)
    else:
        if out_dir is None:
            raise typer.BadParameter("--out is required (or --resume RUN)")
        data = find_data(data)
        if conv_layers not in (2, 4):
            raise typer.BadParameter("--conv-layers is 4 (the paper's CNN) or 2 (its ablation)")
        run_dir = out_dir
        given = {
            "model": model,
            "image_size": parse_size(image_size) if image_size is not None else None,
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
    if unlabelled is not None:
        if resume is not None:
            raise typer.BadParameter("--unlabelled: rerun the same command to continue it")
        from toontag.data.dataset import load_dataset
        from toontag.labelling.unlabelled import train_with_unlabelled, unlabelled_images

        labelled = [s.path for s in load_dataset(data, **class_list(classes)).samples]
        pool = unlabelled_images(unlabelled, labelled)
        out.print(f"{len(pool):,} unlabelled images from {unlabelled}")
        train_run = partial(train_with_unlabelled, unlabelled=pool)
    else:
        train_run = partial(train_run, resume=resume is not None)
    report = train_run(
        config,
        data=data,
        run=run_dir,
        cache_root=cache,
        on_dataset=None if resume else show_classes,  # a manifest's classes, before training
        **class_list(classes),
    )
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
    data: DataOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    resamples: Annotated[int, typer.Option(min=1, max=100_000, help="Bootstrap resamples.")] = 1000,
    cache: CacheOpt = None,
) -> None:
    """Metrics of a run on one split, with 95% bootstrap intervals, written into the run."""
    from toontag.evaluation.evaluate import evaluate_run

    m = evaluate_run(
        run, data=find_data(data, run=run), split=split, cache_root=cache, resamples=resamples
    )
    ci = m["ci95"]
    auc = "n/a" if m["auc_micro"] is None else f"{m['auc_micro']:.4f}"  # no label, or all
    out.print(
        f"{m['model']} on {split} ({m['images']} images): micro-F1 {m['f1_micro']:.4f} "
        f"[{ci['f1_micro'][0]:.4f}, {ci['f1_micro'][1]:.4f}], accuracy {m['accuracy']:.4f}, "
        f"subset accuracy {m['subset_accuracy']:.4f}, AUC {auc}, "
        f"loss {m['loss']:.4f}"
    )
    out.print(f"written: {run / f'metrics-{split}.json'} and .md")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    images: Annotated[
        list[Path], typer.Argument(help="Image files, or folders of them (searched recursively).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the table here (one row per image).")
    ] = None,
    sidecars: Annotated[
        bool, typer.Option("--sidecar", help="Also write IMAGE.json beside each image.")
    ] = False,
    engine: Annotated[str, typer.Option(help="onnx (ONNX Runtime) or torch.")] = "onnx",
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Images per batch.")] = 64,
) -> None:
    """The characters in each image at the model's thresholds, with every probability.
    Folders are searched recursively for image files (hidden ones passed over); files that
    cannot be read are listed, the others tagged, and the command then exits 1."""
    from toontag.errors import FileError
    from toontag.evaluation.predict import find_images, table, tag_images
    from toontag.io import csv_text, write_text
    from toontag.models.engine import load_engine
    from toontag.progress import progress_bar

    if csv_file is not None:  # a table that cannot be written is found before the work
        if csv_file.is_dir():
            raise FileError(csv_file, "is a folder; --csv names the file to write")
        output_folder(csv_file.parent, "--csv")
    model = load_engine(run, engine)
    paths, empty = find_images(images)  # folders with no images, or unreadable ones
    results = list(empty)
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("tagging", total=len(paths))
        results += tag_images(
            model,
            paths,
            batch_size=batch_size,
            sidecars=sidecars,
            advance=partial(bar.advance, task),
        )
    seconds = time.perf_counter() - start
    if csv_file is not None:
        write_text(csv_file, csv_text(*table(results, model.classes)))

    def line(r: dict) -> str:
        probs = ", ".join(f"{c} {p:.2f}" for c, p in r["probabilities"].items())
        found = ", ".join(r["characters"]) or "(none)"
        note = f"  [dim]({r['note']})[/]" if "note" in r else ""
        return f"{escape(r['path'])}: [bold]{found}[/]  ({probs}){note}"

    unreadable = sum("error" in r for r in results[len(empty) :])  # images, not folders
    where = f"; table: {csv_file}" if csv_file else ""
    err.print(
        f"tagged {len(paths) - unreadable} of {len(paths)} images in {seconds:.1f} s "
        f"({len(paths) / max(seconds, 1e-9):.0f} images/s){where}",
        highlight=False,
        soft_wrap=True,
    )
    report_files(results, None if csv_file else line, as_json=as_json)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    format: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",  # noqa: A002
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write (default RUN/model.onnx).")
    ] = None,
) -> None:
    """The trained model as ONNX (class names and thresholds in its metadata), written only
    when ONNX Runtime agrees with PyTorch within 1e-4 on 64 frames of the run's data."""
    from toontag.models.onnx import export_onnx
    from toontag.models.trained import load_trained
    from toontag.runs import run_data

    if format != "onnx":
        raise typer.BadParameter(f"{format!r}: the one export format is onnx")
    path = out_file or run / "model.onnx"
    result = export_onnx(load_trained(run), path, data=run_data(run))
    out.print(
        f"written: {result['path']}; ONNX Runtime vs PyTorch on {result['source']}: max "
        f"probability difference {result['max_probability_difference']:.2e}, decisions "
        f"agree {result['decision_agreement']:.2%}",
        soft_wrap=True,
    )


@app.command()
def enrol(
    run: Annotated[Path, typer.Argument(help="A finished run directory.")],
    character: Annotated[str, typer.Option(help="The new character's name.")],
    out_dir: Annotated[Path, out_dir_option("The new run directory to write.")],
    examples: Annotated[
        list[Path] | None,
        typer.Option("--examples", help="Images showing it, or a folder of them (repeatable)."),
    ] = None,
    negatives: Annotated[
        list[Path] | None,
        typer.Option("--negatives", help="Images without it, or a folder (repeatable)."),
    ] = None,
    confirmed: Annotated[
        Path | None,
        typer.Option(help="A confirm.csv from an earlier enrol, its answer column filled in."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(help="A labelling project: its frames labelled with or without it."),
    ] = None,
    confirm: Annotated[int, typer.Option(help="Old frames to offer for confirmation.")] = 50,
    cache: CacheOpt = None,
) -> None:
    """A new run with one more character, from a handful of examples: the base run's outputs
    stay as they were (the new class is fitted on its frozen features). Old frames that may
    show it are listed in NEWRUN/confirm.csv: answer yes or no there and enrol again with
    --confirmed to use the answers."""
    from toontag.labelling.enrol import enrol as enrol_run
    from toontag.labelling.enrol import project_examples, read_confirmed

    if not 0 <= confirm <= 10_000:
        raise typer.BadParameter("--confirm is from 0 to 10000")
    examples, negatives = list(examples or []), list(negatives or [])
    if project is not None:
        yes, no = project_examples(project, character)
        examples, negatives = examples + yes, negatives + no
    done = enrol_run(
        run,
        character=character,
        examples=examples,
        negatives=negatives,
        confirmed=read_confirmed(confirmed) if confirmed else None,
        out=out_dir,
        confirm=confirm,
        cache_root=cache,
    )
    out.print(
        f"[green]enrolled[/] {escape(done['character'])} into {out_dir}: "
        f"{done['positives']} examples, {done['negatives']} negatives, "
        f"{done['unlabelled']:,} old frames as unlabelled; threshold {done['threshold']:.3f}; "
        f"{done['unlabelled_over_threshold']:,} old frames over it",
        soft_wrap=True,
    )
    if done["offered_for_confirmation"]:
        out.print(
            f"to confirm: {out_dir / 'confirm.csv'} ({done['offered_for_confirmation']} frames; "
            "answer yes or no, then enrol again with --confirmed)",
            soft_wrap=True,
        )


@app.command()
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="Two or more finished run directories.")],
    out_dir: Annotated[Path, out_dir_option("Ensemble directory to write.")],
) -> None:
    """One model from several runs: the mean of their probabilities. `evaluate` and
    `predict` take the ensemble directory like any run."""
    from toontag.models.trained import write_ensemble

    trained = write_ensemble(out_dir, runs)
    out.print(f"[green]ensemble[/] {out_dir}: {trained.config.model}")


@app.command()
def benchmark(
    suite: Annotated[str, typer.Option(help="paper, or a suite TOML file.")] = "paper",
    protocol: Annotated[str, typer.Option(help="cpu (2 cores, reduced size) or gpu.")] = "cpu",
    only: Annotated[list[str] | None, typer.Option(help="Run just these rows.")] = None,
    data: DataOpt = None,
    runs: Annotated[
        Path, typer.Option(help="Where the rows' run directories go.", callback=_folder("--runs"))
    ] = Path("runs/benchmark"),
    results: ResultsOpt = Path("results"),
    max_minutes: Annotated[
        float | None,
        typer.Option(
            min=0.001, max=1e6, help="Cap each row's fitting time in minutes (reported as such)."
        ),
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
        data=find_data(data),
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
    path = publish(
        spec,
        spec.protocols[protocol],
        found,
        results,
        seconds=seconds,
        note=note,
        rendered=report_only,
    )
    out.print(f"written: {path} and .json")
