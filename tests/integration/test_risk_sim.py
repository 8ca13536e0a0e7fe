"""User risk from Identity Protection, collected from a simulated tenant over real TLS.

Every run lists `/identityProtection/riskyUsers` whole (500 a page, following nextLink), small
incremental runs too: Identity Protection allows 1 request a second per tenant, so a `$batch` of
per-user lookups would be throttled (without Retry-After). A tenant without Entra ID P2 leaves
the risk out, and says so once.
"""

from __future__ import annotations

from typing import Any

import orjson

from connector.plugin import EntraIdUserInventory
from entrasim import SimulatedGraph
from tests.cli.truth import Known, assert_matches_truth, assert_valid
from tests.conftest import MakeSim


def run(sim: SimulatedGraph, checkpoint: dict[str, Any] | None = None
        ) -> tuple[EntraIdUserInventory, list[dict[str, Any]], dict[str, Any]]:
    plugin = EntraIdUserInventory(sim.connector_config(), checkpoint)
    events: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for batch in plugin.batches():
        events += [orjson.loads(e) for e in batch.events]
        last = batch.checkpoint
    return plugin, events, last


def risky_list_requests(sim: SimulatedGraph) -> int:
    return sim.counters.snapshot().get("GET /identityProtection/riskyUsers", {}).get("requests", 0)


def test_bulk_run_follows_risky_user_pages_and_maps_every_level(make_sim: MakeSim) -> None:
    sim = make_sim(users=700)
    for i, user in enumerate(sim.tenant.users()[:620]):
        level = ("low", "medium", "high")[i % 3]
        state = ("atRisk", "confirmedCompromised", "remediated", "dismissed")[i % 4]
        user.risk = (level, state, "2026-10-01T00:00:00Z")
    plugin, events, _ = run(sim)
    assert plugin.summary.strategy == "bulk"
    assert risky_list_requests(sim) == 2  # 620 risky users, 500 a page
    assert_valid(events)
    assert_matches_truth(events, sim.tenant.truth(), Known(risk=True))
    assert {e["user"]["risk_level_id"] for e in events} == {0, 1, 2, 3}


def test_small_incremental_run_reads_the_whole_list_not_each_user(make_sim: MakeSim) -> None:
    sim = make_sim(users=100)
    _, _, checkpoint = run(sim)
    new = [sim.tenant.add_user(display_name=f"New {i}") for i in range(3)]
    new[0].risk = ("high", "atRisk", "2026-10-01T00:00:00Z")
    new[1].risk = ("medium", "remediated", "2026-10-01T00:00:00Z")
    listed_before = risky_list_requests(sim)
    plugin, events, _ = run(sim, checkpoint)
    assert plugin.summary.strategy == "per-user"
    assert risky_list_requests(sim) == listed_before + 1
    assert "GET /identityProtection/riskyUsers/{id}" not in sim.counters.snapshot()
    truth = sim.tenant.truth()
    assert_matches_truth(events, truth, Known(risk=True), expected_ids=[u.id for u in new])
    levels = {e["user"]["uid"]: e["user"]["risk_level_id"] for e in events}
    assert [levels[u.id] for u in new] == [3, 0, 0]


def test_p1_tenant_leaves_risk_out_and_names_the_p2_licence_once(make_sim: MakeSim) -> None:
    sim = make_sim(users=50, licence="P1")
    plugin, events, _ = run(sim)
    assert_matches_truth(events, sim.tenant.truth(), Known(risk=False))
    reason = plugin.summary.degraded["risk"]
    assert "no Microsoft Entra ID P2 licence" in reason
    assert risky_list_requests(sim) == 1
