"""Labelling: a project of candidate frames from the user's own episodes, labelled in the
browser; a new character enrolled into a run from a handful of examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from toontag.cli._app import app, out, report_files, serve_app, server_access
from toontag.cli.options import (
    AllowedHostOpt,
    CacheOpt,
    ExposeOpt,
    JsonOpt,
    PortOpt,
    RunArg,
    TokenOpt,
    host_option,
    out_dir_option,
)


@app.command()
def frames(
    sources: Annotated[
        list[Path], typer.Argument(help="Videos, images, or folders of them (searched inside).")
    ],
    out_dir: Annotated[Path, out_dir_option("The project folder (made when new).")],
    every: Annotated[
        float, typer.Option(min=0.1, max=3600, help="Seconds between regular samples.")
    ] = 2.0,
    per_shot: Annotated[
        int, typer.Option(min=1, max=100, help="Frames taken inside each shot.")
    ] = 1,
    max_distance: Annotated[
        float,
        typer.Option(
            min=0, max=255, help="Drop a frame this close to one kept (thumbnail distance)."
        ),
    ] = 10.0,
    as_json: JsonOpt = False,
) -> None:
    """Candidate frames for labelling into a project's pool: each shot's middle and one
    frame every --every seconds of each video, every image, near-duplicates dropped.
    Sources already in the pool are skipped; a bad file does not stop the rest."""
    from toontag.labelling.pool import add_to_pool
    from toontag.progress import progress_bar

    bar, tasks = progress_bar(), {}

    def progress(source: Path, done: float, total: float | None) -> None:
        if not tasks:
            bar.start()  # only once there is work to show: an error alone stays one line
        if source not in tasks:
            tasks[source] = bar.add_task(source.name[:40], total=total)
        bar.update(tasks[source], completed=done, total=total)

    try:
        summary = add_to_pool(
            out_dir,
            sources,
            every=every,
            per_shot=per_shot,
            max_distance=max_distance,
            progress=progress,
        )
    finally:
        if tasks:
            bar.stop()
    results = []
    for o in summary.sources:
        results.append({**o.to_dict(), "error": o.detail} if o.status == "failed" else o.to_dict())
        results.extend({"path": image, "error": reason} for image, reason in o.unreadable)

    def line(r: dict) -> str:
        if r["status"] != "added":
            return f"{escape(r['path'])}: [bold]{r['status']}[/] ({escape(r['detail'])})"
        found = f"{r['shots']} shots" if r["kind"] == "video" else f"{r['candidates']} images"
        more = f"; {r['detail']}" if r["detail"] else ""
        return (
            f"{escape(r['path'])}: [bold]added {r['added']} frames[/] ({found}, {r['dropped']} "
            f"near-duplicates dropped{more})"
        )

    if as_json:
        print(
            json.dumps(
                {
                    "project": str(summary.project),
                    "total": summary.total,
                    "sources": [o.to_dict() for o in summary.sources],
                    "broken": summary.broken,
                },
                indent=2,
            )
        )
    else:
        for frame, reason in summary.broken:
            out.print(
                f"[yellow]warning: {escape(frame)}: {escape(reason)} (a pool frame that "
                "cannot be read; left out of comparisons)[/]"
            )
    try:
        report_files(results, None if as_json else line)
    finally:
        if not as_json:
            out.print(f"pool: {summary.total:,} frames in {escape(str(summary.project))}")


label = typer.Typer(help="Label a project's frames in the browser.", no_args_is_help=True)
app.add_typer(label, name="label")


@label.command("serve")
def label_serve(
    project: Annotated[Path, typer.Argument(help="The project folder (made by toontag frames).")],
    host: Annotated[
        str, host_option("shows the frames and takes labels from whoever reaches the port")
    ] = "127.0.0.1",
    port: PortOpt = 8001,
    allowed_host: AllowedHostOpt = None,
    expose: ExposeOpt = False,
    token: TokenOpt = None,
    policy: Annotated[
        str,
        typer.Option(
            help="Which frames come next: active (uncertain, diverse), coverage (clusters of "
            "the pool) or random (for comparison)."
        ),
    ] = "active",
    seed: Annotated[
        int,
        typer.Option(
            min=0,
            max=2**31 - 1,  # the queue's k-means adds the batch number to it
            help="Seed of the queue's draws: the same project and seed give the same batches.",
        ),
    ] = 0,
) -> None:
    """A page to label a project's frames: the next frames to label with the model's
    suggestions, a key per character, undo; every answer saved to labels.csv at once. A page
    is shown its batch again until it is answered (a reload skips nothing)."""
    out.print(f"reading the project {project} ...", soft_wrap=True, markup=False)
    from toontag.serve.labelling import LABELLING, create_label_app

    hosts = server_access(host, port, allowed_host, served=LABELLING, expose=expose, token=token)
    application = create_label_app(
        project, allowed_hosts=hosts, token=token, policy=policy, seed=seed
    )
    session = application.state.session
    out.print(
        f"{len(session.pool):,} frames in the pool, {len(session.store.answers):,} answered; "
        "the frames' features follow in the background once it serves",
        soft_wrap=True,
        markup=False,
    )

    def say(where: str) -> None:
        out.print(
            f"labelling {project} at {where} (answers to {', '.join(hosts)}); Ctrl+C stops",
            soft_wrap=True,
            markup=False,
        )

    try:
        serve_app(application, host=host, port=port, token=token, say=say)
    finally:
        application.state.close()


@label.command("adapt")
def label_adapt(
    project: Annotated[Path, typer.Argument(help="The project folder (made by toontag frames).")],
    minutes: Annotated[
        float,
        typer.Option(
            min=0.1,
            max=1440,
            help="Training time of the adaptation (the frames' maps are computed first).",
        ),
    ] = 10.0,
    seed: Annotated[
        int, typer.Option(min=0, max=2**32 - 1, help="Seed of the pairs drawn and the projection.")
    ] = 0,
) -> None:
    """Adapt the backbone to the show from the pool's unlabelled frames (frames of one shot
    learn to look alike): once per project; the label page's suggestions and train --data
    PROJECT then start from it."""
    from toontag.labelling.adapted import FOLDER, adapt_project
    from toontag.progress import progress_bar
    from toontag.training.adapt import AdaptSettings

    with progress_bar() as bar:
        maps = bar.add_task("frames' maps", total=None)
        steps = bar.add_task("adapting", total=None)
        info = adapt_project(
            project,
            settings=AdaptSettings(seconds=minutes * 60, seed=seed),
            maps_progress=lambda done, total: bar.update(maps, completed=done, total=total),
            progress=lambda step, loss: bar.update(steps, completed=step),
        )
    out.print(
        f"adapted to {info['frames']:,} frames in {info['shots']:,} shots: {info['steps']} steps "
        f"in {info['seconds'] / 60:.1f} min (loss {info['loss']['first']} -> "
        f"{info['loss']['last']}); written to {escape(str(Path(project) / FOLDER))}"
    )


@app.command()
def enrol(
    run: RunArg,
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
    method: Annotated[
        str,
        typer.Option(
            help="linear: a read-out on the run's frozen features, old outputs unchanged "
            "(seconds); finetune: the top of the backbone fine-tuned too, old outputs distilled "
            "(about 3 minutes on 2 cores)."
        ),
    ] = "linear",
    seconds: Annotated[
        float,
        typer.Option(help="--method finetune: the wall-clock budget; training stops in time."),
    ] = 180.0,
    cache: CacheOpt = None,
) -> None:
    """A new run with one more character, from a handful of examples: the base run's outputs
    stay as they were (--method linear: the new class is fitted on its frozen features) or
    close to it (--method finetune). Old frames that may show it are listed in
    NEWRUN/confirm.csv: answer yes or no there and enrol again with --confirmed to use the
    answers."""
    from toontag.labelling.confirm import read_confirmed
    from toontag.labelling.enrol import enrol as enrol_run
    from toontag.labelling.enrol import project_examples
    from toontag.labelling.enrol_finetune import enrol_finetuned

    if not 0 <= confirm <= 10_000:
        raise typer.BadParameter("--confirm is from 0 to 10000")
    if method not in ("linear", "finetune"):
        raise typer.BadParameter(f"--method is linear or finetune, not {method!r}")
    if not 1 <= seconds <= 86_400:  # NaN fails too
        raise typer.BadParameter("--seconds is from 1 to 86400")
    examples, negatives = list(examples or []), list(negatives or [])
    if project is not None:
        yes, no = project_examples(project, character)
        examples, negatives = examples + yes, negatives + no
    tuned = method == "finetune"
    by_method = enrol_finetuned if tuned else enrol_run
    done = by_method(
        run,
        character=character,
        examples=examples,
        negatives=negatives,
        confirmed=read_confirmed(confirmed) if confirmed else None,
        out=out_dir,
        confirm=confirm,
        cache_root=cache,
        **({"project": project, "seconds": seconds} if tuned else {}),
    )
    how = f" by fine-tuning ({done['seconds']:.0f} s)" if tuned else ""
    out.print(
        f"[green]enrolled[/] {escape(done['character'])} into {out_dir}{how}: "
        f"{done['positives']} examples, {done['negatives']} negatives, "
        f"{done['unlabelled']:,} old frames as unlabelled; threshold {done['threshold']:.3f}; "
        f"{done['unlabelled_over_threshold']:,} old frames over it",
        soft_wrap=True,
    )
    if done["guard"]:  # what came of the answers, the examples-only fit kept or not
        out.print(escape(done["guard"]["said"]), soft_wrap=True)
    if done["offered_for_confirmation"]:
        out.print(
            f"to confirm: {out_dir / 'confirm.csv'} ({done['offered_for_confirmation']} frames; "
            "answer yes or no, then enrol again with --confirmed)",
            soft_wrap=True,
        )
