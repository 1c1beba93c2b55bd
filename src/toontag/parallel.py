"""Run a function over chunks of work on all cores, with one progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from toontag.progress import progress_bar


def map_chunks(
    fn: Callable,
    tasks: Sequence,
    sizes: Sequence[int],
    *,
    description: str,
    workers: int | None = None,
) -> Iterator:
    """Yield `fn(task)` for each task, in order; the bar advances by each task's size."""
    workers = min(workers or os.cpu_count() or 1, max(len(tasks), 1))
    with progress_bar() as bar, ProcessPoolExecutor(max_workers=workers) as pool:
        job = bar.add_task(description, total=sum(sizes))
        for result, size in zip(pool.map(fn, tasks), sizes, strict=True):
            bar.advance(job, size)
            yield result
