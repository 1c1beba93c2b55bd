"""Run a function over chunks of work on all cores, with one progress bar."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
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


def prefetch(items: Iterator, depth: int = 32) -> Iterator:
    """Iterate `items` in a background thread, up to `depth` ahead: decoding (which PyAV does
    without the GIL) overlaps the consumer's work. An exception in `items` is raised here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
        except BaseException as error:  # handed to the consumer, who raises it
            buffer.put((done, error))
            return
        buffer.put((done, None))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full buffer
            with contextlib.suppress(queue.Empty):
                buffer.get(timeout=0.05)
        worker.join()
