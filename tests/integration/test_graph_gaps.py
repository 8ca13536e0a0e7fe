"""Graph's documented gaps, survived: a riskyUsers that refuses the undocumented
`riskLastUpdatedDateTime` filter, and a users/delta without `manager@delta`.

Real simulator over TLS with the gap switched on (`Tenant.risky_filter_refused`,
`Tenant.manager_delta_omitted`), change tracking in process (`run_tracked`), waits on virtual
time, cadences on an injected clock.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from connector.state import StateStore
from entrasim import SimulatedGraph
from tests.cli.truth import assert_valid
from tests.conftest import MakeSim
from tests.faults.harness import Outcome, run_tracked
from tests.simulator.graph_client import fetch_token, ssl_context

RISKY_LIST = "GET /identityProtection/riskyUsers"
RISKY_ONE = "GET /identityProtection/riskyUsers/{id}"
LEVELS = {"none": 0, "low": 1, "medium": 2, "high": 3}


def _users_of(outcome: Outcome) -> dict[str, dict[str, Any]]:
    return {e["user"]["uid"]: e["user"] for e in outcome.events}


def _manager(user: dict[str, Any]) -> str | None:
    manager = (user.get("ldap_person") or {}).get("manager")
    return manager["uid"] if manager else None


def _members(sim: SimulatedGraph) -> list[Any]:
    return [u for u in sim.tenant.users() if not u.is_guest and u.enabled]


def test_the_simulator_refuses_the_risk_filter_when_told_to(make_sim: MakeSim) -> None:
    sim = make_sim(users=50)
    sim.tenant.risky_filter_refused = True
    with httpx.Client(verify=ssl_context(sim),
                      headers={"Authorization": f"Bearer {fetch_token(sim)}"}) as client:
        refused = client.get(f"{sim.url}/v1.0/identityProtection/riskyUsers",
                             params={"$filter": "riskLastUpdatedDateTime ge 2026-01-01T00:00:00Z"})
        documented = client.get(f"{sim.url}/v1.0/identityProtection/riskyUsers",
                                params={"$filter": "riskLevel eq 'high'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "BadRequest"
    assert documented.status_code == 200


def test_risk_changes_reach_the_events_when_risky_users_refuses_the_filter(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=200, licence="P2")
    sim.tenant.risky_filter_refused = True
    store = StateStore(tmp_path / "state.db")
    members = _members(sim)
    flagged, dismissed, dropped = members[:3]
    sim.tenant.set_risk(dismissed.id, "high")
    sim.tenant.set_risk(dropped.id, "medium")
    assert run_tracked(sim, store).error is None

    sim.tenant.set_risk(flagged.id, "high")
    sim.tenant.set_risk(dismissed.id, "none", "dismissed")
    dropped.risk = None  # Identity Protection no longer lists the user at all
    sim.counters.reset()
    second = run_tracked(sim, store)

    assert second.error is None, second.error
    assert not [w for w in second.summary.degraded if w == "risk"]
    emitted = _users_of(second)
    assert set(emitted) == {flagged.id, dismissed.id, dropped.id}
    for user in (flagged, dismissed, dropped):
        assert emitted[user.id]["risk_level_id"] == LEVELS[sim.tenant.expected(user.id).risk_level]
    assert_valid(second.events)
    counts = sim.counters.snapshot()
    assert counts[RISKY_LIST]["errors"] == 0 and counts[RISKY_LIST]["requests"] == 1
    assert RISKY_ONE not in counts


def test_new_users_take_their_risk_from_the_whole_list_without_per_user_lookups(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=200, licence="P2")
    store = StateStore(tmp_path / "state.db")
    assert run_tracked(sim, store).error is None
    new = [sim.tenant.add_user(display_name=f"New {i}") for i in range(20)]
    sim.tenant.set_risk(new[0].id, "high")
    sim.counters.reset()
    second = run_tracked(sim, store)

    assert second.error is None, second.error
    emitted = _users_of(second)
    assert {u.id for u in new} <= set(emitted)
    assert emitted[new[0].id]["risk_level_id"] == 3
    assert {emitted[u.id]["risk_level_id"] for u in new[1:]} == {0}
    counts = sim.counters.snapshot()
    assert counts[RISKY_LIST]["requests"] == 1
    assert RISKY_ONE not in counts  # no $batch burst against 1 request a second


def test_a_manager_change_reaches_the_events_when_manager_delta_is_missing(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=200, licence="P2")
    sim.tenant.manager_delta_omitted = True
    store = StateStore(tmp_path / "state.db")
    start = time.time()
    assert run_tracked(sim, store, clock=lambda: start).error is None
    employee, boss = _members(sim)[:2]
    left = next(u for u in _members(sim)[2:] if sim.tenant.expected(u.id).manager_id)
    sim.tenant.set_manager(employee.id, boss.id)
    sim.tenant.set_manager(left.id, None)

    soon = run_tracked(sim, store, clock=lambda: start + 3600)  # before the sweep is due
    assert soon.error is None, soon.error
    assert not {employee.id, left.id} & set(_users_of(soon))  # delta said nothing

    day_later = run_tracked(sim, store, clock=lambda: start + 25 * 3600)
    assert day_later.error is None, day_later.error
    emitted = _users_of(day_later)
    assert {employee.id, left.id} <= set(emitted)
    assert _manager(emitted[employee.id]) == boss.id
    assert _manager(emitted[left.id]) is None
    assert any(s.startswith("manager sweep") for s in day_later.summary.change_sources)
    assert_valid(day_later.events)


def test_with_the_sweep_at_every_run_a_manager_change_shows_at_the_next_run(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=200, licence="P2")
    sim.tenant.manager_delta_omitted = True
    store = StateStore(tmp_path / "state.db")
    assert run_tracked(sim, store).error is None
    employee, boss = _members(sim)[:2]
    sim.tenant.set_manager(employee.id, boss.id)
    second = run_tracked(sim, store, manager_refresh_hours=0)  # the sweep at every run
    assert second.error is None, second.error
    assert _manager(_users_of(second)[employee.id]) == boss.id
    assert "users/delta" in second.summary.change_sources
