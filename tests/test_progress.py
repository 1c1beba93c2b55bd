"""Progress in a log (issue 28, item 1): plain lines by one rule, a tenth of the step and half a
minute apart whichever comes later, with the rate and the time left, and one closing line."""

from __future__ import annotations

import pytest

from toontag import progress
from toontag.errors import ToontagError
from toontag.progress import Lines, progress_bar


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_line_comes_once_a_tenth_is_done_and_half_a_minute_has_passed():
    clock, said = Clock(), []
    lines = Lines("caching", 1000, unit="images", write=said.append, now=clock)
    for done in range(1, 1001):  # 2 images a second: a tenth every 50 s
        clock.t = done / 2
        lines.update(done)
    lines.close()
    assert len(said) == 10  # nine tenths, then the closing line
    assert said[0] == "caching: 100/1,000 images (10%), 2 images per s, 0:50 elapsed, 7:30 left"
    assert said[-1] == "caching: 1,000/1,000 images (100%) in 8:20, 2 images per s"

    clock.t, said[:] = 0.0, []
    quick = Lines("caching", 1000, write=said.append, now=clock)
    for done in range(1, 1001):  # 100 a second: a tenth every second, a line every 30 s
        clock.t = done / 100
        quick.update(done)
    quick.close()
    assert said == ["caching: 1,000/1,000 (100%) in 0:10, 100 per s"]  # no flood


def test_a_step_of_unknown_length_says_how_much_every_half_minute(monkeypatch):
    clock, said = Clock(), []
    lines = Lines("adapting", write=said.append, now=clock)
    for step in range(1, 121):  # a step every 2 s
        clock.t = 2.0 * step
        lines.update(step)
    assert said[0] == "adapting: 15 done, 2 s each, 0:30 elapsed"
    assert len(said) == 8  # every 30 s of 240
    monkeypatch.setenv(progress.SECONDS_VARIABLE, "soon")
    with pytest.raises(ToontagError, match="TOONTAG_PROGRESS_SECONDS"):
        Lines("adapting")


def test_a_bar_in_a_log_prints_lines_and_on_a_terminal_the_live_bar(monkeypatch, capsys):
    monkeypatch.setenv(progress.SECONDS_VARIABLE, "0")
    with progress_bar() as bar:
        assert bar.plain
        for _ in bar.track(range(20), description="tagging"):
            pass
    said = capsys.readouterr().err.splitlines()
    assert said[0].startswith("tagging: 2/20 (10%), ") and said[0].endswith(" left")
    assert len(said) == 10 and said[-1].startswith("tagging: 20/20 (100%) in 0:00")

    monkeypatch.setattr(progress, "live", lambda: True)
    with progress_bar() as bar:
        assert not bar.plain and not bar.disable and not bar.lines
    with progress_bar(disable=True) as bar:  # a caller's quiet bar stays quiet in a log too
        bar.add_task("quiet", total=3)
    assert "quiet" not in capsys.readouterr().err
