"""The request planner on virtual time: the documented buckets, priority, and how it slows."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Coroutine
from typing import Any

import pytest

from connector.graph.budget import (
    FOLLOW_UP_SECONDS,
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
REPORT = "/reports/authenticationMethods/userRegistrationDetails"


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


def test_admission_gives_up_rather_than_wait_on_a_graph_pause_past_the_callers_deadline(
        ) -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    planner.on_throttled(charges_of(METHODS), 120.0)

    async def run() -> None:
        await planner.admit(charges_of(METHODS), allowance=60.0)

    with pytest.raises(BudgetDeadline):
        asyncio.run(run())
    assert clock.now == 0.0


def test_the_log_streams_go_first_then_sign_in_activity_then_the_rest() -> None:
    audits = priority_of("https://graph.microsoft.com/v1.0/auditLogs/directoryAudits?$top=999")
    sign_ins = priority_of("/auditLogs/signIns?$top=1000")
    activity = priority_of("/users?$select=id,signInActivity&$top=500")
    rest = priority_of("/groups?$top=999")

    assert audits == sign_ins > activity > rest  # a higher number goes first


def test_admission_paced_by_our_own_requests_never_gives_up_and_says_how_long_it_held() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    held: list[float] = []

    async def run() -> None:
        for _ in range(12):  # 5 per 10 s: the last waits 20 s, far past a 1 s allowance
            ticket = await planner.admit(charges_of(METHODS), allowance=1.0)
            ticket.answered(clock.now)
            held.append(ticket.paced)

    asyncio.run(run())
    assert held[:5] == [0.0] * 5
    assert sum(held) == pytest.approx(clock.now) and clock.now >= 20.0


def test_admit_some_takes_every_reports_slot_free_when_the_first_fits() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    sizes: list[tuple[float, int]] = []

    async def run() -> None:
        first = await planner.admit(charges_of(ACTIVITY))  # a listing page took one slot
        first.answered(clock.now)
        left = 12
        while left:
            ticket, count = await planner.admit_some(charges_of(METHODS), min(20, left))
            ticket.answered(clock.now)
            sizes.append((clock.now, count))
            left -= count

    asyncio.run(run())
    # 4 at once beside the page (a chunk of 5 would wait for the next window), 5, then 3: the
    # twelfth goes in the third window, where chunks of 5 sized up front need a fourth.
    assert [count for _, count in sizes] == [4, 5, 3]
    assert sizes[0][0] == 0.0 and 10.0 < sizes[1][0] < 10.5 and 20.0 < sizes[2][0] < 21.0


def test_admit_some_books_every_request_it_admits() -> None:
    clock = VirtualTime()
    planner = _planner(clock)

    async def run() -> tuple[int, float]:
        ticket, count = await planner.admit_some(charges_of(METHODS), 20)
        ticket.answered(clock.now)
        return count, planner.buckets["reports"].delay(1.0, clock.now)

    count, wait = asyncio.run(run())
    assert count == 5
    assert wait > 9.0  # the window is full: a sixth request waits for the first to age out


def test_a_sign_in_activity_page_waiting_for_its_minute_leaves_the_reports_window_to_the_rest(
        ) -> None:
    clock = EventTime()
    planner = Planner(clock=clock.clock, sleep=clock.sleep)
    pages: list[float] = []
    reports: list[float] = []

    async def listing() -> None:
        for _ in range(15):
            ticket = await planner.admit(charges_of(ACTIVITY), priority=priority_of(ACTIVITY))
            ticket.answered(clock.now)
            pages.append(clock.now)

    async def report() -> None:
        while len(pages) < 15:
            ticket = await planner.admit(charges_of(REPORT), priority=priority_of(REPORT))
            ticket.answered(clock.now)
            reports.append(clock.now)

    asyncio.run(clock.run(listing(), report()))
    # The report reads while page 11 waits for the next minute...
    assert sum(1 for t in reports if 25.0 <= t < 50.0) >= 10
    # ...and leaves the reports window free in time: page 11 goes when its minute opens.
    assert 60.0 <= pages[10] < 62.0
    assert sum(1 for t in reports if 51.0 <= t < pages[10]) == 0


def test_only_a_listing_with_a_next_page_to_ask_holds_lower_priorities_back() -> None:
    clock = VirtualTime()
    planner = _planner(clock)

    async def run() -> tuple[float, float]:
        page = await planner.admit(charges_of(ACTIVITY), priority=priority_of(ACTIVITY))
        page.answered(clock.now)  # a single page: nothing follows it
        lookup = await planner.admit(charges_of(METHODS))
        lookup.answered(clock.now)
        alone = clock.now
        planner.expect_follow_up(charges_of(ACTIVITY), priority_of(ACTIVITY))
        lookup = await planner.admit(charges_of(METHODS))
        lookup.answered(clock.now)
        return alone, clock.now - alone

    alone, held = asyncio.run(run())
    assert alone == 0.0
    assert held >= FOLLOW_UP_SECONDS  # made way for the listing's next page


def test_admit_some_gathers_slots_that_free_moments_apart_into_one_chunk() -> None:
    clock = VirtualTime()
    planner = _planner(clock)
    sizes: list[int] = []

    async def run() -> None:
        # A window filled by three requests answered a few hundred milliseconds apart.
        for url, at in ((ACTIVITY, 0.0), (SIGN_INS, 0.3), (METHODS, 0.4)):
            clock.now = at
            ticket, _ = await planner.admit_some(charges_of(url), 3 if url == METHODS else 1)
            ticket.answered(clock.now)
        left = 15
        while left:
            ticket, count = await planner.admit_some(charges_of(METHODS), min(20, left))
            ticket.answered(clock.now)
            sizes.append(count)
            left -= count

    asyncio.run(run())
    assert sizes == [5, 5, 5]  # not 1, 1, 3 window after window
