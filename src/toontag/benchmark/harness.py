"""What benchmark scripts do the way a user would: run a `toontag` command in a process of its
own, timed, and write the manifest that `toontag train` reads."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

from toontag.io import csv_text, write_text


def toontag_command(args) -> tuple[subprocess.CompletedProcess, float]:
    """`toontag ARGS` in a new process of this interpreter, its output captured: the finished
    process and its wall seconds (start-up included). A command that fails ends the benchmark
    with its command line and the end of its stderr."""
    args = [str(a) for a in args]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "toontag", *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"toontag {shlex.join(args)} failed:\n{done.stderr[-3000:]}")
    return done, seconds


def write_manifest(path: Path, samples, *, split: str | None = None) -> Path:
    """A CSV manifest of `samples` (absolute paths), each in its own split or all in `split`
    (``train``: `toontag train` then carves its validation from them, no test held out), and
    each one's loss weight where any is below 1."""
    rows = [(Path(s.path).resolve(), ";".join(s.labels), split or s.split) for s in samples]
    columns = ["path", "labels", "split"]
    if any(s.weight != 1 for s in samples):  # weak labels (data/weights.py) keep their weight
        columns.append("weight")
        rows = [(*row, s.weight) for row, s in zip(rows, samples, strict=True)]
    write_text(path, csv_text(columns, rows))
    return path
