"""Using a trained model: predict, export it as ONNX, and ensemble several runs into one."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toontag.cli._app import app, err, out, output_folder, report_files
from toontag.cli.options import EngineOpt, JsonOpt, RunArg, out_dir_option


@app.command()
def predict(
    run: RunArg,
    images: Annotated[
        list[Path], typer.Argument(help="Image files, or folders of them (searched recursively).")
    ],
    as_json: JsonOpt = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Write the table here (one row per image).")
    ] = None,
    sidecars: Annotated[
        bool, typer.Option("--sidecar", help="Also write IMAGE.json beside each image.")
    ] = False,
    engine: EngineOpt = "onnx",
    batch_size: Annotated[int, typer.Option(min=1, max=1024, help="Images per batch.")] = 64,
    borders: Annotated[
        bool,
        typer.Option(
            help="Crop a still's black bars (letterbox, pillarbox: matching bars at opposite "
            "edges) before the model looks, as index does a video's; the note says so."
        ),
    ] = True,
) -> None:
    """The characters in each image at the model's thresholds, with every probability.
    Folders are searched recursively for image files (hidden ones passed over); files that
    cannot be read are listed, the others tagged, and the command then exits 1."""
    from toontag.evaluation.predict import find_images, table, tag_images
    from toontag.io import check_replaceable, export_csv_text, write_text
    from toontag.models.engine import load_engine
    from toontag.progress import progress_bar

    if csv_file is not None:  # a table that cannot be written is found before the work
        check_replaceable(csv_file, folder="--csv names the file to write")
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
            borders=borders,
            advance=partial(bar.advance, task),
        )
    seconds = time.perf_counter() - start
    if csv_file is not None:
        write_text(csv_file, export_csv_text(*table(results, model.classes)))

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
    run: RunArg,
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
def ensemble(
    runs: Annotated[list[Path], typer.Argument(help="Two or more finished run directories.")],
    out_dir: Annotated[Path, out_dir_option("Ensemble directory to write.")],
) -> None:
    """One model from several runs: the mean of their probabilities. `evaluate` and
    `predict` take the ensemble directory like any run."""
    from toontag.models.trained import write_ensemble

    trained = write_ensemble(out_dir, runs)
    out.print(f"[green]ensemble[/] {out_dir}: {trained.config.model}")
