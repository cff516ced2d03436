"""The bounded queue between the inputs and the ingest thread, counted in items and taken in chunks.

The MQTT input hands over every message of one socket read at once (hundreds under load): one lock and
one wake-up per read instead of per message, which with ``queue.Queue`` cost the network thread about
3 us a message (profiled, docs/benchmarks.md). The bound is in items, not in chunks: a put waits while
``max_items`` or more are queued, so memory stays bounded by ``max_items`` plus one chunk per input, and a
full queue stops the inputs (backpressure) instead of growing.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Generic, Sequence, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    def __init__(self, max_items: int) -> None:
        self.max_items = max_items
        self._chunks: deque[Sequence[T]] = deque()
        self._items = 0
        self._cv = threading.Condition()

    def put(self, item: T, timeout: float | None = None) -> None:
        self.put_many([item], timeout)

    def put_many(self, items: Sequence[T], timeout: float | None = None) -> None:
        """Queue ``items`` (the list is kept: do not reuse it); raises ``queue.Full`` after ``timeout``."""
        if not items:
            return
        with self._cv:
            if self._items >= self.max_items and not self._cv.wait_for(
                    lambda: self._items < self.max_items, timeout):
                raise queue.Full
            self._chunks.append(items)
            self._items += len(items)
            self._cv.notify_all()

    def get_batch(self, max_items: int, timeout: float | None = None) -> list[T]:
        """Up to ``max_items`` in the order they were put; [] if nothing came within ``timeout``."""
        with self._cv:
            if not self._items and not self._cv.wait_for(lambda: self._items > 0, timeout):
                return []
            out: list[T] = []
            while self._chunks and len(out) < max_items:
                chunk = self._chunks[0]
                room = max_items - len(out)
                if len(chunk) <= room:
                    out.extend(self._chunks.popleft())
                else:
                    out.extend(chunk[:room])
                    self._chunks[0] = chunk[room:]
            self._items -= len(out)
            self._cv.notify_all()
            return out

    def qsize(self) -> int:
        return self._items
