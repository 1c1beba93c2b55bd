"""The test suite cleans up after itself: a run leaves no feature cache in the temporary folder
(each run's cache is about a GB; hundreds left behind filled the disk CI installs on)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_test_run_leaves_no_feature_cache_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TOONTAG_CACHE"} | {"TMPDIR": str(tmp_path)}
    one = (
        "tests/test_progress.py::"
        + "test_a_line_comes_once_a_tenth_is_done_and_half_a_minute_has_passed"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", one],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert not list(tmp_path.glob("toontag-test-cache-*"))
