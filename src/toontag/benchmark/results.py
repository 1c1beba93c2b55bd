"""Result files: JSON + Markdown written atomically with the provenance of the run that wrote
them, and the one-line records of a resumable benchmark, each stamped by the run that computed
it so that re-rendering never claims another run's figures."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

from toontag.benchmark.provenance import git_commit, provenance
from toontag.io import write_json, write_text


def write_result(
    path: Path,
    payload: dict,
    markdown: str,
    *,
    wall_seconds: float,
    rendered: bool = False,
    load_before: list[float] | None = None,
) -> None:
    """`path`.json and `path`.md, each stamped with `provenance` (command, commit, machine,
    libraries, load, wall time). `rendered`: the figures were computed elsewhere (each carries
    its own provenance in the payload) and this run only re-rendered them; the stamp says so."""
    stamp = provenance(wall_seconds=wall_seconds, load_before=load_before)
    if rendered:
        stamp["rendered_only"] = True
    write_json(Path(path).with_suffix(".json"), {**stamp, **payload})
    write_text(Path(path).with_suffix(".md"), markdown.rstrip() + "\n" + footer(stamp))


def rerender_markdown(path: Path, computed: dict, markdown: str) -> None:
    """`path`.json as a run wrote it (`computed`, its provenance included) and `path`.md with
    `markdown`, rendered anew from it, under that run's own footer and a line naming the
    command and commit that re-rendered the Markdown alone."""
    write_json(Path(path).with_suffix(".json"), computed)
    again = provenance(wall_seconds=0.0)
    by = (
        "Markdown re-rendered from the run's JSON (its figures and provenance as computed) "
        f"by: `{again['command']}` at commit `{again['git_commit']}`"
    )
    text = markdown.rstrip() + "\n" + footer(computed) + "\n" + by + "\n"
    write_text(Path(path).with_suffix(".md"), text)


def footer(stamp: dict) -> str:
    """The Markdown lines under a result that say who wrote it."""
    m = stamp["machine"]
    before, after = stamp["load_average_before"], stamp["load_average_after"]
    role = (
        "Re-rendered (figures computed by the runs named in the file) by"
        if stamp.get("rendered_only")
        else "Computed by"
    )
    libraries = ", ".join(f"{k} {v}" for k, v in stamp["versions"].items() if v)
    lines = [
        f"{role}: `{stamp['command']}`",
        f"Commit: `{stamp['git_commit']}`",
        f"Machine: {m.get('gpu') or m['cpu']}, {m['cpu_cores']} cores, "
        f"torch {m['torch']} ({m['torch_threads']} threads)",
        f"Libraries: {libraries}",
        f"Load average (1 min): {_load(before)} before, {_load(after)} after",
        f"Finished: {stamp['finished']}, wall time {stamp['wall_seconds']} s",
    ]
    # A re-rendering's load says nothing of figures computed elsewhere.
    if stamp.get("load_note") and not stamp.get("rendered_only"):
        lines.append(f"**{stamp['load_note']}.**")
    return "\n---\n" + "  \n".join(lines) + "\n"


def _load(values: list[float] | None) -> str:
    return "unknown" if values is None else f"{values[0]:.2f}"


def read_records(path: Path, key: str) -> dict:
    """The finished runs of a resumable benchmark, one JSON line each, by their `key` field.
    A benchmark reads them as it starts: the commit its own records will carry is read now."""
    started_commit()
    if not path.is_file():
        return {}
    return {r[key]: r for r in map(json.loads, Path(path).read_text().splitlines())}


@functools.cache
def started_commit() -> str:
    """The commit of the code this process runs: read once, when the process first asks (a
    benchmark, as it reads its records at the start), so that commits made while it runs are
    not credited with its records."""
    return git_commit()


def keep_record(path: Path, record: dict, **extra) -> dict:
    """`record` stamped with the commit and time of the run that computed it (and `extra`),
    appended to the records at `path` and printed; returns it. A rerun skips what is kept,
    and re-rendering shows each record's own stamp."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    record |= {"commit": started_commit(), **extra, "finished": stamp}
    with Path(path).open("a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
    return record
