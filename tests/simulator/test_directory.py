"""Relationships, roles, MFA reports, risk, applications and the organisation, as Graph
answers them, checked against the tenant's ground truth."""

from __future__ import annotations

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

REPORT = "/reports/authenticationMethods/userRegistrationDetails"
STRONG_TYPES = {
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "#microsoft.graph.fido2AuthenticationMethod",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod", "#microsoft.graph.softwareOathAuthenticationMethod",
    "#microsoft.graph.hardwareOathAuthenticationMethod", "#microsoft.graph.phoneAuthenticationMethod",
}


def _heavy_user(sim: SimulatedGraph) -> str:
    return next(u.id for u in sim.tenant.truth().values() if len(u.groups) > 20)


def test_member_of_pages_through_all_direct_groups(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    user = _heavy_user(sim_p2)
    items = list_all(graph(sim_p2), f"/users/{user}/memberOf/microsoft.graph.group?$select=id,displayName&$top=10")
    assert {(g["id"], g["displayName"]) for g in items} == sim_p2.tenant.expected(user).groups
    assert all(g["@odata.type"] == "#microsoft.graph.group" for g in items)


def test_member_of_lists_directory_roles_of_direct_assignments(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    admin = sim_p2.tenant.role_members("Global Administrator")[0]
    items = list_all(graph(sim_p2), f"/users/{admin.id}/memberOf?$top=999")
    roles = [i for i in items if i["@odata.type"] == "#microsoft.graph.directoryRole"]
    assert "Global Administrator" in {r["displayName"] for r in roles}


def test_transitive_member_of_includes_roles_held_through_groups(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    group = next(g for g in sim_p2.tenant.groups() if g.name == "SG-Security-Operations")
    member = group.members[0]
    client = graph(sim_p2)
    direct = list_all(client, f"/users/{member.id}/memberOf/microsoft.graph.directoryRole")
    transitive = list_all(client, f"/users/{member.id}/transitiveMemberOf/microsoft.graph.directoryRole")
    assert "Security Administrator" in {r["displayName"] for r in transitive}
    assert len(transitive) >= len(direct)


def test_group_members_page_at_up_to_999_and_cast_to_users(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    everyone = next(g for g in sim_p2.tenant.groups() if g.name == "All Company")
    client = graph(sim_p2)
    assert client.get(f"/groups/{everyone.id}/members", params={"$top": "1000"}).status_code == 400
    users = list_all(client, f"/groups/{everyone.id}/members/microsoft.graph.user?$top=999&$select=id")
    assert len(users) == len(everyone.members) > 999
    assert all(u["@odata.type"] == "#microsoft.graph.user" for u in users)


def test_groups_expand_members_truncates_at_20(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    everyone = next(g for g in sim_p2.tenant.groups() if g.name == "All Company")
    body = graph(sim_p2).get(f"/groups/{everyone.id}", params={"$expand": "members"}).json()
    assert len(body["members"]) == 20 and "members@odata.nextLink" not in body


def test_role_assignments_expand_principal_with_its_type(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    items = list_all(graph(sim_p2), "/roleManagement/directory/roleAssignments?$expand=principal")
    types = {a["principal"]["@odata.type"] for a in items}
    assert {"#microsoft.graph.user", "#microsoft.graph.group", "#microsoft.graph.servicePrincipal"} <= types
    definitions = {d["id"]: d["displayName"] for d in graph(sim_p2).get("/roleManagement/directory/roleDefinitions").json()["value"]}
    assert all(a["roleDefinitionId"] in definitions for a in items)


def test_role_assignments_filter_by_principal(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    admin = sim_p2.tenant.role_members("Global Administrator")[0]
    items = list_all(graph(sim_p2), "/roleManagement/directory/roleAssignments",
                     params={"$filter": f"principalId eq '{admin.id}'"})
    assert items and all(a["principalId"] == admin.id for a in items)


def test_directory_roles_list_activated_roles_and_their_members(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    roles = client.get("/directoryRoles").json()["value"]
    global_admin = next(r for r in roles if r["displayName"] == "Global Administrator")
    members = list_all(client, f"/directoryRoles/{global_admin['id']}/members")
    assert {m["id"] for m in members} == {p.id for p in sim_p2.tenant.role_members("Global Administrator")}


def test_registration_report_leaves_out_disabled_users(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    rows = list_all(graph(sim_p2), REPORT + "?$top=999")
    truth = sim_p2.tenant.truth()
    assert {r["id"] for r in rows} == {u.id for u in truth.values() if u.enabled}
    for row in rows[:200]:
        expected = truth[row["id"]]
        assert set(row["methodsRegistered"]) == expected.mfa_methods
        assert row["isMfaRegistered"] == expected.has_strong_mfa
        assert row["isAdmin"] == bool(expected.roles)
        assert row["userType"] == ("guest" if expected.is_guest else "member")


def test_registration_report_single_user(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    user = next(u for u in sim_p2.tenant.truth().values() if u.enabled)
    row = graph(sim_p2).get(f"{REPORT}/{user.id}").json()
    assert row["userPrincipalName"] == user.upn


def test_free_tenant_refuses_the_registration_report_and_p1_refuses_risky_users(make_sim: MakeSim, graph: GraphClient) -> None:
    free = graph(make_sim(users=10, licence="free")).get(REPORT)
    assert free.status_code == 403
    assert free.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    p1 = graph(make_sim(users=10, licence="P1"))
    assert p1.get(REPORT).status_code == 200
    assert p1.get("/identityProtection/riskyUsers").status_code == 403


def test_authentication_methods_use_graph_types(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    truth = sim_p2.tenant.truth()
    fido = next(u for u in truth.values() if "passKeyDeviceBoundAuthenticator" in u.mfa_methods)
    methods = graph(sim_p2).get(f"/users/{fido.id}/authentication/methods").json()["value"]
    types = {m["@odata.type"] for m in methods}
    assert "#microsoft.graph.passwordAuthenticationMethod" in types
    passkey = next(m for m in methods if m["@odata.type"] == "#microsoft.graph.fido2AuthenticationMethod")
    assert passkey["model"].startswith("Microsoft Authenticator")
    password_only = next(u for u in truth.values() if not u.mfa_methods and not u.is_guest)
    only = graph(sim_p2).get(f"/users/{password_only.id}/authentication/methods").json()["value"]
    assert not {m["@odata.type"] for m in only} & STRONG_TYPES


def test_authentication_methods_need_their_permission(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=10, permissions=DEFAULT_PERMISSIONS - {"UserAuthenticationMethod.Read.All"})
    user = next(iter(sim.tenant.truth()))
    assert graph(sim).get(f"/users/{user}/authentication/methods").status_code == 403


def test_risky_users_on_p2(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    risky = list_all(graph(sim_p2), "/identityProtection/riskyUsers")
    assert risky and {"riskLevel", "riskState", "userPrincipalName"} <= set(risky[0])


def test_applications_report_the_client_secret_end_date(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    apps = graph(sim_p2).get("/applications", params={"$filter": f"appId eq '{sim_p2.spec.client_id}'"}).json()["value"]
    assert len(apps) == 1
    end = sim_p2.spec.secret_end_datetime
    assert end is not None
    assert apps[0]["passwordCredentials"][0]["endDateTime"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_organization_needs_organization_or_directory_read(sim_p2: SimulatedGraph, make_sim: MakeSim, graph: GraphClient) -> None:
    assert graph(sim_p2).get("/organization").status_code == 403
    sim = make_sim(users=10, permissions=DEFAULT_PERMISSIONS | {"Organization.Read.All"})
    org = graph(sim).get("/organization").json()["value"][0]
    assert org["id"] == sim.spec.tenant_id
    assert any(p["servicePlanId"] == "eec0eb4f-6444-4f95-aba0-50c24d67f998" for p in org["assignedPlans"])
