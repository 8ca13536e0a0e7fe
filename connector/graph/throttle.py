"""How fast and how persistently the connector talks to Graph.

Graph throttles per app and tenant, in resource units (RU) per 10 s window, with separate
documented limits for reports (5 per 10 s), `signInActivity` (10 per minute) and Identity
Protection (1 per second per tenant); `budget.py` plans against all of them. The SDK's retry handler gives up on a
`Retry-After` of 180 s or more and never sees a 429 inside a `$batch`, so it is switched off and
this module decides instead:

- `RetryPolicy`: which failures are worth another attempt and how long to wait before it
  (`Retry-After` of any size, own jittered exponential backoff when none is given), all within
  one overall deadline per request.
- `AdaptiveLimiter`: how many requests may be in flight (AIMD: halve on 429 or when Graph says
  the app is near its limit, grow by one slot per window of successes) and a shared pause after
  a `Retry-After`, so one throttled request slows everyone instead of each finding out alone.
- `budget.Planner` (re-exported pieces: `resource_units`, `is_reporting`): one bucket per
  documented limit (directory RU, reports, signInActivity, Identity Protection, Intune), every
  request admitted before it is sent, so budgets are respected before Graph has to enforce them.
- `WindowLimiter`: at most N units in any sliding window (a plain limiter, kept for callers
  that budget something other than Graph).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from connector.backoff import next_wait
from connector.backoff import parse_retry_after as parse_retry_after  # re-exported
from connector.graph.budget import Planner
from connector.graph.budget import is_reporting as is_reporting  # re-exported
from connector.graph.budget import resource_units as resource_units  # re-exported

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# Graph's published throttling model (see shared/GRAPH_NOTES.md).
REPORTING_REQUESTS = 5
REPORTING_WINDOW_SECONDS = 10.0
RESOURCE_UNITS_PER_WINDOW = 8000
RESOURCE_WINDOW_SECONDS = 10.0
# Fraction of a budget the connector allows itself: clocks differ and others share the app.
BUDGET_SAFETY = 0.9
# Graph sends x-ms-throttle-limit-percentage (0.8 .. 1.8) once an app has used 80% of its limit.
NEAR_LIMIT = 0.8


class Retryable(Exception):
    """A failed attempt that another attempt may fix (429, 5xx, a dropped connection).

    `retry_after` is the server's `Retry-After` in seconds, when it gave one. `final` is what the
    caller raises if the retry budget runs out, so the message names the real cause.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None,
                 final: Exception | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.final = final


def parse_limit_percentage(value: str | None) -> float | None:
    """`x-ms-throttle-limit-percentage` as a fraction (accepts 0.85 and 85 alike)."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number / 100.0 if number > 2.0 else number


def is_transient_transport_error(exc: BaseException) -> bool:
    """Connection refused/reset/dropped and timeouts: the request may not even have arrived."""
    return isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries within `deadline_seconds` of the first attempt, never more attempts than needed.

    Backoff without `Retry-After` is "full jitter" exponential: random in [0, min(cap, base*2^n)],
    floored at `backoff_floor` so a storm of identical clients does not retry in lockstep at 0.
    """

    deadline_seconds: float = 900.0
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    backoff_floor: float = 0.1

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempt - 1)))
        return max(self.backoff_floor, random.uniform(0.0, ceiling))

    def wait_for(self, exc: BaseException | None, attempt: int) -> float:
        retry_after = exc.retry_after if isinstance(exc, Retryable) else None
        return next_wait(retry_after, self.backoff(attempt))

    def retrying(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
                 before_sleep: Callable[[float, BaseException], None] | None = None
                 ) -> AsyncRetrying:
        """A tenacity controller: `async for attempt in policy.retrying(): with attempt: ...`.

        It stops before a wait that would end past the deadline, measured on `clock` (the
        limiters' clock, so tests on virtual time see the deadline too).
        """
        started = clock()

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_for(exc, state.attempt_number)

        def stop(state: RetryCallState) -> bool:
            return clock() - started + (state.upcoming_sleep or 0.0) >= self.deadline_seconds

        async def report(state: RetryCallState) -> None:
            if before_sleep is not None and state.outcome is not None and state.next_action:
                exc = state.outcome.exception()
                if exc is not None:
                    before_sleep(state.next_action.sleep, exc)

        return AsyncRetrying(
            sleep=sleep,
            wait=wait,
            stop=stop,
            retry=retry_if_exception(
                lambda exc: isinstance(exc, Retryable) or is_transient_transport_error(exc)
            ),
            before_sleep=report,
            reraise=True,
        )

    def give_up_reason(self, elapsed: float, retry_after: float | None, cause: str) -> str:
        """Why retrying stopped, naming the deadline (and Graph's wait when that was the cause)."""
        deadline = f"the {self.deadline_seconds:.0f} s retry deadline (retry_deadline_seconds)"
        if retry_after is not None and retry_after >= self.deadline_seconds:
            return (f"gave up: Graph asked to wait {retry_after:.0f} s (Retry-After), longer than "
                    f"{deadline}: {cause}")
        after = f"; Graph then asked to wait {retry_after:.0f} s more" if retry_after else ""
        return f"gave up after {elapsed:.0f} s of retries, within {deadline}{after}: {cause}"


