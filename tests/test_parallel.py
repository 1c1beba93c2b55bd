"""prefetch: order kept, errors raised in the consumer, an early stop ends the producer."""

from __future__ import annotations

import threading

import pytest

from toontag.parallel import prefetch


def test_prefetch_keeps_order_and_raises_the_producers_error():
    assert list(prefetch(iter(range(100)), depth=4)) == list(range(100))

    def failing():
        yield 1
        raise ValueError("bad frame")

    with pytest.raises(ValueError, match="bad frame"):
        list(prefetch(failing()))


def test_stopping_early_ends_the_producer_thread():
    produced = []

    def endless():
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    before = threading.active_count()
    for item in prefetch(endless(), depth=2):
        if item == 5:
            break
    assert threading.active_count() == before and len(produced) < 20
