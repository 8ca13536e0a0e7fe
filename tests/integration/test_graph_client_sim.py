"""GraphClient against the simulated Graph over real TLS: paging, `$batch`, errors and retries."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from connector.config import load_settings
from connector.graph.client import BatchRequest, GraphClient, GraphError, GraphUnavailable
from connector.graph.throttle import Throttle
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.virtual_time import EventTime, VirtualTime

T = TypeVar("T")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=9, users=300, licence="P2"), fault_seed=1) as running:
        yield running


def _client(sim: SimulatedGraph, *, deadline: int = 900, time: VirtualTime | None = None,
            **config: Any) -> GraphClient:
    settings = load_settings(sim.connector_config(retry_deadline_seconds=deadline, **config))
    if time is None:
        return GraphClient.from_settings(settings)
    throttle = Throttle.create(max_concurrency=4, deadline_seconds=deadline,
                               clock=time.clock, sleep=time.sleep)
    return GraphClient.from_settings(settings, throttle=throttle)


def _run(sim: SimulatedGraph, work: Callable[[GraphClient], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        async with _client(sim, **kwargs) as client:
            return await work(client)
    return asyncio.run(main())


async def _all_ids(client: GraphClient, url: str) -> list[str]:
    return [u["id"] async for page in client.pages(url) for u in page.items]


def test_pages_follow_next_links_to_the_end(sim: SimulatedGraph) -> None:
    ids = _run(sim, lambda c: _all_ids(c, "/users?$select=id&$top=70"))
    assert sorted(ids) == sorted(sim.tenant.truth())


def test_absolute_next_link_is_followed_as_given(sim: SimulatedGraph) -> None:
    async def work(client: GraphClient) -> tuple[str | None, int]:
        first = await client.get_json("/users?$select=id&$top=100")
        link = first["@odata.nextLink"]
        second = await client.get_json(link)
        return link, len(second["value"])

    link, count = _run(sim, work)
    assert link is not None and link.startswith(sim.url)
    assert count == 100


def test_batch_returns_one_response_per_item_in_order(sim: SimulatedGraph) -> None:
    ids = sorted(sim.tenant.truth())[:45]
    items = [BatchRequest(str(i), f"/users/{uid}?$select=id") for i, uid in enumerate(ids)]

    async def work(client: GraphClient) -> tuple[list[Any], int]:
        responses = await client.batch(items)
        return [r.body["id"] for r in responses], client.stats.batch_requests

    got, requests = _run(sim, work)
    assert got == ids
    assert requests == 3  # 20 + 20 + 5


def test_batch_items_answering_429_are_retried_per_item(sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /users/{id}"})
    sim.faults.p_429 = 0.4
    ids = sorted(sim.tenant.truth())[:40]
    items = [BatchRequest(str(i), f"/users/{uid}?$select=id") for i, uid in enumerate(ids)]
    time = VirtualTime()

    async def work(client: GraphClient) -> tuple[list[int], int]:
        responses = await client.batch(items)
        return [r.status for r in responses], client.stats.throttled

    statuses, throttled = _run(sim, work, time=time)
    assert statuses == [200] * 40
    assert throttled > 0


def test_batch_item_errors_other_than_throttling_are_returned(sim: SimulatedGraph) -> None:
    items = [BatchRequest("a", "/users/00000000-0000-0000-0000-000000000000")]
    responses = _run(sim, lambda c: c.batch(items))
    assert responses[0].status == 404
    assert responses[0].error().code == "Request_ResourceNotFound"


@pytest.mark.parametrize("fault", ["p_429", "p_429_retry_after", "p_500", "p_503", "p_504",
                                   "p_drop"])
def test_transient_failures_are_retried_until_the_listing_completes(
        sim: SimulatedGraph, fault: str) -> None:
    setattr(sim.faults, fault, 0.3)
    time = VirtualTime()
    ids = _run(sim, lambda c: _all_ids(c, "/users?$select=id&$top=50"), time=time)
    assert sorted(ids) == sorted(sim.tenant.truth())
    assert time.slept, "the fault should have caused at least one retry"


def test_retry_after_beyond_the_sdk_limit_of_180_seconds_is_honoured(sim: SimulatedGraph) -> None:
    sim.faults.p_429_retry_after = 0.5
    sim.faults.retry_after_seconds = 200
    time = VirtualTime()
    ids = _run(sim, lambda c: _all_ids(c, "/users?$select=id&$top=50"), time=time)
    assert sorted(ids) == sorted(sim.tenant.truth())
    assert 200 in time.slept


def test_lookups_the_reports_budget_queues_past_the_retry_deadline_all_complete(
        sim: SimulatedGraph) -> None:
    sim.faults.p_503 = 0.1  # a retried chunk queues again behind the others
    users = sorted(sim.tenant.truth())[:150]
    items = [BatchRequest(str(i), f"/users/{uid}/authentication/methods")
             for i, uid in enumerate(users)]
    time = EventTime()

    async def main() -> list[int]:
        async with _client(sim, deadline=120, time=time) as client:
            time.busy = lambda: client.throttle.concurrency.in_flight > 0
            return [r.status for r in await time.run(client.batch(items))]

    statuses = asyncio.run(main())
    assert statuses == [200] * len(items)
    # 30 chunks of 5 at 5 per 10 s, some twice: held far past their 120 s retry deadline.
    assert time.now >= 290


def test_giving_up_after_the_deadline_names_the_cause(sim: SimulatedGraph) -> None:
    sim.faults.p_503 = 1.0
    with pytest.raises(GraphUnavailable) as caught:
        _run(sim, lambda c: c.get_json("/users?$select=id"), deadline=2)
    assert caught.value.status == 503
    assert "gave up" in str(caught.value)


def test_refusals_carry_graph_error_code() -> None:
    with SimulatedGraph(TenantSpec(seed=9, users=20, licence="free")) as free, \
            pytest.raises(GraphError) as caught:
        _run(free, lambda c: c.get_json("/users?$select=id,signInActivity"))
    assert caught.value.status == 403
    assert caught.value.code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert caught.value.request_id


def test_a_token_revoked_mid_run_is_renewed_once(sim: SimulatedGraph) -> None:
    async def work(client: GraphClient) -> tuple[int, int]:
        await client.get_json("/users?$select=id&$top=1")
        sim.identity.revoke_all()
        body = await client.get_json("/users?$select=id&$top=5")
        return len(body["value"]), client.stats.token_renewals

    count, renewals = _run(sim, work)
    assert count == 5
    assert renewals == 1


def test_token_claims_expose_granted_roles_and_tenant(sim: SimulatedGraph) -> None:
    claims = _run(sim, lambda c: c.token_claims())
    assert claims is not None
    assert claims["tid"] == sim.spec.tenant_id
    assert "User.Read.All" in claims["roles"]


def test_requests_are_counted(sim: SimulatedGraph) -> None:
    async def work(client: GraphClient) -> int:
        await _all_ids(client, "/users?$select=id&$top=100")
        return client.stats.requests

    def users_requests() -> int:
        return sim.counters.snapshot().get("GET /users", {}).get("requests", 0)

    before = users_requests()
    requests = _run(sim, work)
    assert requests == 3
    assert users_requests() - before == 3
