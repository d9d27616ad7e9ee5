"""The hand-over from paho's network thread to the worker, bounded in messages.

Why not queue.Queue: it hands over one item per call, and every call that finds the
worker waiting wakes it, which then waits for the GIL the network thread holds. A read
from the socket brings a hundred messages at once (transport.py); handing them over in
one call wakes the worker once per read. The bound is still counted in messages, so
memory stays what the collector's docstring says: at most `capacity` messages; what does
not fit waits in the producer's hands. A producer that found the inbox full goes on once
it is half empty, not at every message taken: otherwise the two threads would wake each
other for every message, and each wake-up waits for the GIL.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


class Inbox:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque = deque()
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    def __len__(self) -> int:
        return len(self._items)

    def put(self, items: list[Any], timeout: float = 0.0) -> list[Any]:
        """Adds `items` in order as room comes, for up to `timeout` seconds; returns those
        that did not fit in time (empty when all are in)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                room = self.capacity - len(self._items)
                if room > 0:
                    self._items.extend(items[:room])
                    items = items[room:]
                    self._not_empty.notify()
                left = deadline - time.monotonic()
                if not items or left <= 0:
                    return items
                self._not_full.wait(left)  # until half empty (see get)

    def get(self, timeout: float = 0.0) -> Any:
        """The oldest item, waiting up to `timeout` for one; raises IndexError if none."""
        with self._lock:
            if not self._items and timeout > 0:
                self._not_empty.wait(timeout)
            item = self._items.popleft()
            if len(self._items) == self.capacity // 2:
                self._not_full.notify()
            return item
