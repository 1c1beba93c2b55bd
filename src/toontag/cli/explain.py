"""Explanations: Grad-CAM heatmaps and the HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toontag.cli._app import app, out, report_files
from toontag.cli.options import CacheOpt, DataOpt, RetestOpt, RunArg, SplitOpt, out_dir_option
from toontag.cli.training import evaluated
from toontag.errors import ToontagError


@app.command()
def explain(
    run: RunArg,
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    out_dir: Annotated[Path, out_dir_option("Folder for the heatmap PNGs.")],
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
    from toontag.models.trained import load_trained

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
    run: RunArg,
    out_dir: Annotated[Path, out_dir_option("Folder for report.html.")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    check: Annotated[
        bool, typer.Option(help="Open it in headless Chromium; keep a screenshot.")
    ] = False,
    cache: CacheOpt = None,
    retest: RetestOpt = False,
) -> None:
    """One self-contained HTML page: curves, per-class figures, ROC/PR, confusions, the most
    confident errors and a Grad-CAM per character."""
    from toontag.explain.gradcam import Explainer
    from toontag.explain.report import build_report
    from toontag.models.trained import load_trained

    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    metrics = evaluated(run, data, split, cache=cache, retest=retest)
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
