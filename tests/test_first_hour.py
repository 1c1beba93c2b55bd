"""README's first screen as a newcomer runs it, with the output going to a log rather than a
terminal: the data step comes first, and the demo (on a small slice of the data) prints its
progress as it goes, succeeds and ends at a search page that answers."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, write_manifest

FIRST_SCREEN = "## Two commands on a fresh machine"


def first_screen() -> str:
    return (REPO / "README.md").read_text().split(FIRST_SCREEN)[1].split("\n## ")[0]


def toontag_command() -> list[str]:
    found = shutil.which("toontag", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "toontag"]


def test_the_first_screen_gets_the_data_before_it_runs_anything():
    text = first_screen()
    clone = text.index("git clone https://github.com/candantumer/kral_sakir")
    assert clone < text.index("toontag benchmark") < text.index("toontag demo")
    assert "quiet machine" in text  # the demo's time is said to be a quiet machine's


@pytest.fixture(scope="module")
def sequences(dataset, tmp_path_factory) -> Path:
    """Runs of consecutive train frames: the first 60 of each combination of characters."""
    by_combination: dict[tuple, list] = {}
    for sample in sorted(dataset.samples, key=lambda s: s.frame_id):
        if sample.split == "train":
            by_combination.setdefault(sample.labels, []).append(sample)
    kept = [s for samples in by_combination.values() for s in samples[:60]]
    return write_manifest(tmp_path_factory.mktemp("first-hour") / "slice.csv", kept)


def test_the_demo_prints_progress_to_a_log_and_ends_at_a_search_page(sequences, tmp_path):
    env = os.environ | {"TOONTAG_PROGRESS_SECONDS": "0", "NO_COLOR": "1", "COLUMNS": "400"}
    demo = [*toontag_command(), "demo", "--data", str(sequences), "--work", str(tmp_path)]
    done = subprocess.run(
        [*demo, "--seconds", "10"], capture_output=True, text=True, env=env, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"\d+:\d\d left", done.stderr), done.stderr[-2000:]  # not silent
    db = re.search(r"toontag serve --db (\S+)", done.stdout + done.stderr)
    assert db, done.stdout
    serve = [*toontag_command(), "serve", "--db", db.group(1).strip("'\""), "--port", "0"]
    server = subprocess.Popen(
        serve, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        url = None
        for line in server.stdout:
            if found := re.search(r"http://127\.0\.0\.1:(\d+)/", line):
                url = found.group(0)
                break
        assert url and not url.endswith(":0/"), "serve printed no address"
        with urllib.request.urlopen(url, timeout=30) as page:  # the address printed answers
            assert page.status == 200 and "search" in page.read().decode().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)
