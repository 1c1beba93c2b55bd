"""Looks at test data: every evaluation of a run on its test split is recorded in the run
directory (``test-looks.json``), and a second look at the same frames is refused unless asked
for (``--retest``), then recorded as such. A model changed after its test figure was seen (a
threshold edited, training resumed) is then a second look, and says so, instead of a fresh
first figure."""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from toontag.errors import RunError
from toontag.io import write_json
from toontag.runs import model_id

TEST_LOOKS = "test-looks.json"  # in the run directory: one entry per look, oldest first
TEST_SPLIT = "test"  # the one split whose looks count; validation is looked at freely


class RetestError(RunError):
    """A second look at test data a run was already evaluated on, not asked for."""


def fingerprint(paths) -> str:
    """Which frames were looked at: a hash of their sorted absolute paths (the same frames are
    the same test data whatever their labels say today)."""
    listing = "\n".join(sorted(str(Path(p).resolve()) for p in paths))
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def read_looks(run: Path) -> list[dict]:
    path = Path(run) / TEST_LOOKS
    return json.loads(path.read_text()) if path.is_file() else []


@dataclass(frozen=True)
class Look:
    """A look about to be taken: `number` (1 for the first at this test data) and the record
    `keep` appends once its figures exist; a look at another split has neither."""

    run: Path
    record: dict | None = None

    @property
    def fields(self) -> dict:
        """What the metrics JSON says of the look: ``{"test_look": n}``, or nothing."""
        return {} if self.record is None else {"test_look": self.record["look"]}

    def keep(self, metrics: dict) -> None:
        """The look and the figures it showed, appended to the run's record of looks."""
        if self.record is None:
            return
        figures = {"f1_micro": metrics["f1_micro"], "ci95_f1_micro": metrics["ci95"]["f1_micro"]}
        write_json(self.run / TEST_LOOKS, [*read_looks(self.run), self.record | figures])


def begin_look(
    run: Path, *, data, split: str, paths, retest: bool, commit: str | None = None
) -> Look:
    """The look `split` of `data` (the frames at `paths`) would be. On the test split a second
    look at the same frames raises `RetestError` naming the first, unless `retest`. `commit`:
    the toontag commit evaluating, when the caller knows it."""
    run = Path(run)
    if split != TEST_SPLIT:
        return Look(run)
    frames = fingerprint(paths)
    earlier = [look for look in read_looks(run) if look["fingerprint"] == frames]
    if earlier and not retest:
        raise RetestError(
            f"{run} was evaluated on this test data at {earlier[-1]['when']}; "
            "pass --retest to look again (recorded)"
        )
    return Look(
        run,
        {
            "look": len(earlier) + 1,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "data": str(data),
            "split": split,
            "frames": len(paths),
            "fingerprint": frames,
            "model_id": model_id(run),
            "command": shlex.join(sys.argv),
            "commit": commit,
        },
    )
