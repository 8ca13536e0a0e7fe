"""The retry policy, the limiters and Graph's published cost model, on a virtual clock."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.graph.throttle import (
    AdaptiveLimiter,
    Retryable,
    RetryPolicy,
    WindowLimiter,
    is_reporting,
    parse_limit_percentage,
    parse_retry_after,
    resource_units,
)
from tests.cli.virtual_time import VirtualTime

# --- Retry-After and the throttle header --------------------------------------------------------

def test_retry_after_in_seconds_is_taken_as_is_whatever_its_size() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("600") == 600.0


def test_retry_after_as_an_http_date_becomes_seconds_from_now() -> None:
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == 60.0


def test_unusable_retry_after_means_none() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0


def test_limit_percentage_accepts_fractions_and_percentages() -> None:
    assert parse_limit_percentage("0.85") == 0.85
    assert parse_limit_percentage("85") == 0.85
    assert parse_limit_percentage("x") is None


# --- retry policy -------------------------------------------------------------------------------

def test_the_wait_is_the_servers_retry_after_when_given() -> None:
    policy = RetryPolicy()
    assert policy.wait_for(Retryable("429", retry_after=240.0), attempt=1) == 240.0


@given(st.integers(min_value=1, max_value=30))
def test_backoff_without_retry_after_stays_within_floor_and_cap(attempt: int) -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=60.0, backoff_floor=0.1)
    wait = policy.wait_for(None, attempt)
    assert 0.1 <= wait <= 60.0


def test_retries_transient_failures_then_returns() -> None:
    clock = VirtualTime()
    failures = [Retryable("503"), httpx.ConnectError("refused"), Retryable("429", retry_after=5)]

    async def run() -> str:
        async for attempt in RetryPolicy().retrying(sleep=clock.sleep):
            with attempt:
                if failures:
                    raise failures.pop(0)
                return "done"
        raise AssertionError

    assert asyncio.run(run()) == "done"
    assert clock.now >= 5.0


def test_gives_up_when_the_next_wait_would_pass_the_deadline() -> None:
    clock = VirtualTime()
    attempts = 0

    async def run() -> None:
        nonlocal attempts
        async for attempt in RetryPolicy(deadline_seconds=100).retrying(sleep=clock.sleep):
            with attempt:
                attempts += 1
                raise Retryable("429", retry_after=150)

    with pytest.raises(Retryable):
        asyncio.run(run())
    assert attempts == 1


def test_does_not_retry_a_refusal() -> None:
    attempts = 0

    async def run() -> None:
        nonlocal attempts
        async for attempt in RetryPolicy().retrying():
            with attempt:
                attempts += 1
                raise ValueError("403")

    with pytest.raises(ValueError):
        asyncio.run(run())
    assert attempts == 1


# --- adaptive concurrency -----------------------------------------------------------------------

def test_limiter_halves_on_throttling_but_once_per_burst() -> None:
    clock = VirtualTime()
    limiter = AdaptiveLimiter(8, cooldown=1.0, clock=clock)
    limiter.on_throttled()
    limiter.on_throttled()
    assert limiter.limit == 4
    clock.now += 2
    limiter.on_throttled()
    assert limiter.limit == 2


def test_limiter_slows_down_when_graph_says_the_app_is_near_its_limit() -> None:
    limiter = AdaptiveLimiter(8, clock=VirtualTime())
    limiter.on_response(limit_percentage=0.9)
    assert limiter.limit == 4


def test_limiter_grows_back_one_slot_per_window_of_successes() -> None:
    limiter = AdaptiveLimiter(8, clock=VirtualTime())
    limiter.on_throttled()
    for _ in range(4):
        limiter.on_response()
    assert limiter.limit == 5
    for _ in range(100):
        limiter.on_response()
    assert limiter.limit == 8


def test_limiter_never_lets_more_than_the_limit_in_flight() -> None:
    limiter = AdaptiveLimiter(3, clock=VirtualTime())
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await asyncio.sleep(0.001)

    async def run() -> None:
        await asyncio.gather(*(work() for _ in range(20)))

    asyncio.run(run())
    assert peak == 3
    assert limiter.in_flight == 0


def test_a_retry_after_pauses_every_new_request() -> None:
    clock = VirtualTime()
    limiter = AdaptiveLimiter(4, clock=clock, sleep=clock.sleep)
    limiter.on_throttled(retry_after=30)

    async def run() -> None:
        async with limiter.slot():
            pass

    asyncio.run(run())
    assert clock.now >= 30


# --- window limiter (reporting budget, RU budget) -----------------------------------------------

def test_reporting_limiter_allows_five_requests_per_ten_seconds() -> None:
    clock = VirtualTime()
    limiter = WindowLimiter(5, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    starts: list[float] = []

    async def run() -> None:
        for _ in range(12):
            await limiter.acquire()
            starts.append(clock.now)

    asyncio.run(run())
    assert starts[:5] == [0.0] * 5
    assert all(start >= 10.0 for start in starts[5:10])
    assert all(start >= 20.0 for start in starts[10:])
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 10.0


def test_weighted_window_limiter_budgets_resource_units() -> None:
    clock = VirtualTime()
    limiter = WindowLimiter(100, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)

    async def run() -> None:
        await limiter.acquire(60)
        await limiter.acquire(30)
        assert clock.now == 0.0
        await limiter.acquire(30)

    asyncio.run(run())
    assert clock.now >= 10.0


def test_window_limiter_lets_an_oversized_request_through_alone() -> None:
    clock = VirtualTime()
    limiter = WindowLimiter(10, 10.0, clock=clock, sleep=clock.sleep)
    asyncio.run(limiter.acquire(50))
    assert clock.now == 0.0


# --- cost model ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "cost"), [
    ("/users", 2),
    ("/users?$select=id,displayName&$top=999", 1),
    ("/users?$select=id&$expand=manager($select=id)&$top=999", 2),
    ("/users/abc/memberOf/microsoft.graph.group?$select=id", 1),
    ("/groups/abc/members?$select=id&$top=999", 2),
    ("/groups/abc/members", 3),
    ("/groups/abc/transitiveMembers", 5),
    ("/groups?$select=id&$top=5", 1),
    ("https://graph.microsoft.com/v1.0/users?$skiptoken=x", 2),
])
def test_resource_units_follow_the_published_cost_model(url: str, cost: int) -> None:
    assert resource_units(url) == cost


@pytest.mark.parametrize(("url", "reporting"), [
    ("/reports/authenticationMethods/userRegistrationDetails?$top=999", True),
    ("/reports/authenticationMethods/userRegistrationDetails/abc", True),
    ("/users?$select=id,signInActivity&$top=500", True),
    ("/users?%24select=id%2CsignInActivity", True),
    ("/users?$select=id,displayName", False),
    ("/groups?$select=id", False),
])
def test_reporting_requests_are_recognised(url: str, reporting: bool) -> None:
    assert is_reporting(url) is reporting
