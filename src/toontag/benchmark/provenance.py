"""Who computed a figure: the command, the code's commit, the machine, the libraries, how busy
the machine was and how long the run took, so that every number in results/ can be traced,
judged and re-run."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

LAUNCH_FILE = "TOONTAG_LAUNCH"  # env: the launch record of a copied tree (no .git there)
# The libraries whose versions change what a figure measures (distribution names).
LIBRARIES = ("torch", "timm", "lightning", "onnxruntime", "scikit-learn", "numpy", "av")


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (None where the system keeps none): other work
    on a shared machine skews every timing."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# When this module is first imported, about when a benchmark script starts: the 'before' of
# figures whose run states no start of its own.
PROCESS_START = time.perf_counter()
LOAD_AT_START = load_average()


def git_commit(cwd: Path | None = None) -> str:
    """HEAD's hash, with '+dirty' when the work tree has uncommitted changes or files git does
    not track (a new benchmark script is code the commit does not hold). A tree
    copied to another machine has no ``.git``: there the commit comes from the launch record
    (``$TOONTAG_LAUNCH``, written by ``benchmarks/gpu_launch.sh`` before the copy), never typed."""
    launch = os.environ.get(LAUNCH_FILE)
    if launch:
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


def cpu_name() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def library_versions() -> dict[str, str | None]:
    """Python's and each of `LIBRARIES`' installed version (None when not installed), read
    from the package metadata without importing them."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def load_note(
    before: list[float] | None, after: list[float] | None, cores: int | None
) -> str | None:
    """The warning a figure carries when the 1-minute load exceeded half the machine's cores
    before or after its run (other work then shared the CPU, so its timings are upper
    bounds); None when neither did, or when the load or the core count is unknown."""
    if not cores or not any(load and load[0] > cores / 2 for load in (before, after)):
        return None
    shown = ["unknown" if load is None else f"{load[0]:.2f}" for load in (before, after)]
    return (
        f"Computed on a busy machine: 1-minute load {shown[0]} before / {shown[1]} after on "
        f"{cores} cores; timings are upper bounds"
    )


def provenance(
    *, wall_seconds: float | None = None, load_before: list[float] | None = None
) -> dict:
    """Who computes a figure now: the command line, the code's commit and whether the tree was
    clean, the machine, the library versions, the load average before and after the run, its
    wall time (`wall_seconds`, else since this process imported the module) and when it ended;
    `busy` and `load_note` say whether the machine was busy (`load_note`).
    `load_before`: the load when the run began (default: when this module was imported)."""
    commit = git_commit(Path(__file__).parent)  # the code that computed it
    wall = time.perf_counter() - PROCESS_START if wall_seconds is None else wall_seconds
    host = machine()
    before = LOAD_AT_START if load_before is None else load_before
    after = load_average()
    note = load_note(before, after, host["cpu_cores"])
    return {
        "command": shlex.join(sys.argv),
        "git_commit": commit,
        "clean": commit != "unknown" and not commit.endswith("+dirty"),
        "machine": host,
        "versions": library_versions(),
        "load_average_before": before,
        "load_average_after": after,
        "busy": note is not None,
        "load_note": note,
        "wall_seconds": round(wall, 1),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
