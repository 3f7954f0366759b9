"""A pages-in-flight budget that is fair across documents.

A plain semaphore admits pages first come, first served, so a short document that arrives behind a
1,000-page one waits for all of its pages. This budget hands each free slot to the waiting document
with the fewest pages in flight (ties: the one waiting longest), so short documents go through at
once while long ones keep the engine full.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
from typing import AsyncIterator, Hashable


class FairBudget:
    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.free = slots
        self.in_flight: collections.Counter = collections.Counter()
        self._waiting: dict[Hashable, collections.deque] = {}
        self._order = itertools.count()

    def _pick(self) -> Hashable | None:
        best = None
        for key, queue in self._waiting.items():
            rank = (self.in_flight[key], queue[0][0])
            if best is None or rank < best[0]:
                best = (rank, key)
        return None if best is None else best[1]

    def _grant(self) -> None:
        while self.free > 0:
            key = self._pick()
            if key is None:
                return
            queue = self._waiting[key]
            _, future = queue.popleft()
            if not queue:
                del self._waiting[key]
            if future.done():  # cancelled while waiting
                continue
            self.free -= 1
            self.in_flight[key] += 1
            future.set_result(None)

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, collections.deque()).append((next(self._order), future))
        self._grant()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled: give it back
                self._release(key)
            raise
        try:
            yield
        finally:
            self._release(key)

    def _release(self, key: Hashable) -> None:
        self.free += 1
        self.in_flight[key] -= 1
        if not self.in_flight[key]:
            del self.in_flight[key]
        self._grant()
