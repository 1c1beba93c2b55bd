"""Progress of every long step, shown one way: a live rich bar when stderr is a terminal, plain
lines with the rate and the time left when it is not (a log file, CI, `nohup`).

The plain lines follow one rule (`Lines`): a line once `EVERY_SHARE` more of the step is done
*and* `every_seconds()` have passed since the last one, whichever comes later (about ten lines
for a long step, none in between for a quick one), and a closing line with the time it took.
`$TOONTAG_PROGRESS_SECONDS` sets those seconds (default 30; 0: every tenth of the step).
`progress_bar()` (rich's Progress) and the training's Lightning callback both keep to it.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from toontag.errors import ToontagError

console = Console(stderr=True)
EVERY_SHARE = 0.1  # a plain line per tenth of a step at most ...
EVERY_SECONDS = 30.0  # ... and per half minute at most: a log never floods
SECONDS_VARIABLE = "TOONTAG_PROGRESS_SECONDS"


def live() -> bool:
    """Whether progress is drawn as a live bar (stderr is a terminal), else as plain lines."""
    return console.is_terminal


def every_seconds() -> float:
    """The least time between two plain lines of one step: `$TOONTAG_PROGRESS_SECONDS`, else
    `EVERY_SECONDS`."""
    text = os.environ.get(SECONDS_VARIABLE, "").strip()
    if not text:
        return EVERY_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= 86_400:  # NaN fails too
        raise ToontagError(f"${SECONDS_VARIABLE} is seconds from 0 to 86400, not {text!r}")
    return seconds


def say(text: str) -> None:
    """One plain line on stderr, as it is (a log keeps it whole)."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def number(value: float) -> str:
    """Three significant digits, whole numbers from 100 on: 0.42, 12.3, 1,234."""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def clock(seconds: float) -> str:
    """1:05:03 or 2:01, as a log shows a duration."""
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


class Lines:
    """One step's plain progress lines for a log, by the module's rule: `update(done)` as the
    work goes (a line when one is due), `close()` at the end (one closing line, once)."""

    def __init__(
        self,
        description: str,
        total: float | None = None,
        *,
        unit: str = "",
        write: Callable[[str], None] | None = None,
        now: Callable[[], float] = time.monotonic,
    ):
        self.description, self.total, self.unit = description, total, unit
        self.write = write or say
        self.now = now
        self.every = every_seconds()
        self.started = self.said_at = now()
        self.done = self.said_done = 0.0
        self.closed = False

    def update(self, done: float, total: float | None = None, *, note: str = "") -> None:
        """`done` of the step so far (`total` when it is known now); `note` ends the line."""
        self.total = total if total is not None else self.total
        self.done = done
        now = self.now()
        if self.closed or (self.total and done >= self.total):  # the closing line says it
            return
        share = (done - self.said_done) / self.total if self.total else 1.0
        if done > self.said_done and now - self.said_at >= self.every and share >= EVERY_SHARE:
            self.said_at, self.said_done = now, done
            self.write(self.line(now, note))

    def close(self, *, note: str = "") -> None:
        """The closing line: how much was done, in how long."""
        if self.closed:
            return
        self.closed = True
        took = self.now() - self.started
        rate = f", {self.rate(took)}" if self.done and took > 0 else ""
        self.write(f"{self.description}: {self.amount()} in {clock(took)}{rate}{self.tail(note)}")

    def line(self, now: float, note: str = "") -> str:
        took = now - self.started
        text = f"{self.description}: {self.amount()}"
        if self.done and took > 0:
            text += f", {self.rate(took)}, {clock(took)} elapsed"
            if self.total:
                left = max(self.total - self.done, 0) * took / self.done
                text += f", {clock(left)} left"
        return text + self.tail(note)

    def amount(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if not self.total:
            return f"{self.done:,.0f}{unit} done"
        share = 100 * self.done / self.total
        return f"{self.done:,.0f}/{self.total:,.0f}{unit} ({share:.0f}%)"

    def rate(self, took: float) -> str:
        per_second = self.done / took
        if per_second < 1:
            return f"{number(took / self.done)} s each"
        return f"{number(per_second)} {self.unit + ' ' if self.unit else ''}per s"

    @staticmethod
    def tail(note: str) -> str:
        return f" ({note})" if note else ""


class Bar(Progress):
    """rich's Progress as the module says: the live bar on a terminal; elsewhere no bar, each
    task's plain `Lines` instead (a task's closing line when it completes, or at `stop`)."""

    def __init__(self, *columns, disable: bool = False, **kwargs):
        self.plain = not disable and not live()
        if self.plain:  # `track` then advances the task item by item
            kwargs["auto_refresh"] = False
        super().__init__(*columns, disable=disable or self.plain, **kwargs)
        self.lines: dict[TaskID, Lines] = {}

    def add_task(self, description: str, *args, **kwargs) -> TaskID:
        task = super().add_task(description, *args, **kwargs)
        if self.plain:
            self.lines[task] = Lines(description, self._tasks[task].total)
            self._report(task)
        return task

    def update(self, task_id: TaskID, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self._report(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._report(task_id)

    def stop(self) -> None:
        super().stop()
        for lines in self.lines.values():
            lines.close()

    def _report(self, task_id: TaskID) -> None:
        lines = self.lines.get(task_id)
        if lines is None:
            return
        task = self._tasks[task_id]
        lines.update(task.completed, task.total)
        if task.total is not None and task.completed >= task.total:
            lines.close()


def progress_bar(**kwargs) -> Bar:
    """A progress bar on stderr (plain lines when it is not a terminal); callers add tasks and
    advance them."""
    return Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        **kwargs,
    )


@contextlib.contextmanager
def reporting(description: str) -> Iterator[Callable[[float, float | None], None]]:
    """A `progress(done, total)` callback for a library function that takes one: one task of a
    bar, shown from its first call (work that needs none shows nothing)."""
    bar, task = progress_bar(), []

    def progress(done: float, total: float | None) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield progress
    finally:
        if task:
            bar.stop()
