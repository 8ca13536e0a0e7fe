"""The connector issue's acceptance tests: `python -m connector run` against simulated tenants.

Each tenant is collected once per module (the CLI in a subprocess, over real TLS) and the
tests read what that run produced: the events file, the state file and stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.state import StateStore
from entrasim import DEFAULT_PERMISSIONS, ExpectedUser, SimulatedGraph, TenantSpec
from tests.cli.truth import (
    Known,
    assert_matches_truth,
    assert_valid,
    connector,
    load_events,
    write_config,
)


@dataclass
class Run:
    sim: SimulatedGraph
    truth: dict[str, ExpectedUser]
    events: list[dict[str, Any]]
    state: dict[str, Any]
    stderr: str
    returncode: int
    requests: int


def _collect(sim: SimulatedGraph, directory: Path, **config: Any) -> Run:
    directory.mkdir(parents=True, exist_ok=True)
    out, state = directory / "events.ndjson", directory / "state.json"
    before = sim.counters.totals()["requests"]
    result = connector("run", "--config", write_config(directory, sim, **config),
                       "--state", state, "--output", out)
    events = load_events(out) if out.exists() else []
    saved = (StateStore(state).load() or {}) if state.exists() else {}
    requests = sim.counters.totals()["requests"] - before
    return Run(sim, sim.tenant.truth(), events, saved, result.stderr, result.returncode, requests)


@pytest.fixture(scope="module")
def p2(sim_p2: SimulatedGraph, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _collect(sim_p2, tmp_path_factory.mktemp("p2"))


@pytest.fixture(scope="module")
def free(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with SimulatedGraph(TenantSpec(seed=11, users=2500, licence="free")) as sim:
        yield _collect(sim, tmp_path_factory.mktemp("free"))


@pytest.fixture(scope="module")
def no_audit_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    spec = TenantSpec(seed=13, users=2500, licence="P2",
                      permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    with SimulatedGraph(spec) as sim:
        yield _collect(sim, tmp_path_factory.mktemp("no-audit"))


@pytest.fixture(scope="module")
def no_risk_permission(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    spec = TenantSpec(seed=17, users=300, licence="P2",
                      permissions=DEFAULT_PERMISSIONS - {"IdentityRiskyUser.Read.All"})
    with SimulatedGraph(spec) as sim:
        yield _collect(sim, tmp_path_factory.mktemp("no-risk"))


# --- a licensed tenant with every permission ---------------------------------------------------

def test_p2_run_succeeds_and_summarises_on_stderr(p2: Run) -> None:
    assert p2.returncode == 0, p2.stderr
    assert "full collection (bulk): 2500 events from 2500 users" in p2.stderr
    assert "not collected" not in p2.stderr


def test_p2_tenant_yields_exactly_one_valid_event_per_user(p2: Run) -> None:
    assert_valid(p2.events)
    assert sorted(e["user"]["uid"] for e in p2.events) == sorted(p2.truth)


def test_p2_events_agree_with_ground_truth_field_by_field(p2: Run) -> None:
    assert_matches_truth(p2.events, p2.truth, Known(risk=True))


def test_p2_risky_users_get_their_identity_protection_risk_level(p2: Run) -> None:
    levels = {e["user"]["uid"]: (e["user"]["risk_level_id"], e["user"]["risk_level"])
              for e in p2.events}
    risky = {uid for uid, t in p2.truth.items() if t.risk_state is not None}
    assert any(p2.truth[uid].risk_level == "high" for uid in risky)
    assert {levels[uid] for uid in risky if p2.truth[uid].risk_level == "high"} == {(3, "High")}
    assert {levels[uid] for uid in set(levels) - risky} == {(0, "Info")}


def test_p2_users_in_more_than_20_groups_get_all_of_them(p2: Run) -> None:
    heavy = {uid for uid, t in p2.truth.items() if len(t.groups) > 20}
    assert heavy, "the tenant should have users in more than 20 groups"
    for event in p2.events:
        if event["user"]["uid"] in heavy:
            emitted = {g["uid"] for g in event["user"]["groups"]}
            assert emitted == {gid for gid, _ in p2.truth[event["user"]["uid"]].groups}


def test_p2_roles_held_through_role_assignable_groups_make_admins(p2: Run) -> None:
    from entrasim.tenant import User

    direct = {a.principal.id for a in p2.sim.tenant.assignments if isinstance(a.principal, User)}
    via_group = {uid for uid, t in p2.truth.items() if t.roles and uid not in direct}
    assert via_group, "the tenant should have admins only through a group"
    admins = {e["user"]["uid"] for e in p2.events if e["user"].get("type_id") == 2}
    assert via_group <= admins


def test_p2_run_commits_a_completed_checkpoint(p2: Run) -> None:
    assert p2.state["in_progress"] is None
    newest = max(t.created for t in p2.truth.values())
    assert p2.state["watermark"] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert p2.state["tenant_id"] == p2.sim.spec.tenant_id


def test_p2_run_reads_in_bulk_not_per_user(p2: Run) -> None:
    assert p2.requests <= 0.02 * len(p2.truth), p2.stderr


# --- a tenant without P1/P2 --------------------------------------------------------------------

def test_free_tenant_still_yields_every_user_validly(free: Run) -> None:
    assert free.returncode == 0, free.stderr
    assert_valid(free.events)
    assert_matches_truth(free.events, free.truth, Known(mfa=None, sign_in=False, risk=False))


def test_free_tenant_never_reports_unknown_mfa_as_false(free: Run) -> None:
    with_mfa = [e for e in free.events if "has_mfa" in e["user"]]
    assert 0 < len(with_mfa) < len(free.events)  # per-user fallback, capped per run
    assert all(free.truth[e["user"]["uid"]].has_strong_mfa == e["user"]["has_mfa"]
               for e in with_mfa)


def test_free_tenant_reports_each_missing_feature_once(free: Run) -> None:
    lines = free.stderr.splitlines()
    sign_in = [line for line in lines if "last sign-in not collected" in line]
    assert len(sign_in) == 1 and "P1/P2 licence" in sign_in[0]
    assert sum("not collected: last_sign_in:" in line for line in lines) == 1
    assert sum("not collected: mfa:" in line for line in lines) == 1
    risk = [line for line in lines if line.startswith("not collected: risk:")]
    assert len(risk) == 1 and "P2 licence" in risk[0]
    assert sum("user risk level not collected" in line for line in lines) == 1


# --- a tenant without AuditLog.Read.All --------------------------------------------------------

def test_missing_audit_log_permission_still_yields_every_user(no_audit_log: Run) -> None:
    assert no_audit_log.returncode == 0, no_audit_log.stderr
    assert_valid(no_audit_log.events)
    assert_matches_truth(no_audit_log.events, no_audit_log.truth,
                         Known(mfa=None, sign_in=False))


def test_missing_audit_log_permission_is_named_once(no_audit_log: Run) -> None:
    lines = no_audit_log.stderr.splitlines()
    reported = [line for line in lines if line.startswith("not collected: last_sign_in:")]
    assert len(reported) == 1 and "AuditLog.Read.All" in reported[0]
    assert sum(line.startswith("not collected: mfa:") for line in lines) == 1


def test_missing_audit_log_permission_costs_no_refused_request(no_audit_log: Run) -> None:
    routes = no_audit_log.sim.counters.snapshot()
    refused = {route: c for route, c in routes.items()
               if "userRegistrationDetails" in route and c.get("requests")}
    assert not refused


# --- a tenant without IdentityRiskyUser.Read.All -----------------------------------------------

def test_missing_risk_permission_leaves_risk_out_and_names_it_once(no_risk_permission: Run) -> None:
    run = no_risk_permission
    assert run.returncode == 0, run.stderr
    assert_matches_truth(run.events, run.truth, Known(risk=False))
    reported = [line for line in run.stderr.splitlines()
                if line.startswith("not collected: risk:")]
    assert len(reported) == 1 and "IdentityRiskyUser.Read.All" in reported[0]
    assert not any("riskyUsers" in route and c.get("requests")
                   for route, c in run.sim.counters.snapshot().items())
