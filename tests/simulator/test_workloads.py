"""Workload identities in the simulated tenant: generation with realistic variety, the Graph
routes (`/servicePrincipals` and relationships, `/applications`, `/oauth2PermissionGrants`,
delta, the /beta sign-in activity report), their refusals, and mutations of every kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from entrasim.tenant import Tenant
from entrasim.workloads import GRAPH_APP_ID, MICROSOFT_TENANT
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

DIRECTORY = DEFAULT_PERMISSIONS | {"Directory.Read.All"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=61, users=200, permissions=DIRECTORY)) as running:
        yield running


def test_the_count_defaults_to_one_per_twenty_users_and_at_least_24() -> None:
    assert len(Tenant(TenantSpec(users=100)).workloads.truth()) == 24
    assert len(Tenant(TenantSpec(users=1000)).workloads.truth()) == 50
    assert len(Tenant(TenantSpec(users=100, service_principals=40)).workloads.truth()) == 40


def test_workloads_are_generated_only_when_read() -> None:
    tenant = Tenant(TenantSpec(users=100))
    assert "_workloads" not in tenant.__dict__
    assert tenant.workloads is tenant.workloads


def test_the_population_is_varied() -> None:
    truth = Tenant(TenantSpec(seed=5, users=2000)).workloads.truth().values()
    assert {t.origin for t in truth} == {"first_party", "this_tenant", "third_party", "managed_identity", None}
    assert {t.sp_type for t in truth} == {"Application", "ManagedIdentity", "Legacy"}
    assert {t.sso_mode for t in truth} >= {None, "saml", "oidc"}
    first_party = [t for t in truth if t.origin == "first_party" and t.name not in
                   ("Microsoft Graph", "Office 365 Exchange Online", "Office 365 SharePoint Online")]
    assert first_party and all(not t.credentials for t in first_party)
    ends = [end for t in truth for kind, _start, end in t.credentials.values()]
    as_of = "2026-11-01T08:00:00Z"
    assert any(e < as_of for e in ends), "some credential has expired"
    assert any(as_of < e < "2026-12-01T08:00:00Z" for e in ends), "some expires within 30 days"
    assert any(t.roster_users and t.roster_groups for t in truth)
    assert any(t.tenant_wide for t in truth) and any(t.consent_users for t in truth)
    assert any(("Microsoft Graph", "Directory.ReadWrite.All") in t.app_permissions for t in truth)
    assert any(t.origin == "this_tenant" and not t.owners for t in truth)


def test_the_connector_holds_its_granted_permissions_as_app_role_assignments(sim: SimulatedGraph) -> None:
    truth = sim.tenant.workloads.truth()
    mine = next(t for t in truth.values() if t.app_id == sim.spec.client_id)
    assert {p for _r, p in mine.app_permissions} >= set(DEFAULT_PERMISSIONS) - {"Directory.Read.All"}


def test_listing_pages_by_id_and_returns_every_service_principal_once(sim: SimulatedGraph,
                                                                      graph: GraphClient) -> None:
    items = list_all(graph(sim), "/servicePrincipals", params={"$top": "5", "$select": "id,appId"})
    assert sorted(i["id"] for i in items) == sorted(sim.tenant.workloads.truth())
    assert all(set(i) == {"id", "appId"} for i in items)


def test_an_expanded_relationship_stops_at_twenty(sim: SimulatedGraph, graph: GraphClient) -> None:
    items = list_all(graph(sim), "/servicePrincipals",
                     params={"$select": "id", "$expand": "appRoleAssignedTo", "$top": "999"})
    truth = sim.tenant.workloads
    for item in items:
        full = truth.assigned_to(truth.sps[item["id"]])
        assert len(item["appRoleAssignedTo"]) == min(20, len(full))


def test_two_expansions_in_one_request_are_refused(sim: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim).get("/servicePrincipals", params={"$expand": "owners,appRoleAssignments"})
    assert reply.status_code == 400


def test_the_roster_relationship_lists_users_and_groups(sim: SimulatedGraph, graph: GraphClient) -> None:
    truth = sim.tenant.workloads.truth()
    sp_id, expected = next((k, t) for k, t in truth.items() if t.roster_users > 20)
    items = list_all(graph(sim), f"/servicePrincipals/{sp_id}/appRoleAssignedTo")
    kinds = [i["principalType"] for i in items]
    assert (kinds.count("User"), kinds.count("Group")) == (expected.roster_users, expected.roster_groups)


def test_grants_need_directory_read_all(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(seed=62)
    assert graph(sim).get("/oauth2PermissionGrants").status_code == 403
    assert graph(sim).get("/servicePrincipals").status_code == 200


def test_grants_list_tenant_wide_and_per_user_consents(sim: SimulatedGraph, graph: GraphClient) -> None:
    grants = list_all(graph(sim), "/oauth2PermissionGrants", params={"$top": "999"})
    assert {g["consentType"] for g in grants} == {"AllPrincipals", "Principal"}
    assert all((g["principalId"] is None) == (g["consentType"] == "AllPrincipals") for g in grants)


def test_the_sign_in_activity_report_is_beta_premium_and_reporting(make_sim: MakeSim, graph: GraphClient) -> None:
    free = make_sim(seed=63, licence="free")
    client = graph(free)
    assert client.get(free.url + "/beta/reports/servicePrincipalSignInActivities").status_code == 403
    p1 = make_sim(seed=63, licence="P1")
    reply = graph(p1).get(p1.url + "/beta/reports/servicePrincipalSignInActivities")
    assert reply.status_code == 200 and reply.json()["value"][0]["lastSignInActivity"]["lastSignInDateTime"]
    assert p1.counters.snapshot()["GET /beta/reports/servicePrincipalSignInActivities"]["reporting"] == 1


def test_the_connector_registration_still_reports_its_secret(sim: SimulatedGraph, graph: GraphClient) -> None:
    apps = graph(sim).get("/applications", params={"$filter": f"appId eq '{sim.spec.client_id}'"}).json()["value"]
    assert len(apps) == 1 and apps[0]["passwordCredentials"][0]["hint"] == sim.spec.client_secret[:3]


def delta_round(client: object, url: str) -> tuple[list[dict[str, object]], str]:
    items: list[dict[str, object]] = []
    while True:
        page = client.get(url).json()  # type: ignore[attr-defined]
        items.extend(page["value"])
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def test_delta_reports_property_changes_and_deletions_but_not_relations(make_sim: MakeSim,
                                                                        graph: GraphClient) -> None:
    sim = make_sim(seed=64, permissions=DIRECTORY)
    client = graph(sim)
    _, sp_link = delta_round(client, "/servicePrincipals/delta?$select=id,accountEnabled,keyCredentials")
    _, app_link = delta_round(client, "/applications/delta?$select=id,passwordCredentials")
    w = sim.tenant.workloads
    lob = [s for s in w.service_principals() if s.kind == "lob" and s.app is not None]
    saas = next(s for s in w.service_principals() if s.kind == "saas")
    w.disable(lob[0].id)
    w.delete(lob[1].id)
    key = w.add_credential(lob[2].id)
    w.grant_permission(lob[3].id, "Mail.ReadWrite")
    w.assign(saas.id, sim.tenant.users()[5].id)
    changed, _ = delta_round(client, sp_link)
    assert {(c["id"], "@removed" in c) for c in changed} == {(lob[0].id, False), (lob[1].id, True)}
    apps, _ = delta_round(client, app_link)
    assert [a["id"] for a in apps] == [lob[2].app.id]  # type: ignore[union-attr]
    assert key in {c["keyId"] for c in apps[0]["passwordCredentials"]}  # type: ignore[union-attr]


def test_relation_changes_are_in_the_audit_log_with_the_service_principal_as_target(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=65)
    w = sim.tenant.workloads
    saas = next(s for s in w.service_principals() if s.kind == "saas")
    w.consent(saas.id, "User.Read", user_id=sim.tenant.users()[3].id)
    w.assign(saas.id, sim.tenant.groups()[0].id)
    w.add_owner(saas.id, sim.tenant.users()[4].id)
    records = [r for r in sim.tenant.audit.records if r.category == "ApplicationManagement"]
    assert [r.activity for r in records] == ["Consent to application", "Add app role assignment grant to group",
                                            "Add owner to service principal"]
    assert all(any(t.id == saas.id for t in r.targets) for r in records)


def test_mutations_change_the_truth(make_sim: MakeSim) -> None:
    sim = make_sim(seed=66)
    w = sim.tenant.workloads
    saas = next(s for s in w.service_principals() if s.kind == "saas")
    user = sim.tenant.users()[7]
    before = w.expected(saas)
    w.assign(saas.id, user.id)
    w.consent(saas.id, "Mail.Read", user_id=user.id)
    w.grant_permission(saas.id, "Mail.Read")
    w.add_owner(saas.id, user.id)
    after = w.expected(saas)
    assert after.roster_users == before.roster_users + 1
    assert after.consent_users == before.consent_users + 1
    assert ("Microsoft Graph", "Mail.Read") in after.app_permissions
    assert user.id in after.owners
    assert saas.id in w.sso_apps_of(user)
    w.unassign(saas.id, user.id)
    assert w.expected(saas).roster_users == before.roster_users
    w.delete(saas.id)
    assert saas.id not in w.truth() and w.truth(include_deleted=True)[saas.id].deleted


def test_first_party_service_principals_belong_to_microsoft(sim: SimulatedGraph, graph: GraphClient) -> None:
    found = graph(sim).get("/servicePrincipals", params={"$filter": f"appId eq '{GRAPH_APP_ID}'",
                                                         "$select": "id,appOwnerOrganizationId,appRoles"}).json()
    assert found["value"][0]["appOwnerOrganizationId"] == MICROSOFT_TENANT
    assert "Mail.ReadWrite" in {r["value"] for r in found["value"][0]["appRoles"]}
