"""Training and evaluation: the models to choose from, train, evaluate."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toontag.cli._app import app, class_list, err, out, parse_size, show_classes
from toontag.cli.options import (
    CacheOpt,
    ClassesOpt,
    DataOpt,
    JsonOpt,
    RetestOpt,
    RunArg,
    SplitOpt,
    out_dir_option,
)
from toontag.data.location import find_data, which_data


def data_of_run(data: Path | None, run: Path) -> Path:
    """`find_data` for a command on a trained run; unless --data was given, it says on stderr
    which data it took and why (the run's own, or another when that is gone)."""
    found, how = which_data(data, run=run)
    if data is None:
        err.print(f"data: {escape(str(found))} ({escape(how)})", soft_wrap=True)
    return found


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
        str | None,
        typer.Option(
            help="Named recipe: paper, fast, cpu or labels (see config.py); default paper, or "
            "labels for --data PROJECT (what results/label-efficiency.md validated)."
        ),
    ] = None,
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
    adapted: Annotated[
        bool | None,
        typer.Option(
            "--adapted/--no-adapted",
            show_default=False,
            help="With --data PROJECT: start from the project's show-adapted backbone "
            "(`toontag label adapt`) instead of ImageNet's; on by default where validation "
            "chose it (labelling/recommended.py).",
        ),
    ] = None,
    propagate: Annotated[
        bool | None,
        typer.Option(
            "--propagate/--no-propagate",
            help="With --data PROJECT: extend each training answer to the unanswered frames "
            "of its shot where the label page's model agrees (or the frame is a still copy), as "
            "weak labels of half weight that only train (RUN/propagated.csv). Default for a new "
            "run on a project, when neither this nor --unlabelled is named: what validation "
            "chose at about its number of labels (labelling/recommended.py: propagation, or "
            "self-training on the project's pool).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a model with the paper's recipe (Adam, BCE, ReduceLROnPlateau, EarlyStopping) or
    another preset; options and --set change single fields of it."""
    from toontag.config import parse_settings
    from toontag.config import preset as named_preset
    from toontag.data.dataset import PROJECT_FILE
    from toontag.training.run import train as train_run

    if resume is None and out_dir is None:
        raise typer.BadParameter("--out is required (or --resume RUN)")
    data = find_data(data) if resume is None else data_of_run(data, resume)
    project = (data / PROJECT_FILE).is_file()
    by_default = project and resume is None and propagate is None and unlabelled is None
    if resume is not None:
        if classes is not None:
            raise typer.BadParameter("--classes: a resumed run keeps the classes it started with")
        run_dir = resume
        config = None
    else:
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
        given = {k: v for k, v in given.items() if v is not None} | parse_settings(settings or [])
        if "max_epochs" in given:  # epochs named: they, not the preset's image budget
            given.setdefault("images_seen", 0)
        fixed = {
            "pretrained": pretrained,
            "weights": str(weights) if weights else None,
            "freeze_backbone": freeze_backbone,
            "conv_channels": (16, 32, 64, 64)[:conv_layers],
            "val_fraction": val_fraction,
            "seed": seed,
            "devices": devices,
            "strategy": strategy,
        }
        config = named_preset(preset if preset is not None else "labels" if project else "paper")
        config = config.replace(**fixed | given)  # --set last: it may change any of them
    pool = None  # the unlabelled frames, where the default path chose self-training
    if by_default:  # what validation chose near the project's number of labels
        from toontag.labelling.recommended import default_path

        chosen, pool = default_path(
            data, run=run_dir, config=config, cache_root=cache, **class_list(classes)
        )
        propagate, unlabelled = chosen.propagate, data if pool is not None else None
        adapted = chosen.adapted if adapted is None else adapted
        out.print(
            f"{escape(chosen.why)} (results/label-efficiency.md); --propagate, "
            "--no-propagate or --unlabelled choose otherwise",
            soft_wrap=True,
        )
    if config is not None and adapted and config.weights is None and config.pretrained:
        from toontag.labelling.adapted import project_backbone

        found = project_backbone(data, config.model)
        if found is not None:
            config = config.replace(weights=str(found))
            out.print(f"starting from the project's show-adapted backbone ({found})")
    if propagate:
        if resume is not None or unlabelled is not None:
            raise typer.BadParameter(
                "--propagate: rerun the same command to continue it; not with --unlabelled yet"
            )
        from toontag.labelling.weak_manifest import train_propagated

        train_run = train_propagated
    elif unlabelled is not None:
        if resume is not None:
            raise typer.BadParameter("--unlabelled: rerun the same command to continue it")
        from toontag.labelling.recommended import self_training, unlabelled_source
        from toontag.labelling.unlabelled import train_with_unlabelled

        if pool is None:  # named: from this project, another one or a folder
            pool, options = unlabelled_source(
                data, unlabelled, config=config, cache_root=cache, **class_list(classes)
            )
        else:  # the default path's: the project's own learnable pool
            options = self_training(config)
        out.print(f"{len(pool):,} unlabelled images from {unlabelled}")
        train_run = partial(train_with_unlabelled, unlabelled=pool, **options)
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
    weak = report.get("propagation") if report else None
    if weak is not None and not weak["weak_rows"]:  # stills only, or nothing agreed
        out.print(
            f"weak labels: none (no frame shares a shot with the {weak['answers']:,} "
            "training answers and agrees with them)"
        )
    elif weak is not None:
        out.print(
            f"weak labels: {weak['weak_rows']:,} frames of {weak.get('shots', 0):,} shots from "
            f"{weak.get('from_answers', 0):,} of {weak['answers']:,} training answers, weight "
            f"{weak['weights'][0]}; {weak['trained']:,} trained on"
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
    run: RunArg,
    data: DataOpt = None,
    split: SplitOpt = "test",
    resamples: Annotated[int, typer.Option(min=1, max=100_000, help="Bootstrap resamples.")] = 1000,
    cache: CacheOpt = None,
    retest: RetestOpt = False,
) -> None:
    """Metrics of a run on one split, with 95% bootstrap intervals (resampling images, and
    whole sequences of near-identical frames), written into the run."""
    from toontag.evaluation.looks import TEST_LOOKS
    from toontag.evaluation.metrics import by_sequence_text
    from toontag.runs import evaluation_files

    m = evaluated(run, data, split, cache=cache, retest=retest, resamples=resamples)
    ci, seq = m["ci95"], m["ci95_by_sequence"]
    auc = "n/a" if m["auc_micro"] is None else f"{m['auc_micro']:.4f}"  # no label, or all
    out.print(
        f"{m['model']} on {split} ({m['images']} images, {seq['sequences']} sequences): "
        f"micro-F1 {m['f1_micro']:.4f} [{ci['f1_micro'][0]:.4f}, {ci['f1_micro'][1]:.4f}], "
        f"{by_sequence_text(seq['f1_micro'])}, accuracy {m['accuracy']:.4f}, "
        f"subset accuracy {m['subset_accuracy']:.4f}, AUC {auc}, "
        f"loss {m['loss']:.4f}"
    )
    if m["unknown_entries"]:
        out.print(f"{m['unknown_entries']:,} entries marked unknown: left out of these figures")
    files = evaluation_files(run, m["data"], split)
    out.print(f"written: {files.metrics} and .md, {files.predictions.name}")
    if "replaces" in m:
        out.print(f"[yellow]replaced the evaluation of {escape(m['replaces'])} in those files[/]")
    if m.get("test_look", 1) > 1:
        out.print(f"look {m['test_look']} at this test data, recorded in {run / TEST_LOOKS}")


def evaluated(run: Path, data: Path | None, split: str, *, cache, retest: bool, **options) -> dict:
    """`evaluate_run` as the commands call it (`evaluate`, `report`): on the data `find_data`
    finds, a look at test recorded with toontag's commit."""
    from toontag.benchmark.provenance import git_commit
    from toontag.evaluation.evaluate import evaluate_run

    commit = git_commit(Path(__file__).parent)
    found = data_of_run(data, run)
    return evaluate_run(
        run, data=found, split=split, cache_root=cache, retest=retest, commit=commit, **options
    )


@app.command()
def compare(
    run_a: RunArg,
    run_b: RunArg,
    data: DataOpt = None,
    split: SplitOpt = "test",
    resamples: Annotated[int, typer.Option(min=1, max=100_000, help="Bootstrap resamples.")] = 1000,
    cache: CacheOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Is RUN_A better than RUN_B on the same frames? Micro-F1 of each and their difference
    with a paired 95% bootstrap interval, resampling whole sequences (and single images).
    Uses each run's predictions from `evaluate`, evaluating a run that has none."""
    import json

    from toontag.evaluation.compare import compare_runs
    from toontag.evaluation.metrics import by_sequence_text

    c = compare_runs(
        run_a,
        run_b,
        data=data_of_run(data, run_a),
        split=split,
        cache_root=cache,
        resamples=resamples,
    )
    if as_json:
        print(json.dumps(c, indent=2))
        return
    for name, r in zip(("A", "B"), c["runs"], strict=True):
        out.print(
            f"{name} {escape(r['run'])}: micro-F1 {r['f1_micro']:.4f} [{r['ci95'][0]:.4f}, "
            f"{r['ci95'][1]:.4f}], {by_sequence_text(r['ci95_by_sequence'])}"
        )
    lo, hi = c["difference_ci95_by_sequence"]
    verdict = "A ahead" if lo > 0 else "B ahead" if hi < 0 else "no difference shown"
    out.print(
        f"A − B on {split} ({c['images']} images, {c['sequences']} sequences): "
        f"{c['difference']:+.4f}, paired 95% interval by sequence [{lo:+.4f}, {hi:+.4f}] "
        f"({verdict}), by image [{c['difference_ci95'][0]:+.4f}, {c['difference_ci95'][1]:+.4f}]"
    )
