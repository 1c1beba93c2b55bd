"""Result files for benchmarks: JSON + Markdown that record the command, git commit, machine
and wall time next to the figures, so every number can be traced and re-run."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from toontag.io import write_json, write_text

LAUNCH_FILE = "TOONTAG_LAUNCH"  # env: the launch record of a copied tree (no .git there)


def git_commit(cwd: Path | None = None) -> str:
    """HEAD's hash, with '+dirty' when the work tree has uncommitted changes or files git does
    not track (a new benchmark script is code the commit does not hold). A tree
    copied to another machine has no ``.git``: there the commit comes from the launch record
    (``$TOONTAG_LAUNCH``, written by ``benchmarks/gpu_launch.sh`` before the copy), never typed."""
    launch = os.environ.get(LAUNCH_FILE)
    if launch:
        import json

        record = json.loads(Path(launch).read_text())
        return record["commit"] + ("" if record["clean"] else "+dirty")
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=normal"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # Result files being written are not code: only other changes make the tree dirty.
        changed = [line for line in dirty.splitlines() if not line[3:].startswith("results/")]
        return head + ("+dirty" if changed else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def provenance() -> dict:
    """Who computes a figure now: the command, the code's commit, the machine and the time."""
    return {
        "command": shlex.join(sys.argv),
        "git_commit": git_commit(Path(__file__).parent),  # the code that computed it
        "machine": machine(),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(
    path: Path, payload: dict, markdown: str, *, wall_seconds: float, rendered: bool = False
) -> None:
    """`path`.json and `path`.md, each stamped with command, commit, machine and time.
    `rendered`: the figures were computed elsewhere (each carries its own provenance in the
    payload) and this run only re-rendered them; the stamp says so."""
    stamp = {**provenance(), "wall_seconds": round(wall_seconds, 1)}
    if rendered:
        stamp["rendered_only"] = True
    write_json(Path(path).with_suffix(".json"), {**stamp, **payload})
    m = stamp["machine"]
    role = (
        "Re-rendered (figures computed by the runs named in the file) by"
        if rendered
        else "Computed by"
    )
    footer = (
        f"\n---\n{role}: `{stamp['command']}`  \nCommit: `{stamp['git_commit']}`  \n"
        f"Machine: {m.get('gpu') or m['processor']}, {m['cpu_cores']} cores, "
        f"torch {m['torch']} ({m['torch_threads']} threads)  \n"
        f"Finished: {stamp['finished']}, wall time {stamp['wall_seconds']} s\n"
    )
    write_text(Path(path).with_suffix(".md"), markdown.rstrip() + "\n" + footer)
