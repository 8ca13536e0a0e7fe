"""A clock and a sleep for the connector's limiters and retries that skip every wait instantly.

Lets tests exercise real waits (a 200 s `Retry-After`, the reporting budget) against the real
simulator without spending the time; each wait is recorded.
"""

from __future__ import annotations

import asyncio


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
