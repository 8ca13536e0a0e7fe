"""The request planner on virtual time: the documented buckets, priority, and how it slows."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Coroutine
from typing import Any

import pytest

from connector.graph.budget import (
    BudgetDeadline,
    Planner,
    charges_of,
    chunk_by_budget,
    format_duration,
    mfa_lookups_per_run,
    priority_of,
)
from tests.cli.virtual_time import VirtualTime

METHODS = "/users/u1/authentication/methods"
ACTIVITY = "/users?$select=id,signInActivity&$top=500"
RISKY = "/identityProtection/riskyUsers/u1"
SIGN_INS = "/auditLogs/signIns?$top=1000"


class EventTime:
    """Virtual time where concurrent sleepers wake in the order of their deadlines."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, self._seq, future))
        self._seq += 1
        await future

    async def run(self, *coros: Coroutine[Any, Any, None]) -> None:
        tasks = [asyncio.ensure_future(c) for c in coros]
        while not all(t.done() for t in tasks):
            for _ in range(50):  # everyone runs until blocked on a timer
                await asyncio.sleep(0)
            if self._timers:
                at, _, future = heapq.heappop(self._timers)
                self.now = max(self.now, at)
                future.set_result(None)
        await asyncio.gather(*tasks)


def _planner(clock: VirtualTime) -> Planner:
    return Planner(clock=clock.clock, sleep=clock.sleep)


def _admit_times(planner: Planner, clock: VirtualTime, urls: list[str]) -> list[float]:
    times: list[float] = []

    async def run() -> None:
        for url in urls:
            ticket = await planner.admit(charges_of(url))
            ticket.answered(clock.now)
            times.append(clock.now)

    asyncio.run(run())
    return times


@pytest.mark.parametrize(("url", "buckets"), [
    ("/users?$select=id&$top=999", {"directory"}),
    (METHODS, {"directory", "reports"}),
    ("/reports/authenticationMethods/userRegistrationDetails", {"directory", "reports"}),
    ("/auditLogs/directoryAudits", {"directory", "reports"}),
    ("https://graph.microsoft.com/beta/auditLogs/signIns", {"directory", "reports"}),
    (ACTIVITY, {"directory", "reports", "signInActivity"}),
    (RISKY, {"identityProtection"}),
    ("/deviceManagement/managedDevices?$select=id&$top=1000", {"intune"}),
    ("/devices?$select=id&$top=999", {"directory"}),
])
def test_each_request_spends_the_buckets_microsoft_lists_it_under(url: str,
                                                                   buckets: set[str]) -> None:
    assert set(charges_of(url)) == buckets


def test_per_user_methods_are_paced_at_five_per_ten_seconds() -> None:
    clock = VirtualTime()
    times = _admit_times(_planner(clock), clock, [METHODS] * 11)
    assert times[:5] == [0.0] * 5
    assert all(10.0 < t < 10.5 for t in times[5:10])
    assert 20.0 < times[10] < 21.0


def test_sign_in_activity_pages_are_paced_at_ten_a_minute() -> None:
    clock = VirtualTime()
    times = _admit_times(_planner(clock), clock, [ACTIVITY] * 21)
    assert times[9] < 60.0 <= times[10]
    assert 120.0 <= times[20] < 125.0


def test_identity_protection_is_paced_at_one_a_second() -> None:
    clock = VirtualTime()
    times = _admit_times(_planner(clock), clock, [RISKY] * 4)
    assert [round(t) for t in times] == [0, 1, 2, 3]


def test_a_sign_in_request_goes_before_background_work_waiting_on_the_same_bucket() -> None:
    clock = EventTime()
    planner = Planner(clock=clock.clock, sleep=clock.sleep)
    order: list[str] = []

    async def request(url: str, delay: float) -> None:
        await clock.sleep(delay)
        ticket = await planner.admit(charges_of(url), priority=priority_of(url))
        ticket.answered(clock.now)
        order.append(url)

    asyncio.run(clock.run(*(request(METHODS, 0.0) for _ in range(8)), request(SIGN_INS, 1.0)))
    assert order.index(SIGN_INS) == 5  # first in the second window, ahead of 3 lookups


def test_a_429_without_retry_after_halves_the_share_and_pauses_the_bucket() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    planner.on_throttled(charges_of(RISKY), None)
    bucket = planner.buckets["identityProtection"]
    assert bucket.share == 0.5 and bucket.window == 2.0
    times = _admit_times(planner, clock, [RISKY] * 2)
    assert times[0] >= 1.0 and times[1] - times[0] >= 2.0


def test_a_429_with_retry_after_pauses_the_bucket_that_long() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    planner.on_throttled(charges_of(METHODS), 30.0)
    assert _admit_times(planner, clock, [METHODS])[0] >= 30.0
    assert planner.buckets["directory"].share == 1.0


def test_graph_near_its_limit_lowers_the_directory_share() -> None:
    planner = _planner(VirtualTime())
    planner.on_response(charges_of("/users"), 0.9)
    assert planner.buckets["directory"].share == pytest.approx(0.8)


def test_the_summary_names_the_bucket_that_made_requests_wait() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    _admit_times(planner, clock, [ACTIVITY] * 21)
    assert planner.summary().startswith("bounded by: signInActivity 10/min, 1 min ")


def test_batches_carry_at_most_five_reports_items_and_one_identity_protection_item() -> None:
    planner = _planner(VirtualTime())
    urls = [METHODS] * 12 + [RISKY] * 2 + ["/users/u1/memberOf"] * 30
    chunks = chunk_by_budget(urls, 20, planner.capacity)
    assert [len(c) for c in chunks] == [5, 5, 3, 20, 11]  # 2 methods + 1 risky, then 1 risky
    assert sorted(i for c in chunks for i in c) == list(range(len(urls)))


def test_mfa_lookups_per_run_are_a_share_of_fifteen_minutes_of_reports_budget() -> None:
    assert mfa_lookups_per_run(0.5) == 225
    assert mfa_lookups_per_run(1.0) == 450
    assert mfa_lookups_per_run(0.5, cap=100) == 100
    assert mfa_lookups_per_run(0.0) == 0


def test_durations_read_as_minutes_and_seconds() -> None:
    assert format_duration(120.4) == "2 min 0 s"
    assert format_duration(7.6) == "8 s"


def test_admission_gives_up_rather_than_wait_past_the_callers_deadline() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    planner.on_throttled(charges_of(METHODS), 120.0)

    async def run() -> None:
        await planner.admit(charges_of(METHODS), not_after=60.0)

    with pytest.raises(BudgetDeadline):
        asyncio.run(run())
    assert clock.now == 0.0


def test_the_log_streams_go_first_then_sign_in_activity_then_the_rest() -> None:
    audits = priority_of("https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$top=999")
    sign_ins = priority_of("/auditLogs/signIns?$top=1000")
    activity = priority_of("/users?$select=id,signInActivity&$top=500")
    rest = priority_of("/groups?$top=999")

    assert audits == sign_ins > activity > rest  # a higher number goes first
