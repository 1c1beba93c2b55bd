"""Which frames the label server offered as audit frames: PROJECT/audit.csv, the server's own
record, never the page's word.

    audit.csv   path,offered
                path: the frame, relative to the project (pool.csv's path)
                offered: when it was first offered (UTC, ISO 8601)

An audit frame is drawn at random, shown in a batch whose frames carry no suggestion, and never
fitted on: its answers give the quality estimate a labeller cannot lean towards the model. Once
offered it stays an audit frame whatever happens to its answers (an undo, a re-answer, another
tab), so the record only grows, and it is on disk (written whole through an atomic rename)
before the frame is shown. labels.csv's `audit` column is written from it for the readers of
labels.csv (`train`, `evaluate`, `enrol`), which never open this file.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from toontag.errors import FileError, ProjectError
from toontag.io import csv_text, read_csv, write_text

AUDIT_RECORD = "audit.csv"
COLUMNS = ("path", "offered")


class AuditRecord:
    """The frames (pool paths) offered as audit frames, read from and kept in PROJECT/audit.csv.
    Not thread-safe: its one writer (the label store) holds its own lock."""

    def __init__(self, root: Path):
        self.path = Path(root) / AUDIT_RECORD
        self.offered: dict[str, str] = self._read()  # path -> when first offered

    def __contains__(self, path: str) -> bool:
        return path in self.offered

    def __len__(self) -> int:
        return len(self.offered)

    def add(self, paths) -> list[str]:
        """Record `paths` (those not recorded yet) and write the file before returning them."""
        new = [p for p in dict.fromkeys(paths) if p not in self.offered]
        if not new:
            return []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        offered = {**self.offered, **dict.fromkeys(new, now)}
        try:
            write_text(self.path, csv_text(COLUMNS, offered.items()), durable=True)
        except FileError as e:
            raise ProjectError(self.path, e.reason) from None
        self.offered = offered
        return new

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            rows = read_csv(self.path, columns=("path",))
        except FileError as e:
            raise ProjectError(self.path, e.reason) from None
        offered = {}
        for row in rows:
            path = (row.get("path") or "").strip()
            if path:
                offered[path] = (row.get("offered") or "").strip()
        return offered
