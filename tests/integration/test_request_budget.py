"""The request planner against the simulator's documented limits: runs Graph never answers 429.

Time is shrunk consistently on both sides: the simulator's `ThrottleModel.time_scale` and the
planner's `Throttle.create(time_scale=...)` multiply every window by `SCALE`, so the buckets are
the documented ones (5 reports requests per window, 10 signInActivity requests per 6 windows,
one Identity Protection request per 0.1 window) and the clocks are real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.throttle import Throttle
from connector.plugin import PRODUCT
from connector.streams.users import Collection
from entrasim import SimulatedGraph, TenantSpec
from tests.faults.harness import Outcome

SCALE = 0.02  # reports: 5 per 0.2 s; signInActivity: 10 per 1.2 s; Identity Protection: 1 per 0.02 s


def _documented(sim: SimulatedGraph, other_app_share: float = 0.0,
                scale: float = SCALE) -> SimulatedGraph:
    sim.throttle.enabled = True
    sim.throttle.time_scale = scale
    sim.throttle.other_app_share = other_app_share
    return sim


def _collect(sim: SimulatedGraph, checkpoint: Mapping[str, Any] | None = None,
             scale: float = SCALE, **config: Any) -> Outcome:
    settings = load_settings(sim.connector_config(**config))

    async def main() -> Outcome:
        throttle = Throttle.create(max_concurrency=4, deadline_seconds=120, time_scale=scale)
        client = GraphClient.from_settings(settings, throttle=throttle)
        collection = Collection(settings, checkpoint, client, product=PRODUCT)
        outcome = Outcome([], collection.summary, client)
        try:
            async for batch in collection.batches():
                outcome.batches.append(batch)
        finally:
            await client.aclose()
        return outcome

    return asyncio.run(main())


def _answered_429(sim: SimulatedGraph) -> int:
    return sim.counters.totals()["throttled"]


def _route_total(sim: SimulatedGraph, suffix: str, field: str = "requests") -> int:
    return sum(c[field] + (c["batch_items"] if field == "requests" else 0)
               for route, c in sim.counters.snapshot().items() if route.endswith(suffix))


def test_a_p2_full_run_paced_by_sign_in_activity_is_never_answered_429() -> None:
    with SimulatedGraph(TenantSpec(seed=41, users=200, licence="P2")) as sim:
        outcome = _collect(_documented(sim), page_size=15)
        assert _answered_429(sim) == 0
        assert sim.counters.snapshot()["GET /users"]["sign_in_activity"] > 10  # two windows
        assert sorted(outcome.ids) == sorted(sim.tenant.truth())
        assert outcome.summary.bounded_by.startswith("bounded by: signInActivity 10/min")


def test_a_free_tenant_full_run_asks_enabled_users_within_the_reports_window_without_429() -> None:
    with SimulatedGraph(TenantSpec(seed=42, users=60, licence="free")) as sim:
        outcome = _collect(_documented(sim))
        assert _answered_429(sim) == 0
        truth = sim.tenant.truth()
        enabled = {uid for uid, u in truth.items() if u.enabled}
        assert _route_total(sim, "/authentication/methods") == len(enabled)
        with_mfa = {e["user"]["uid"] for e in outcome.events if "has_mfa" in e["user"]}
        assert with_mfa == enabled


def test_a_refresh_with_new_users_is_never_answered_429() -> None:
    with SimulatedGraph(TenantSpec(seed=43, users=120, licence="P2")) as sim:
        done = _collect(_documented(sim))
        new = {sim.tenant.add_user().id for _ in range(25)}
        sim.counters.reset()
        sim.throttle.reset()  # runs are minutes apart: the previous run's windows have passed
        refresh = _collect(sim, done.batches[-1].checkpoint)
        assert _answered_429(sim) == 0
        assert new <= set(refresh.ids)


def test_another_app_spending_most_of_the_tenant_budget_slows_the_refresh_without_a_hot_loop() -> None:
    with SimulatedGraph(TenantSpec(seed=44, users=120, licence="P2")) as sim:
        done = _collect(_documented(sim))
        new = {sim.tenant.add_user().id for _ in range(10)}
        # Identity Protection at 1 per 0.1 s for the tenant, 80 % of it spent by the other app:
        # one request per 0.5 s left, a third of what the planner starts with.
        _documented(sim, other_app_share=0.8, scale=0.1)
        sim.counters.reset()
        sim.throttle.reset()
        refresh = _collect(sim, done.batches[-1].checkpoint, scale=0.1)
        assert new <= set(refresh.ids)
        risk_known = {e["user"]["uid"] for e in refresh.events if "risk_level" in e["user"]}
        assert new <= risk_known
        protection = refresh.client.throttle.planner.buckets["identityProtection"]
        throttled = _route_total(sim, "/riskyUsers/{id}", "throttled")
        # Slower: Graph's 429s (no Retry-After) made the planner halve its share and pause.
        assert protection.throttled >= 1
        # No hot loop: the lookups are retried a bounded number of times.
        assert throttled <= 2 * len(new)
        assert _route_total(sim, "/riskyUsers/{id}") <= 3 * len(new)
