"""The benchmark: a suite's rows trained and evaluated one after another, then published."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from toontag.cli._app import app, out
from toontag.cli.options import CacheOpt, DataOpt, ResultsOpt, folder_check
from toontag.data.location import find_data


@app.command()
def benchmark(
    suite: Annotated[str, typer.Option(help="paper, or a suite TOML file.")] = "paper",
    protocol: Annotated[str, typer.Option(help="cpu (2 cores, reduced size) or gpu.")] = "cpu",
    only: Annotated[list[str] | None, typer.Option(help="Run just these rows.")] = None,
    data: DataOpt = None,
    runs: Annotated[
        Path,
        typer.Option(help="Where the rows' run directories go.", callback=folder_check("--runs")),
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
        progress=True,  # a live bar on a terminal, plain lines in a log (toontag.progress)
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
