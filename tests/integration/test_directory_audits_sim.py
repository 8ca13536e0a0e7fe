"""The directory audit listing against the simulated tenant over real TLS, and its records mapped:
every mutation's record once, in Graph's order and pages, the class the table gives, actor,
target and status equal to the tenant's truth; late arrivals, retention and permission."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from connector.config import load_settings
from connector.graph.client import GraphClient, GraphError
from connector.graph.directory_audits import AuditQuery, directory_audit_pages
from connector.ocsf import directory_audit
from connector.ocsf.user_inventory import Product
from connector.validation import EventValidator
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from entrasim.audit import App
from tests.conftest import MakeSim

T = TypeVar("T")
PRODUCT = Product(name="Entra ID directory audits", vendor_name="Microsoft", version="0.1.0")
VALIDATOR = EventValidator()
EVERYTHING = AuditQuery()


def _run(sim: SimulatedGraph, work: Callable[[GraphClient], Awaitable[T]]) -> tuple[T, int]:
    async def main() -> tuple[T, int]:
        async with GraphClient.from_settings(load_settings(sim.connector_config())) as client:
            return await work(client), client.stats.requests
    return asyncio.run(main())


def read(sim: SimulatedGraph, since: datetime, upto: datetime | None = None,
         query: AuditQuery = EVERYTHING) -> tuple[list[list[dict[str, Any]]], int]:
    """Every page of the window, as Graph returned it, and the requests spent."""
    async def work(client: GraphClient) -> list[list[dict[str, Any]]]:
        return [page.items async for page in directory_audit_pages(
            client, query, since, upto or datetime.now(UTC) + timedelta(seconds=2))]
    return _run(sim, work)


def records_of(pages: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [record for page in pages for record in page]


def start_of(sim: SimulatedGraph) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=2)


def mutate(sim: SimulatedGraph) -> dict[str, Any]:
    """One of each audited mutation; what was done to whom."""
    t = sim.tenant
    users = [u for u in t.users() if not u.is_guest and not t.roles_of(u)]
    alice, bob, carol = users[:3]
    group = next(g for g in t.groups() if alice not in g.members and not g.role_assignable)
    nested = next(g for g in t.groups() if g is not group and g not in group.member_groups
                  and group not in g.member_groups and not g.role_assignable)
    doomed = next(g for g in t.groups() if g not in (group, nested) and not g.role_assignable)
    new = t.add_user(display_name="Dana New")
    created = t.add_group("SG-Audit-New")
    t.update_user(alice.id, jobTitle="Controller", displayName="Alice Renamed")
    t.disable_user(bob.id)
    t.add_to_group(alice.id, group.id)
    t.remove_from_group(alice.id, group.id)
    t.add_group_to_group(nested.id, group.id)
    t.delete_group(doomed.id)
    t.assign_role(carol.id, "User Administrator")
    t.assign_role(bob.id, "Global Administrator", eligible=True)
    t.reset_password(carol.id, failed="Password does not meet complexity requirements")
    client, resource = t.service_principals[:2]
    t.grant_app_role(client.id, resource.id, "Directory.Read.All")
    t.consent_to_application(alice.id, resource.id, ["User.Read", "Mail.Read"])
    return {"alice": alice, "bob": bob, "carol": carol, "new": new, "group": group,
            "nested": nested, "doomed": doomed, "client": client, "created": created}


@pytest.fixture()
def tenant(make_sim: MakeSim) -> SimulatedGraph:
    return make_sim(seed=16, users=200, licence="P2")


def test_every_mutation_is_listed_once_newest_first_and_maps_as_the_table_says(
        tenant: SimulatedGraph) -> None:
    since = start_of(tenant)
    done = mutate(tenant)
    records = records_of(read(tenant, since)[0])
    written = [r for r in tenant.tenant.audit.records if r.when >= since]
    assert sorted(r["id"] for r in records) == sorted(r.id for r in written)
    times = [r["activityDateTime"] for r in records]
    assert times == sorted(times, reverse=True)
    mapped = [(r["activityDisplayName"], directory_audit.to_event(
        r, tenant_id=tenant.spec.tenant_id, product=PRODUCT)) for r in records]
    for _, event in mapped:
        assert VALIDATOR.errors(event) == []
    assert sorted((name, e["class_uid"], e["activity_id"]) for name, e in mapped) == sorted([
        ("Add user", 3001, 1), ("Update user", 3001, 99), ("Disable account", 3001, 5),
        ("Add member to group", 3006, 3), ("Remove member from group", 3006, 4),
        ("Add member to group", 3006, 7), ("Delete group", 3006, 5), ("Add group", 3006, 6),
        ("Add member to role", 3005, 1), ("Add eligible member to role", 3005, 1),
        ("Reset user password", 3001, 4),
        ("Add app role assignment to service principal", 3005, 1),
        ("Consent to application", 3005, 1)])
    events = {(name, e["activity_id"]): e for name, e in mapped}
    singles = {name: e for (name, _), e in events.items()}
    role = singles["Add member to role"]
    assert role["user"]["uid"] == done["carol"].id
    assert role["privileges"] == ["User Administrator"]
    assert role["actor"]["user"]["uid"] in tenant.tenant.admin_ids()
    assert role["src_endpoint"]["ip"].startswith("198.51.100.")
    assert singles["Add eligible member to role"]["user"]["uid"] == done["bob"].id
    update = singles["Update user"]
    assert update["user_result"]["name"] == "Alice Renamed"
    assert update["user_result"]["ldap_person"]["job_title"] == "Controller"
    nested = events[("Add member to group", 7)]
    assert (nested["group"]["uid"], nested["subgroup"]["uid"]) == (done["group"].id,
                                                                  done["nested"].id)
    added = events[("Add member to group", 3)]
    assert (added["group"]["uid"], added["user"]["uid"]) == (done["group"].id, done["alice"].id)
    removed = singles["Remove member from group"]
    assert (removed["group"]["uid"], removed["user"]["uid"]) == (done["group"].id,
                                                                 done["alice"].id)
    failed = singles["Reset user password"]
    assert (failed["status_id"], failed["status_detail"]) == (
        2, "Password does not meet complexity requirements")
    assert singles["Add app role assignment to service principal"]["user"]["uid"] == \
        done["client"].id
    assert singles["Consent to application"]["privileges"] == ["User.Read", "Mail.Read"]
    assert singles["Delete group"]["group"]["uid"] == done["doomed"].id
    assert singles["Add group"]["group"] == {"uid": done["created"].id, "name": "SG-Audit-New"}


def test_pages_follow_the_page_size_and_ascending_order_is_honoured(
        tenant: SimulatedGraph) -> None:
    since = start_of(tenant)
    mutate(tenant)
    pages, requests = read(tenant, since, query=AuditQuery(page_size=3))
    total = len(records_of(pages))
    assert [len(p) for p in pages[:-1]] == [3] * (len(pages) - 1)
    assert len(pages) == requests == math.ceil(total / 3)
    ascending = records_of(read(tenant, since, query=AuditQuery(ascending=True))[0])
    assert [r["id"] for r in ascending] == [r["id"] for r in reversed(records_of(pages))]


def test_the_window_and_the_service_filter_select_the_records(tenant: SimulatedGraph) -> None:
    t = tenant.tenant
    before = datetime.now(UTC)
    t.add_audit_history(50, since=before - timedelta(hours=3), until=before - timedelta(hours=1),
                        seed=1)
    records = records_of(read(tenant, before - timedelta(hours=2), before)[0])
    truth = [r for r in t.audit.records
             if before - timedelta(hours=2) <= r.when.replace(microsecond=0) <= before]
    assert sorted(r["id"] for r in records) == sorted(r.id for r in truth)
    methods = records_of(read(tenant, before - timedelta(hours=3), before,
                              AuditQuery(services=("Authentication Methods",)))[0])
    assert methods and {r["loggedByService"] for r in methods} == {"Authentication Methods"}


def test_a_late_record_is_listed_by_a_later_listing_only(tenant: SimulatedGraph) -> None:
    since = start_of(tenant)
    t = tenant.tenant
    t.audit_lag_listings = 1
    user = t.users()[5]
    t.update_user(user.id, jobTitle="Late")
    t.audit_lag_listings = 0
    assert read(tenant, since)[0] == [[]]
    assert [r["targetResources"][0]["id"] for r in records_of(read(tenant, since)[0])] == \
        [user.id]


def test_an_application_initiator_is_the_actor(tenant: SimulatedGraph) -> None:
    since = start_of(tenant)
    t = tenant.tenant
    sp = t.service_principals[0]
    t.audit_app = App(sp.app_id, sp.name, sp.id)
    t.disable_user(t.users()[3].id)
    t.audit_app = None
    record = records_of(read(tenant, since)[0])[0]
    event = directory_audit.to_event(record, tenant_id="t", product=PRODUCT)
    assert event["actor"]["app_uid"] == sp.app_id
    assert event["actor"]["user"]["uid"] == sp.id
    assert "src_endpoint" not in event


@pytest.mark.parametrize(("licence", "days"), [("free", 7), ("P1", 30)])
def test_records_older_than_the_licence_retention_are_not_listed(
        make_sim: MakeSim, licence: str, days: int) -> None:
    sim = make_sim(seed=17, users=50, licence=licence)
    now = datetime.now(UTC)
    sim.tenant.add_audit_history(200, since=now - timedelta(days=40), until=now, seed=2)
    records = records_of(read(sim, now - timedelta(days=45), now + timedelta(seconds=2),
                              AuditQuery(page_size=999))[0])
    oldest = min(datetime.fromisoformat(r["activityDateTime"].replace("0Z", "+00:00"))
                 for r in records)
    assert now - timedelta(days=days, minutes=1) <= oldest
    assert len(records) == sum(1 for r in sim.tenant.audit.records
                               if r.when >= now - timedelta(days=days))


def test_without_auditlog_read_all_graph_refuses_with_authorization_denied(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=18, users=50,
                   permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    with pytest.raises(GraphError) as refused:
        read(sim, datetime.now(UTC) - timedelta(days=1))
    assert (refused.value.status, refused.value.code) == (403, "Authorization_RequestDenied")


def test_the_documented_operators_only_are_accepted_on_activity_date_time(
        tenant: SimulatedGraph) -> None:
    async def work(client: GraphClient) -> int:
        try:
            await client.get_json("/auditLogs/directoryAudits?$filter=activityDateTime gt "
                                  "2026-01-01T00:00:00Z")
        except GraphError as error:
            return error.status
        return 200
    assert _run(tenant, work)[0] == 400
