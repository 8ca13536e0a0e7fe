"""Each source against the simulated tenant's ground truth, and what each costs in requests."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.odata import Availability
from connector.graph.sources import (
    MfaTable,
    UserQuery,
    admin_roles,
    group_memberships,
    memberships_of,
    mfa_methods,
    mfa_registration,
    mfa_registration_of,
    user_pages,
)
from entrasim import SimulatedGraph, TenantSpec

T = TypeVar("T")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=41, users=800, licence="P2")) as running:
        yield running


def _run(sim: SimulatedGraph, work: Callable[[GraphClient], Awaitable[T]]) -> tuple[T, int]:
    async def main() -> tuple[T, int]:
        async with GraphClient.from_settings(load_settings(sim.connector_config())) as client:
            result = await work(client)
            return result, client.stats.requests
    return asyncio.run(main())


def test_group_memberships_are_complete_for_every_user(sim: SimulatedGraph) -> None:
    memberships, requests = _run(sim, group_memberships)
    truth = sim.tenant.truth()
    for uid, expected in truth.items():
        assert set(memberships.groups_of(uid)) == set(expected.groups), uid
    assert any(len(t.groups) > 20 for t in truth.values())
    large = sum(1 for g in sim.tenant.groups() if len(g.members) + len(g.member_groups) >= 20)
    assert requests <= 1 + math.ceil(large / 20) + 2  # listing + batches (+ a few next links)


def test_memberships_of_a_few_users_are_asked_per_user_in_one_batch(sim: SimulatedGraph) -> None:
    truth = sim.tenant.truth()
    heavy = sorted(truth, key=lambda uid: -len(truth[uid].groups))[:5]
    memberships, requests = _run(sim, lambda c: memberships_of(c, heavy))
    for uid in heavy:
        assert set(memberships.groups_of(uid)) == set(truth[uid].groups)
    assert requests == 1


def test_admin_roles_include_roles_held_through_groups(sim: SimulatedGraph) -> None:
    roles, _ = _run(sim, admin_roles)
    truth = sim.tenant.truth()
    assert {uid: set(r) for uid, r in roles.items()} == {
        uid: set(t.roles) for uid, t in truth.items() if t.roles}


def test_registration_report_covers_enabled_users_and_no_disabled_one(sim: SimulatedGraph) -> None:
    table, requests = _run(sim, mfa_registration)
    truth = sim.tenant.truth()
    assert set(table.by_user) == {uid for uid, t in truth.items() if t.enabled}
    for uid, facts in table.by_user.items():
        assert facts.registered == truth[uid].has_strong_mfa
        assert set(facts.methods) == set(truth[uid].mfa_methods)
    assert requests == 1


def test_per_user_methods_cover_disabled_users(sim: SimulatedGraph) -> None:
    truth = sim.tenant.truth()
    disabled = [uid for uid, t in truth.items() if not t.enabled][:25]
    table = MfaTable()
    _, requests = _run(sim, lambda c: mfa_methods(c, disabled, table))
    for uid in disabled:
        facts = table.get(uid)
        assert facts is not None and facts.registered == truth[uid].has_strong_mfa
    assert requests == 5  # each lookup is a reports request: at most 5 to a `$batch`


def test_per_user_report_entries_leave_disabled_users_unknown(sim: SimulatedGraph) -> None:
    truth = sim.tenant.truth()
    enabled = [uid for uid, t in truth.items() if t.enabled][:3]
    disabled = [uid for uid, t in truth.items() if not t.enabled][:2]
    table = MfaTable()
    _run(sim, lambda c: mfa_registration_of(c, enabled + disabled, table))
    assert set(table.by_user) == set(enabled)


def test_users_listing_without_a_licence_drops_sign_in_once_and_continues() -> None:
    availability = Availability()

    async def listing(client: GraphClient) -> list[Any]:
        query = UserQuery(fields=("id", "userPrincipalName"), page_size=60, manager=False)
        return [(q.sign_in, len(p.items)) async for q, p in user_pages(client, query,
                                                                     availability)]

    with SimulatedGraph(TenantSpec(seed=43, users=150, licence="free")) as free:
        pages, _ = _run(free, listing)
    assert pages == [(False, 60), (False, 60), (False, 30)]
    assert list(availability.reasons) == ["last_sign_in"]
    assert "P1/P2" in availability.reasons["last_sign_in"]