class AdaptiveLimiter:
    """AIMD concurrency limit with a shared pause.

    The limit starts at `max_limit` (the configured `max_concurrency`), halves on a throttling
    signal (at most once per `cooldown` seconds, so one burst of 429s from requests sent together
    counts once), and grows back by one slot after `limit` consecutive untroubled responses.
    """

    def __init__(self, max_limit: int, *, cooldown: float = 1.0, clock: Clock = time.monotonic,
                 sleep: Sleep = asyncio.sleep) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self.max_limit = max_limit
        self.limit = float(max_limit)
        self.in_flight = 0
        self.decreases = 0
        self._cooldown = cooldown
        self._clock = clock
        self._sleep = sleep
        self._last_decrease = -float("inf")
        self._paused_until = 0.0
        self._successes = 0
        self._cond: asyncio.Condition | None = None

    @property
    def _condition(self) -> asyncio.Condition:
        # Created lazily: the condition binds to the loop that first awaits it.
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self) -> None:
        while True:
            pause = self.paused_for
            if pause > 0:
                await self._sleep(pause)
                continue
            async with self._condition:
                if self.in_flight < max(1, int(self.limit)):
                    self.in_flight += 1
                    return
                await self._condition.wait()

    async def release(self) -> None:
        async with self._condition:
            self.in_flight -= 1
            self._condition.notify_all()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            await self.release()

    def on_throttled(self, retry_after: float | None = None) -> None:
        """A 429: everyone waits `retry_after` (when given) and the limit halves."""
        now = self._clock()
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
        self._decrease(now)

    def on_response(self, limit_percentage: float | None = None) -> None:
        """A response that was not throttled; `limit_percentage` from Graph's header, if any."""
        if limit_percentage is not None and limit_percentage >= NEAR_LIMIT:
            self._decrease(self._clock())
            return
        self._successes += 1
        if self._successes >= max(1, int(self.limit)) and self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0)
            self._successes = 0

    def _decrease(self, now: float) -> None:
        self._successes = 0
        if now - self._last_decrease < self._cooldown:
            return
        self._last_decrease = now
        self.limit = max(1.0, self.limit / 2.0)
        self.decreases += 1


class WindowLimiter:
    """At most `capacity` units in any `window` seconds (a sliding log of acquisitions).

    With unit weights it is a request limiter (reporting endpoints: 5 per 10 s); with weights it
    is a resource-unit budget. A request heavier than the whole capacity is let through alone
    rather than blocking forever.
    """

    def __init__(self, capacity: float, window: float, *, margin: float = 0.25,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.capacity = capacity
        self.window = window
        self._margin = margin
        self._clock = clock
        self._sleep = sleep
        self._log: deque[tuple[float, float]] = deque()
        self._used = 0.0
        self._paused_until = 0.0
        self._lock: asyncio.Lock | None = None

    @property
    def _mutex(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def _expire(self, now: float) -> None:
        horizon = now - self.window - self._margin
        while self._log and self._log[0][0] <= horizon:
            self._used -= self._log.popleft()[1]

    async def acquire(self, units: float = 1.0) -> float:
        """Wait until `units` fit; returns the seconds waited."""
        waited = 0.0
        async with self._mutex:  # first come, first served
            while True:
                now = self._clock()
                if now < self._paused_until:
                    delay = self._paused_until - now
                else:
                    self._expire(now)
                    if not self._log or self._used + units <= self.capacity:
                        self._log.append((now, units))
                        self._used += units
                        return waited
                    delay = self._log[0][0] + self.window + self._margin - now
                delay = max(delay, 0.01)
                waited += delay
                await self._sleep(delay)

    def on_throttled(self, retry_after: float | None) -> None:
        """Graph said this budget is spent: nobody in this class goes before `retry_after`."""
        if retry_after:
            self._paused_until = max(self._paused_until, self._clock() + retry_after)


@dataclass(slots=True)
class Throttle:
    """The planner, limiter and policy one Graph client shares across all its requests."""

    policy: RetryPolicy
    concurrency: AdaptiveLimiter
    planner: Planner
    sleep: Sleep = asyncio.sleep
    clock: Clock = time.monotonic

    @classmethod
    def create(cls, *, max_concurrency: int, deadline_seconds: float,
               clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep,
               time_scale: float = 1.0, **policy: Any) -> Throttle:
        """`time_scale` shrinks every budget window (tests, with the simulator's own scale)."""
        return cls(
            policy=RetryPolicy(deadline_seconds=deadline_seconds, **policy),
            concurrency=AdaptiveLimiter(max_concurrency, clock=clock, sleep=sleep),
            planner=Planner(time_scale=time_scale, clock=clock, sleep=sleep),
            sleep=sleep,
            clock=clock,
        )
