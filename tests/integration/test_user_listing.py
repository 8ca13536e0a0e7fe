"""The users listing reads ahead of the join at the pace of Graph's documented limits.

Against the simulator with its documented limits, time shrunk on both sides (see
test_request_budget.py): the join may be held up for minutes by the registration report, and the
`signInActivity` listing must not lose those minutes.
"""

from __future__ import annotations

import asyncio
import time

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.odata import Availability
from connector.graph.sources import UserQuery
from connector.graph.throttle import Throttle
from connector.ocsf.user_inventory import GRAPH_USER_FIELDS
from connector.plugin import PRODUCT
from connector.streams.user_listing import ListedPage, UserListing
from connector.streams.users import Collection
from entrasim import SimulatedGraph, TenantSpec

SCALE = 0.02  # signInActivity: 10 pages per 1.2 s; reports: 5 per 0.2 s


def _list(sim: SimulatedGraph, hold_join: bool) -> tuple[list[ListedPage], UserListing, float]:
    """Every page of a signInActivity listing (15 users a page); with `hold_join` nothing is
    taken until the reader has read the last page, as when the join waits on the report."""
    sim.throttle.enabled = True
    sim.throttle.time_scale = SCALE
    settings = load_settings(sim.connector_config())

    async def main() -> tuple[list[ListedPage], UserListing, float]:
        throttle = Throttle.create(max_concurrency=4, deadline_seconds=60, time_scale=SCALE)
        async with GraphClient.from_settings(settings, throttle=throttle) as client:
            query = UserQuery(fields=GRAPH_USER_FIELDS, page_size=15)
            listing = UserListing(client, Availability(), query, None)
            started = time.monotonic()
            listing.read_ahead()
            if hold_join:
                deadline = started + 60
                while not listing.ended and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
            read = time.monotonic() - started
            return [page async for page in listing.pages()], listing, read

    return asyncio.run(main())


def test_the_listing_reads_every_page_while_the_join_waits_and_parks_them_on_disk() -> None:
    with SimulatedGraph(TenantSpec(seed=61, users=300, licence="P2")) as sim:
        pages, listing, read = _list(sim, hold_join=True)
        assert listing.ended  # every page was read before the join took any
        ids = [u["id"] for p in pages for u in p.page.items]
        assert sorted(ids) == sorted(sim.tenant.truth())  # each user once
        assert len(pages) == 20
        assert listing.spilled_pages == 20 - 4  # past the 4 kept in memory
        # 20 pages at 10 per (60 s x SCALE): the second window's pages wait for the first's.
        assert read >= 60 * SCALE
        assert sim.counters.totals()["throttled"] == 0
        assert all(p.flags["sign_in"] and not p.restarted for p in pages)


def test_pages_read_after_an_expired_page_token_say_the_listing_restarted() -> None:
    with SimulatedGraph(TenantSpec(seed=62, users=90, licence="P2")) as sim:
        sim.faults.expired_page_token_on_page = 3
        pages, listing, _ = _list(sim, hold_join=True)
        assert listing.restarts == 1
        assert [p.restarted for p in pages] == [False, False] + [True] * 6
        ids = [u["id"] for p in pages if p.restarted for u in p.page.items]
        assert sorted(ids) == sorted(sim.tenant.truth())  # the restart lists everyone again


def test_a_caller_that_stops_after_the_first_batch_leaves_no_reader_running() -> None:
    with SimulatedGraph(TenantSpec(seed=63, users=300, licence="P2")) as sim:
        sim.throttle.enabled = True
        sim.throttle.time_scale = SCALE
        settings = load_settings(sim.connector_config(page_size=15, batch_size=20))

        async def main() -> set[asyncio.Task[object]]:
            throttle = Throttle.create(max_concurrency=4, deadline_seconds=60, time_scale=SCALE)
            async with GraphClient.from_settings(settings, throttle=throttle) as client:
                batches = Collection(settings, None, client, product=PRODUCT).batches()
                first = await anext(batches)
                assert first.events
                await batches.aclose()
                return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

        assert asyncio.run(main()) == set()
