"""The workload identity sources against the simulated tenant: every service principal with
its credentials, permissions, consents, owners and roster equal to the truth; one message per
missing permission or licence; changes seen through delta and the audit log at their cost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.permissions import Grants
from connector.graph.sources import Availability
from connector.graph.workloads import (
    CONSENTS_FEATURE,
    SIGN_INS_FEATURE,
    Snapshot,
    audit_touched,
    facts_for,
    latest_links,
    read_all,
    read_some,
    workload_changes,
)
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from entrasim.workloads import ExpectedWorkload
from tests.conftest import MakeSim

T = TypeVar("T")
DIRECTORY = DEFAULT_PERMISSIONS | {"Directory.Read.All"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=71, users=300, permissions=DIRECTORY)) as running:
        yield running


def _run(sim: SimulatedGraph, work: Callable[[GraphClient], Awaitable[T]]) -> tuple[T, int]:
    async def main() -> tuple[T, int]:
        async with GraphClient.from_settings(load_settings(sim.connector_config())) as client:
            return await work(client), client.stats.requests
    return asyncio.run(main())


def read(sim: SimulatedGraph) -> tuple[Snapshot, Availability, int]:
    availability = Availability()

    async def work(client: GraphClient) -> Snapshot:
        return await read_all(client, availability, Grants.from_claims(await client.token_claims()))

    snap, requests = _run(sim, work)
    return snap, availability, requests


def assert_matches(snap: Snapshot, sp_id: str, truth: ExpectedWorkload) -> None:
    facts = facts_for(sp_id, snap)
    assert {c.key_id: (c.kind, c.start, c.end) for c in facts.credentials or ()} == truth.credentials
    assert {(p.resource, p.permission) for p in facts.app_permissions or ()} == truth.app_permissions
    assert {(c.resource, s) for c in facts.consents or () for s in c.scopes} == truth.consent_scopes
    assert any(c.all_users for c in facts.consents or ()) == truth.tenant_wide
    assert sum(c.users for c in facts.consents or ()) == truth.consent_users
    assert {o.uid for o in facts.owners or ()} == truth.owners
    assert facts.roster is not None
    assert (facts.roster.users, facts.roster.groups) == (truth.roster_users, truth.roster_groups)
    assert facts.last_sign_in == truth.last_sign_in


def test_a_full_read_equals_the_truth_for_every_service_principal(sim: SimulatedGraph) -> None:
    snap, availability, _ = read(sim)
    truth = sim.tenant.workloads.truth()
    assert set(snap.sps) == set(truth)
    assert availability.reasons == {}
    for sp_id, expected in truth.items():
        assert_matches(snap, sp_id, expected)


def test_a_full_read_costs_a_handful_of_listings(sim: SimulatedGraph) -> None:
    _, _, requests = read(sim)
    capped = sum(1 for t in sim.tenant.workloads.truth().values() if t.roster_users + t.roster_groups >= 20)
    assert requests <= 6 + 1 + (capped + 19) // 20


def test_without_directory_read_all_consents_are_unknown_and_said_once(make_sim: MakeSim) -> None:
    sim = make_sim(seed=72)
    snap, availability, _ = read(sim)
    assert set(availability.reasons) == {CONSENTS_FEATURE}
    assert snap.grants is None and facts_for(next(iter(snap.sps)), snap).consents is None
    assert len(snap.sps) == len(sim.tenant.workloads.truth())


def test_on_a_free_tenant_the_last_sign_in_is_unknown_and_said_once(make_sim: MakeSim) -> None:
    sim = make_sim(seed=73, licence="free", permissions=DIRECTORY)
    snap, availability, _ = read(sim)
    assert set(availability.reasons) == {SIGN_INS_FEATURE}
    assert "licence" in availability.reasons[SIGN_INS_FEATURE]
    assert snap.last_sign_in is None and snap.grants is not None


def test_changes_reach_delta_or_the_audit_log_and_a_batch_reread_equals_the_truth(make_sim: MakeSim) -> None:
    sim = make_sim(seed=74, permissions=DIRECTORY)
    snap, _, _ = read(sim)
    start = datetime.now(UTC) - timedelta(seconds=5)
    links, _ = _run(sim, latest_links)
    w = sim.tenant.workloads
    lob = [s for s in w.service_principals() if s.kind == "lob" and s.app is not None]
    saas = [s for s in w.service_principals() if s.kind == "saas"]
    users = sim.tenant.users()
    key = w.add_credential(lob[0].id)
    w.disable(lob[1].id)
    w.grant_permission(lob[2].id, "RoleManagement.ReadWrite.Directory")
    w.consent(saas[0].id, "Mail.Read", user_id=users[1].id)
    w.assign(saas[1].id, users[2].id)
    w.add_owner(lob[3].id, users[3].id, on_app=True)
    w.delete(lob[4].id)

    async def work(client: GraphClient) -> tuple[Any, tuple[set[str], set[str]]]:
        changes = await workload_changes(client, *links)
        touched = await audit_touched(client, start, datetime.now(UTC) + timedelta(seconds=5))
        return changes, touched

    (changes, (sps, apps)), requests = _run(sim, work)
    assert requests == 3
    assert changes.changed == {lob[1].id} and set(changes.removed) == {lob[4].id}
    assert set(changes.apps) == {lob[0].app.id}  # type: ignore[union-attr]
    assert sps >= {lob[2].id, saas[0].id, saas[1].id} and apps == {lob[3].app.id}  # type: ignore[union-attr]
    app_to_sp = {s.app.id: s.id for s in lob if s.app is not None}
    wanted = changes.changed | sps | {app_to_sp[a] for a in set(changes.apps) | apps} | set(changes.removed)
    app_ids = {s.id: s.app.id for s in lob if s.app is not None}

    async def reread(client: GraphClient) -> tuple[Snapshot, set[str]]:
        return await read_some(client, wanted, snap, consents=True, app_ids=app_ids)

    (partial, gone), requests = _run(sim, reread)
    assert gone == {lob[4].id}
    truth = w.truth()
    for sp_id in wanted - gone:
        assert_matches(partial, sp_id, replace_sign_in(truth[sp_id], snap))
    assert key in {c.key_id for c in facts_for(lob[0].id, partial).credentials or ()}
    assert requests <= 8


def replace_sign_in(truth: ExpectedWorkload, snap: Snapshot) -> ExpectedWorkload:
    """A re-read does not read the sign-in report: the last sign-in is the caller's to keep."""
    from dataclasses import replace

    return replace(truth, last_sign_in=None)
