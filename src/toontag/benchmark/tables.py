"""What a rendered table may claim: a cell that averages runs holds runs of one device and one
commit (else it is split, one cell each), and a result whose choices were designed after one
of its test figures was seen says so in every rendering."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

DESIGNED_AFTER_TEST = "designed_after_test"  # the result JSON's field: what, and how it was seen


def ran_on(record: dict) -> str:
    """Where a run ran, shortly: the GPU's name, or "CPU" (records written before the device
    was recorded all ran on this project's 2-core CPU machine)."""
    device = record.get("device", "CPU")
    return "CPU" if device.startswith("CPU") else device.replace("NVIDIA ", "")


def cells(records, key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    """`records` grouped by `key` and then by device and commit: ``key(r) + (ran_on(r),
    commit)`` -> its records, in the order first seen. A figure averaged over one cell is
    never a mix of machines, precisions or code."""
    grouped: dict[tuple, list[dict]] = {}
    for r in records:
        grouped.setdefault((*key(r), ran_on(r), r.get("commit", "unknown")), []).append(r)
    return grouped


def designed_after_test(published: Path) -> dict:
    """The admission a published result carries (``{DESIGNED_AFTER_TEST: text}``), to be
    carried into its next rendering; empty when it has none or does not exist. Seeing a test
    figure cannot be undone, so a re-rendering or rerun keeps it."""
    path = Path(published)
    if not path.is_file():
        return {}
    text = json.loads(path.read_text()).get(DESIGNED_AFTER_TEST)
    return {DESIGNED_AFTER_TEST: text} if text else {}


def admission_lines(payload: dict) -> list[str]:
    """The Markdown lines saying that choices were designed after a test figure was seen."""
    text = payload.get(DESIGNED_AFTER_TEST)
    return ["", f"**Designed after a test figure was seen.** {text}"] if text else []
