"""Training with its output in a log (issue 28, item 1): Lightning's live bar gives way to plain
lines with the epoch, the rate and the time left, as every other long step of the command."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import write_manifest

LINE = re.compile(
    r"training: \d+/\d+ batches \(\d+%\), [\d.,]+ (batches per s|s each), \d+:\d\d elapsed, "
    r"\d+:\d\d left \(epoch [12]/2(, val loss [\d.]+)?\)"
)


def test_train_in_a_log_prints_plain_progress_lines_with_rate_and_time_left(dataset, tmp_path):
    """`toontag train` on a few dozen frames, its output in pipes and a line due every tenth:
    before, Lightning's rich bar printed nothing a log could use between start and end."""
    samples = [s for s in dataset.samples if s.split == "train"][::150]
    manifest = write_manifest(tmp_path / "few.csv", samples)
    args = "--model baseline --image-size 32x48 --epochs 2 --batch-size 4 --tune-thresholds"
    where = ["--data", manifest, "--out", tmp_path / "run"]
    done = subprocess.run(
        [sys.executable, "-m", "toontag", "train", *map(str, where), *args.split()],
        capture_output=True,  # pipes, not a terminal: a log
        text=True,
        timeout=600,
        env={**os.environ, "TOONTAG_PROGRESS_SECONDS": "0"},
    )
    said = done.stderr.splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    *going, closing = [line for line in said if line.startswith("training: ")]
    assert all(LINE.fullmatch(line) for line in going) and 5 <= len(going) <= 9, going
    assert re.fullmatch(
        r"training: (\d+)/\1 batches \(100%\) in \d+:\d\d, .* \(2 epochs.*", closing
    )
    for step in ("decoding images", "tuning thresholds"):
        assert any(re.match(rf"{step}: \d+/\d+ \(100%\) in \d+:\d\d, ", line) for line in said)
    assert "━" not in done.stderr  # no bar drawn into the log
