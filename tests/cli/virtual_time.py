"""A clock and a sleep for the connector's limiters and retries that skip every wait instantly.

Lets tests exercise real waits (a 200 s `Retry-After`, the reporting budget) against the real
simulator without spending the time; each wait is recorded. `VirtualTime` adds every sleep to
one clock (for code that waits one thing at a time); `EventTime` wakes concurrent sleepers in
deadline order, as real time would (for whole runs, whose requests wait together).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class VirtualTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    __call__ = clock

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


# Loop turns that let every ready task run until it blocks, before the clock moves.
_SETTLE_TURNS = 50
# Real seconds to wait while a request is in flight (the simulator answers in real time).
_IO_TICK = 0.0005


class EventTime(VirtualTime):
    """Virtual time that moves like real time, only faster: each sleeper wakes at its own
    deadline, in deadline order, so concurrent sleeps overlap instead of adding up.

    `VirtualTime` advances one shared clock by every sleep, so twenty requests backing off 1 s
    together move it 20 s, and a retry deadline measured on it expires by how the sleeps were
    scheduled. Here the clock jumps to the earliest deadline only once nothing else can run:
    every ready task has blocked and no request is in flight (`busy`, e.g. the client's
    concurrency slots in use), since a request in flight takes no virtual time. `drive()` must
    run beside the code under test (`run(...)` does both).
    """

    def __init__(self) -> None:
        super().__init__()
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0
        self.busy: Callable[[], bool] = lambda: False

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), self._seq, future))
        self._seq += 1
        await future

    async def drive(self) -> None:
        """Wake sleepers in deadline order, forever (cancel it when the code under test ends)."""
        while True:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            while self._timers and self._timers[0][2].done():  # its sleeper was cancelled
                heapq.heappop(self._timers)
            if not self._timers or self.busy():
                await asyncio.sleep(_IO_TICK)
                continue
            at, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, at)
            future.set_result(None)

    async def run(self, main: Awaitable[T]) -> T:
        """Await `main` with the clock driven beside it."""
        driver = asyncio.ensure_future(self.drive())
        try:
            return await main
        finally:
            driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await driver
