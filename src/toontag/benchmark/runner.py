"""Run a suite's rows one after another, each in its own run directory, resumably.

A row ends in ``row.json`` inside its run directory: a finished row is read back, never run
again; a killed row resumes from its last checkpoint. A row whose ImageNet weights cannot be
had here is recorded as unavailable, never trained from random weights instead.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from toontag.benchmark.provenance import load_average, provenance
from toontag.benchmark.suite import Protocol, Row, Suite
from toontag.config import TrainConfig
from toontag.errors import RunError
from toontag.evaluation.evaluate import evaluate_run
from toontag.io import write_json
from toontag.models import pretrained_unavailable
from toontag.models.trained import load_trained
from toontag.progress import console
from toontag.runs import CONFIG
from toontag.training.run import train_or_resume

ROW = "row.json"
DONE, NOT_RUN, SKIPPED = "done", "not run", "not in this protocol"
UNAVAILABLE = "weights unavailable offline"
# Keys that change where and how fast a row runs, not what it measures.
HARDWARE_KEYS = ("precision", "devices", "strategy", "max_minutes")


def row_dir(runs: Path, protocol: Protocol, row: Row) -> Path:
    return Path(runs) / protocol.name / row.name


def finished_row(runs: Path, protocol: Protocol, row: Row) -> dict | None:
    """The recorded result of a finished row, or None; a run directory holding a different
    experiment is an error rather than a silent mix-up."""
    path = row_dir(runs, protocol, row) / ROW
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    if result.get("status") != DONE:
        return None
    _same_experiment(path.parent, TrainConfig.from_dict(result["config"]), row.config(protocol))
    return result


def _same_experiment(run: Path, found: TrainConfig, declared: TrainConfig) -> None:
    """Refuse a run directory that holds another experiment than the row declares (the
    hardware keys aside: a row may be re-timed on other machines)."""
    if _recipe(found) != _recipe(declared):
        changed = [k for k, v in _recipe(declared).items() if _recipe(found)[k] != v]
        raise RunError(
            f"{run}: holds a different experiment than the row now declares ({', '.join(changed)} "
            "changed); move it away to run the row again"
        )


def run_row(
    row: Row,
    protocol: Protocol,
    *,
    data: Path,
    runs: Path,
    cache_root: Path | None = None,
    overrides: dict | None = None,
    progress: bool = True,
) -> dict:
    """Train (or resume), evaluate on val and test, and record the row's result."""
    if protocol.name not in row.protocols:
        return {"name": row.name, "status": SKIPPED}
    done = finished_row(runs, protocol, row)
    if done:
        return done
    run = row_dir(runs, protocol, row)
    config = row.config(protocol).replace(**(overrides or {}))
    result = {"name": row.name, "protocol": protocol.name, "config": config.to_dict()}
    reason = pretrained_unavailable(config.model) if config.pretrained else None
    if reason:  # asked again on every run: the weights may have been fetched since
        return {**result, "status": UNAVAILABLE, "reason": reason}

    if (run / CONFIG).is_file():
        _same_experiment(run, TrainConfig.load(run / CONFIG), config)
    began, load_before = time.perf_counter(), load_average()
    report = train_or_resume(config, data=data, run=run, cache_root=cache_root, progress=progress)
    started = time.perf_counter()
    metrics = {
        split: evaluate_run(run, data=data, split=split, cache_root=cache_root)
        for split in ("val", "test")
    }
    evaluation_seconds = time.perf_counter() - started
    model = load_trained(run).model
    result |= {
        "status": DONE,
        "run": str(run),
        # who trained and evaluated the row: command, commit, machine, load, wall time
        "provenance": provenance(wall_seconds=time.perf_counter() - began, load_before=load_before),
        "training": report,
        "parameters": sum(p.numel() for p in model.parameters()),
        "val": _summary(metrics["val"]),
        "test": metrics["test"],
        "wall_seconds": round(report["total_seconds"] + evaluation_seconds, 1),
    }
    write_json(run / ROW, result)
    return result


def _recipe(config: TrainConfig) -> dict:
    values = config.to_dict()
    for key in HARDWARE_KEYS:
        values.pop(key)
    return values


def _summary(m: dict) -> dict:
    keys = ("images", "loss", "f1_micro", "accuracy", "subset_accuracy", "auc_micro")
    out = {k: m[k] for k in keys}
    if "at_0.5" in m:
        out["f1_micro_at_0.5"] = m["at_0.5"]["f1_micro"]
    return out


def run_suite(
    suite: Suite,
    protocol: Protocol,
    *,
    data: Path,
    runs: Path,
    only: list[str] | None = None,
    cache_root: Path | None = None,
    overrides: dict | None = None,
    train_missing: bool = True,
    progress: bool = True,
) -> dict[str, dict]:
    """Every row's result in the suite's order: the selected rows run (unless
    `train_missing` is off), the others are read back or marked as not run."""
    selected = {r.name for r in suite.select(only)}
    queue = [
        r
        for r in suite.rows
        if r.name in selected and train_missing and peek_row(r, protocol, runs)["status"] == NOT_RUN
    ]  # the rows that will train
    results, walls = {}, []
    for row in suite.rows:
        if row.name in selected and train_missing:
            if row in queue and progress:
                console.print(announce(row, protocol, queue, walls, overrides))
            begin = time.perf_counter()
            results[row.name] = run_row(
                row,
                protocol,
                data=data,
                runs=runs,
                cache_root=cache_root,
                overrides=overrides,
                progress=progress,
            )
            if row in queue:
                walls.append(time.perf_counter() - begin)
        else:
            results[row.name] = peek_row(row, protocol, runs)
    return results


def announce(
    row: Row, protocol: Protocol, queue: list[Row], walls: list[float], overrides: dict | None
) -> str:
    """The line before a row runs: which row of how many, what it compares, its budget, and
    one bar over the rows with the time left (the mean of the rows run so far times the rows
    left, or the rows' time caps before any has finished)."""
    done, total = queue.index(row), len(queue)
    configs = [r.config(protocol).replace(**(overrides or {})) for r in queue[done:]]
    config = configs[0]
    init = "ImageNet weights" if config.pretrained else "random init"
    budget = f"at most {config.max_epochs} epochs"
    if config.max_minutes:
        budget += f" or {config.max_minutes:g} min"
    left = total - done
    if walls:
        eta = f"about {sum(walls) / len(walls) * left / 60:.0f} min left"
    elif all(c.max_minutes for c in configs):
        caps = sum(c.max_minutes for c in configs)
        eta = f"at most {caps:g} min left (time caps)"
    else:
        eta = "time left known after the first row"
    width = 30
    filled = round(width * done / total)
    bar = "━" * filled + "╺" + "─" * (width - filled - 1) if filled < width else "━" * width
    return (
        f"[bold]row {done + 1}/{total}: {row.name}[/] ({row.table}): {config.model}, {init}, "
        f"{config.image_size[0]}x{config.image_size[1]}, {protocol.name}; budget {budget}\n"
        f"rows {bar} {done}/{total} done, {eta}"
    )


def peek_row(row: Row, protocol: Protocol, runs: Path) -> dict:
    """A row's state without running anything."""
    if protocol.name not in row.protocols:
        return {"name": row.name, "status": SKIPPED}
    done = finished_row(runs, protocol, row)
    if done:
        return done
    config = row.config(protocol)
    reason = pretrained_unavailable(config.model) if config.pretrained else None
    status = {"status": UNAVAILABLE, "reason": reason} if reason else {"status": NOT_RUN}
    return {"name": row.name, "protocol": protocol.name, "config": config.to_dict(), **status}
