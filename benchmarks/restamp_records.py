"""Restamp the records of one benchmark process with the commit it started at.

    python benchmarks/restamp_records.py RECORDS.jsonl --started "Sun Dec  6 08:48:57 2026" \\
        --ended 2026-12-06T10:15:00+00:00

Before 5383546 `keep_record` stamped each record with HEAD when the record *finished*, so the
records of a process that ran while commits were made carry later commits than the code that
computed them. Given when the process started (ps's lstart, UTC) and ended, this finds the
commit HEAD pointed to at the start (the reflog) and restamps the records that finished in
between, each marked `restamped` with how; the render says so."""

from __future__ import annotations

import argparse
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def head_at(moment: datetime) -> str:
    """The commit HEAD pointed to at `moment`, from the reflog (newest entry first)."""
    log = subprocess.run(
        ["git", "reflog", "--date=unix", "--format=%H %gd"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for sha, ref in zip(log[::2], log[1::2], strict=True):
        if datetime.fromtimestamp(int(ref.split("@{")[1].rstrip("}")), UTC) <= moment:
            return sha
    raise SystemExit(f"the reflog holds no entry before {moment.isoformat()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=Path)
    parser.add_argument("--started", required=True, help="ps's lstart of the process (UTC)")
    parser.add_argument("--ended", required=True, help="ISO time the process ended")
    args = parser.parse_args()
    start = datetime.strptime(args.started, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    end = datetime.fromisoformat(args.ended)
    commit = head_at(start)
    note = (
        "stamped with the HEAD at the time each finished (a bug, fixed at 5383546); restamped "
        f"with {commit[:7]}, HEAD when its process started ({start.isoformat()}), by "
        "benchmarks/restamp_records.py"
    )
    records = [json.loads(line) for line in args.records.read_text().splitlines()]
    changed = 0
    for r in records:
        finished = datetime.strptime(r["finished"], "%Y-%m-%dT%H:%M:%S%z")
        if start <= finished <= end and r["commit"] != commit:
            r |= {"commit": commit, "restamped": note}
            changed += 1
    args.records.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"{changed} record(s) restamped with {commit}")


if __name__ == "__main__":
    main()
