"""Change tracking as Graph models it: users/delta and groups/delta shapes, deleted items, the
directory audit log for MFA changes, risk and sign-in filters, mixed changes and ground truth."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from entrasim import SimulatedGraph
from entrasim.mixed_changes import KINDS
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

Item = dict[str, Any]


def delta_round(client: httpx.Client, url: str) -> tuple[list[Item], str]:
    items: list[Item] = []
    while True:
        reply = client.get(url, headers={"Prefer": "odata.maxpagesize=999"})
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert not ("@odata.nextLink" in page and "@odata.deltaLink" in page)
        items.extend(page["value"])
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def latest(client: httpx.Client, path: str) -> str:
    reply = client.get(path + ("&" if "?" in path else "?") + "$deltatoken=latest")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["value"] == [] and "@odata.nextLink" not in body
    link: str = body["@odata.deltaLink"]
    return link


def members(user: Any) -> bool:
    return not user.is_guest and user.deleted is None


@pytest.fixture()
def sim(make_sim: MakeSim) -> SimulatedGraph:
    return make_sim(users=300, seed=11)


# ---- users/delta -----------------------------------------------------------------------
def test_latest_token_starts_tracking_without_listing_the_tenant(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName")
    user = sim.tenant.users()[5]
    sim.tenant.update_user(user.id, displayName="Renamed Person")
    changes, _ = delta_round(client, link)
    assert changes == [{"displayName": "Renamed Person", "id": user.id}]


def test_a_changed_user_comes_back_with_every_selected_property(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName,jobTitle,department,accountEnabled")
    user = next(u for u in sim.tenant.users() if members(u) and u.enabled)
    sim.tenant.update_user(user.id, jobTitle="Chief Tester")
    (item,), _ = delta_round(client, link)
    assert item == {"displayName": user.display, "jobTitle": "Chief Tester", "department": user.department,
                    "accountEnabled": True, "id": user.id}


def test_changes_to_unselected_properties_do_not_bring_a_user_back(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName")
    user = next(u for u in sim.tenant.users() if members(u))
    sim.tenant.update_user(user.id, officeLocation="Mars Base")
    assert delta_round(client, link)[0] == []


def test_every_profile_field_and_account_state_reaches_users_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    fields = ("displayName,userPrincipalName,mail,department,jobTitle,employeeId,employeeType,"
              "employeeHireDate,employeeOrgData,userType,officeLocation,companyName,accountEnabled")
    link = latest(client, f"/users/delta?$select={fields}")
    targets = [u for u in sim.tenant.users() if members(u)][:14]
    values: dict[str, Any] = {
        "displayName": "New Name", "userPrincipalName": "moved@contoso.com", "mail": "moved@contoso.com",
        "department": "Research", "jobTitle": "Analyst", "employeeId": "424242", "employeeType": "Vendor",
        "employeeHireDate": "2026-02-01T00:00:00Z", "employeeOrgData": {"costCenter": "CC-9", "division": "X"},
        "userType": "Guest", "officeLocation": "Lisbon", "companyName": "Fabrikam", "accountEnabled": False,
    }
    for user, (name, value) in zip(targets, values.items(), strict=False):
        sim.tenant.update_user(user.id, **{name: value})
    changes, _ = delta_round(client, link)
    by_id = {c["id"]: c for c in changes}
    for user, (name, value) in zip(targets, values.items(), strict=False):
        assert by_id[user.id][name] == value, name
    assert sim.tenant.user("moved@contoso.com") is not None


def test_manager_changes_travel_as_manager_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName,manager")
    staff = [u for u in sim.tenant.users() if members(u)]
    sim.tenant.set_manager(staff[0].id, staff[1].id)
    with_manager = next(u for u in staff[2:] if u.manager is not None)
    former = with_manager.manager
    assert former is not None
    sim.tenant.set_manager(with_manager.id, None)
    by_id = {c["id"]: c for c in delta_round(client, link)[0]}
    assert by_id[staff[0].id]["manager@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": staff[1].id}]
    assert by_id[with_manager.id]["manager@delta"] == [
        {"@odata.type": "#microsoft.graph.user", "id": former.id, "@removed": {"reason": "deleted"}}]


def test_soft_hard_delete_and_restore_carry_graphs_removed_reasons(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName")
    soft, hard, restored = [u for u in sim.tenant.users() if members(u)][:3]
    sim.tenant.delete_user(soft.id)
    sim.tenant.delete_user(hard.id, permanent=True)
    sim.tenant.delete_user(restored.id)
    changes, link = delta_round(client, link)
    by_id = {c["id"]: c for c in changes}
    assert by_id[soft.id] == {"id": soft.id, "@removed": {"reason": "changed"}}
    assert by_id[hard.id] == {"id": hard.id, "@removed": {"reason": "deleted"}}
    sim.tenant.restore_user(restored.id)
    assert delta_round(client, link)[0] == [{"displayName": restored.display, "id": restored.id}]


def test_memberships_roles_mfa_risk_and_sign_ins_stay_out_of_users_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta")
    t = sim.tenant
    user = next(u for u in t.users() if members(u) and "fido2SecurityKey" not in u.method_names())
    group = next(g for g in t.groups() if g not in user.groups and not g.role_assignable)
    t.add_to_group(user.id, group.id)
    t.assign_role(user.id, "User Administrator")
    t.register_method(user.id, "fido2SecurityKey")
    t.set_risk(user.id, "high")
    t.set_sign_in(user.id, datetime.now(UTC))
    assert delta_round(client, link)[0] == []


def test_delta_refuses_what_graph_refuses(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    for params in ({"$top": "5"}, {"$orderby": "displayName"}, {"$expand": "manager"},
                   {"$filter": "displayName eq 'x'"}, {"$select": "id,signInActivity"}):
        assert client.get("/users/delta", params=params).status_code == 400, params


def test_an_id_filter_tracks_only_those_users(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    a, b, c = sim.tenant.users()[:3]
    items, link = delta_round(client, f"/users/delta?$filter=id eq '{a.id}' or id eq '{b.id}'")
    assert {i["id"] for i in items} == {a.id, b.id}
    sim.tenant.disable_user(c.id)
    sim.tenant.disable_user(a.id)
    assert [i["id"] for i in delta_round(client, link)[0]] == [a.id]


def test_initial_round_pages_with_next_links_and_ends_with_one_delta_link(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    reply = client.get("/users/delta", params={"$select": "id"}).json()
    assert len(reply["value"]) == 200 and "/users/delta()?$skiptoken=" in reply["@odata.nextLink"]
    items, link = delta_round(client, "/users/delta?$select=id")
    assert len({i["id"] for i in items}) == 300 and "$deltatoken=" in link


def test_replays_repeat_users_already_reported_when_enabled(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName")
    first = sim.tenant.users()[0]
    sim.tenant.update_user(first.id, displayName="Once")
    _, link = delta_round(client, link)
    sim.tenant.delta_replays = True
    assert [i["id"] for i in delta_round(client, link)[0]] == [first.id]


def test_an_expired_group_delta_link_is_refused_too(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/groups/delta?$select=displayName,members")
    sim.tenant.expire_delta_tokens()
    reply = client.get(link)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "syncStateNotFound"


def test_a_next_link_of_a_round_cut_by_expiry_is_refused(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    page = client.get("/users/delta", params={"$select": "id"}).json()
    sim.tenant.expire_delta_tokens()
    assert client.get(page["@odata.nextLink"]).status_code == 400


# ---- groups/delta ----------------------------------------------------------------------
def test_initial_group_round_lists_every_group_with_its_members(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    items, _ = delta_round(client, "/groups/delta?$select=displayName,members")
    merged: dict[str, set[str]] = {}
    for item in items:
        merged.setdefault(item["id"], set()).update(m["id"] for m in item.get("members@delta", []))
    for g in sim.tenant.groups():
        assert merged[g.id] == {u.id for u in g.members} | {c.id for c in g.member_groups}


def test_a_large_group_is_split_over_pages(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5000, seed=3)
    client = graph(sim)
    items, _ = delta_round(client, "/groups/delta?$select=displayName,members")
    everyone = next(g for g in sim.tenant.groups() if g.name == "All Company")
    chunks = [i for i in items if i["id"] == everyone.id]
    assert len(chunks) >= 2
    assert {m["id"] for c in chunks for m in c["members@delta"]} == {u.id for u in everyone.members}


def test_membership_changes_come_as_members_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/groups/delta?$select=displayName,members")
    t = sim.tenant
    group = next(g for g in t.groups() if not g.role_assignable and len(g.members) > 1)
    leaving = group.members[0]
    joining = next(u for u in t.users() if members(u) and group not in u.groups)
    t.remove_from_group(leaving.id, group.id)
    t.add_to_group(joining.id, group.id)
    (item,), _ = delta_round(client, link)
    assert item["id"] == group.id and item["displayName"] == group.name
    assert sorted(item["members@delta"], key=lambda m: m["id"]) == sorted([
        {"@odata.type": "#microsoft.graph.user", "id": joining.id},
        {"@odata.type": "#microsoft.graph.user", "id": leaving.id, "@removed": {"reason": "deleted"}},
    ], key=lambda m: m["id"])


def test_a_deleted_user_leaves_its_groups_in_groups_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/groups/delta?$select=members")
    user = next(u for u in sim.tenant.users() if members(u) and u.groups)
    groups = {g.id for g in user.groups}
    sim.tenant.delete_user(user.id)
    items, _ = delta_round(client, link)
    assert {i["id"] for i in items} == groups
    assert all(set(i) == {"id", "members@delta"} for i in items)
    assert all(i["members@delta"] == [{"@odata.type": "#microsoft.graph.user", "id": user.id,
                                       "@removed": {"reason": "deleted"}}] for i in items)


def test_deleted_groups_are_removed_changed_for_m365_and_deleted_for_security(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=2000, seed=11)
    client = graph(sim)
    link = latest(client, "/groups/delta?$select=displayName,members")
    t = sim.tenant
    m365 = next(g for g in t.groups() if g.kind == "m365" and g.name != "All Company")
    security = next(g for g in t.groups() if g.kind == "security" and not g.role_assignable)
    member = m365.members[0] if m365.members else None
    t.delete_group(m365.id)
    t.delete_group(security.id)
    by_id = {i["id"]: i for i in delta_round(client, link)[0]}
    assert by_id[m365.id] == {"id": m365.id, "@removed": {"reason": "changed"}}
    assert by_id[security.id] == {"id": security.id, "@removed": {"reason": "deleted"}}
    if member is not None:
        assert (m365.id, m365.name) not in t.expected(member.id).groups


def test_a_role_assignable_group_deletion_ends_the_roles_it_gave(sim: SimulatedGraph) -> None:
    t = sim.tenant
    group = next(g for g in t.groups() if g.name == "SG-Helpdesk-Admins")
    user = group.members[0]
    assert "Helpdesk Administrator" in t.expected(user.id).roles
    t.delete_group(group.id)
    assert "Helpdesk Administrator" not in t.expected(user.id).roles


def test_a_renamed_group_comes_back_without_members_delta(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/groups/delta?$select=displayName,members")
    group = sim.tenant.groups()[5]
    sim.tenant.rename_group(group.id, "Renamed")
    (item,), _ = delta_round(client, link)
    assert item["displayName"] == "Renamed" and "members@delta" not in item


# ---- deleted items ---------------------------------------------------------------------
def test_deleted_items_list_soft_deleted_users_with_their_deletion_time(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    soft, hard = [u for u in sim.tenant.users() if members(u)][:2]
    when = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    sim.tenant.delete_user(soft.id, deleted_at=when)
    sim.tenant.delete_user(hard.id, permanent=True)
    items = list_all(client, "/directory/deletedItems/microsoft.graph.user",
                     params={"$select": "id,displayName,userPrincipalName,deletedDateTime"})
    assert items == [{"id": soft.id, "displayName": soft.display, "userPrincipalName": soft.upn,
                      "deletedDateTime": "2026-11-20T09:30:00Z"}]
    one = client.get(f"/directory/deletedItems/{soft.id}").json()
    assert one["@odata.type"] == "#microsoft.graph.user" and one["deletedDateTime"] == "2026-11-20T09:30:00Z"
    assert client.get(f"/directory/deletedItems/{hard.id}").status_code == 404
    assert client.get(f"/directory/deletedItems/{sim.tenant.users()[3].id}").status_code == 404
    assert client.get("/directory/deletedItems").status_code == 400


def test_deleted_items_page_with_next_links(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    for u in [u for u in sim.tenant.users() if members(u)][:7]:
        sim.tenant.delete_user(u.id)
    first = client.get("/directory/deletedItems/microsoft.graph.user", params={"$top": "5"}).json()
    assert len(first["value"]) == 5 and "@odata.nextLink" in first
    assert len(list_all(client, "/directory/deletedItems/microsoft.graph.user", params={"$top": "5"})) == 7


def test_restore_and_hard_delete_move_users_out_of_deleted_items(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    a, b = [u for u in sim.tenant.users() if members(u) and u.groups][:2]
    groups_before = sim.tenant.expected(a.id).groups
    sim.tenant.delete_user(a.id)
    sim.tenant.delete_user(b.id)
    assert sim.tenant.deleted_truth()[a.id].deleted == "soft"
    sim.tenant.restore_user(a.id)
    sim.tenant.delete_user(b.id, permanent=True)
    assert list_all(client, "/directory/deletedItems/microsoft.graph.user") == []
    assert client.get(f"/users/{a.id}").status_code == 200
    assert sim.tenant.expected(a.id).groups == groups_before
    truth = sim.tenant.truth(include_deleted=True)
    assert truth[a.id].deleted is None and truth[b.id].deleted == "hard"
    assert not truth[b.id].groups and not truth[b.id].roles


def test_deleted_users_past_thirty_days_are_purged(sim: SimulatedGraph) -> None:
    old, recent = [u for u in sim.tenant.users() if members(u)][:2]
    sim.tenant.delete_user(old.id, deleted_at=datetime.now(UTC) - timedelta(days=31))
    sim.tenant.delete_user(recent.id)
    assert sim.tenant.purge_expired_deleted() == [old.id]
    assert sim.tenant.deleted_truth()[old.id].deleted == "hard"
    assert sim.tenant.deleted_truth()[recent.id].deleted == "soft"


# ---- MFA, risk and sign-in change sources ------------------------------------------------
def test_mfa_changes_write_the_audit_records_graph_writes(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    since = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = next(u for u in sim.tenant.users() if members(u) and "fido2SecurityKey" not in u.method_names())
    sim.tenant.register_method(user.id, "fido2SecurityKey")
    sim.tenant.remove_method(user.id, "fido2SecurityKey", by_admin=True)
    sim.tenant.disable_user(user.id)
    flt = f"activityDateTime ge {since} and loggedByService eq 'Authentication Methods'"
    records = list_all(client, "/auditLogs/directoryAudits", params={"$filter": flt})
    assert [r["activityDisplayName"] for r in records] == ["Admin deleted security info", "User registered security info"]
    for r in records:
        assert r["category"] == "UserManagement" and r["result"] == "success"
        assert r["targetResources"][0]["id"] == user.id and r["targetResources"][0]["type"] == "User"
    assert records[1]["initiatedBy"]["user"]["id"] == user.id
    assert sim.counters.snapshot()["GET /auditLogs/directoryAudits"]["reporting"] == 1


def test_set_mfa_records_each_method_added_or_removed(sim: SimulatedGraph) -> None:
    user = next(u for u in sim.tenant.users() if members(u) and u.method_names())
    before = set(user.method_names())
    sim.tenant.set_mfa(user.id, ["softwareOneTimePasscode"])
    written = {(r.activity, dict(r.details)["Method"]) for r in sim.tenant.audit.records if r.targets[0].id == user.id}
    expected = {("User deleted security info", m) for m in before - {"softwareOneTimePasscode"}}
    expected |= {("User registered security info", "softwareOneTimePasscode")} - (
        {("User registered security info", "softwareOneTimePasscode")} if "softwareOneTimePasscode" in before else set())
    assert written == expected


def test_risky_users_filter_on_risk_last_updated(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    since = (datetime.now(UTC) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    user = next(u for u in sim.tenant.users() if members(u) and u.risk is None)
    sim.tenant.set_risk(user.id, "high")
    items = list_all(client, "/identityProtection/riskyUsers",
                     params={"$filter": f"riskLastUpdatedDateTime gt {since}"})
    assert [(i["id"], i["riskLevel"], i["riskState"]) for i in items] == [(user.id, "high", "atRisk")]
    assert sim.tenant.expected(user.id).risk_level == "high"


def test_sign_in_filter_lists_only_users_who_signed_in_since(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    ids = set(sim.tenant.sign_in_many(40, seed=1, when=when))
    items = list_all(client, "/users", params={
        "$filter": "signInActivity/lastSignInDateTime ge 2026-11-29T00:00:00Z",
        "$select": "id,signInActivity", "$top": "500"})
    assert {i["id"] for i in items} == ids
    assert all(i["signInActivity"]["lastSignInDateTime"] == "2026-11-29T12:00:00Z" for i in items)
    assert sim.counters.snapshot()["GET /users"]["reporting"] >= 1


def test_sign_in_filter_needs_a_premium_licence(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, licence="free")
    reply = graph(sim).get("/users", params={"$filter": "signInActivity/lastSignInDateTime ge 2026-11-29T00:00:00Z"})
    assert reply.status_code == 403


# ---- mixed changes, ground truth, scale ---------------------------------------------------
def test_mixed_changes_cover_every_kind_and_are_deterministic(make_sim: MakeSim) -> None:
    first = make_sim(users=400, seed=5).tenant.apply_mixed_changes(len(KINDS) * 2, seed=9)
    again = make_sim(users=400, seed=5).tenant.apply_mixed_changes(len(KINDS) * 2, seed=9)
    assert {c.kind for c in first} == set(KINDS)
    strip = [(c.kind, c.detail) for c in first if not c.kind.startswith("new_user")]
    assert strip == [(c.kind, c.detail) for c in again if not c.kind.startswith("new_user")]


def test_mixed_changes_show_in_the_ground_truth(sim: SimulatedGraph) -> None:
    before = sim.tenant.truth(include_deleted=True)
    changes = sim.tenant.apply_mixed_changes(len(KINDS), seed=2)
    after = sim.tenant.truth(include_deleted=True)
    for change in changes:
        if change.kind == "restore":  # of a user deleted for the purpose when none waited
            continue
        for uid in change.users:
            assert before.get(uid) != after.get(uid), change
    kinds = {c.kind: c for c in changes}
    assert after[kinds["soft_delete"].object_id].deleted == "soft"
    assert after[kinds["hard_delete"].object_id].deleted == "hard"
    assert after[kinds["restore"].object_id].deleted is None


def test_mixed_changes_reach_users_delta_when_graph_reports_them(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName,accountEnabled,jobTitle,department,manager,"
                          "userPrincipalName,mail,employeeId,employeeType,employeeHireDate,employeeOrgData,"
                          "officeLocation,companyName,userType")
    changes = sim.tenant.apply_mixed_changes(len(KINDS), seed=4, late_listings=0)
    time.sleep(0.01)
    reported = {i["id"] for i in delta_round(client, link)[0]}
    graph_reports = {"profile", "manager", "disable", "enable", "soft_delete", "hard_delete", "restore", "new_user",
                     "new_user_late"}
    for change in changes:
        if change.kind in graph_reports:
            assert change.object_id in reported, change
    assert kinds_outside(changes, graph_reports | {"group_delete"}).isdisjoint(reported)


def kinds_outside(changes: list[Any], kinds: set[str]) -> set[str]:
    reported_elsewhere = {c.object_id for c in changes if c.kind in kinds}
    return {c.object_id for c in changes if c.kind not in kinds} - reported_elsewhere


def test_expected_user_carries_every_profile_field(sim: SimulatedGraph) -> None:
    user = next(u for u in sim.tenant.users() if members(u) and u.department)
    sim.tenant.update_user(user.id, employeeHireDate="2025-03-01T00:00:00Z", companyName="Fabrikam")
    e = sim.tenant.expected(user.id)
    assert e.employee_hire_date == datetime(2025, 3, 1, tzinfo=UTC) and e.company_name == "Fabrikam"
    assert e.department == user.department and e.employee_org_data is not None
    assert e.user_type == "Member" and e.deleted is None


def test_a_delta_round_after_a_hundred_changes_is_one_cheap_request(make_sim: MakeSim, graph: GraphClient) -> None:
    started = time.perf_counter()
    sim = make_sim(users=100_000, seed=1)
    generated = time.perf_counter() - started
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName,accountEnabled")
    sim.tenant.apply_mixed_changes(100, seed=1)
    sim.counters.reset()
    items, _ = delta_round(client, link)
    assert sim.counters.totals()["requests"] == 1 and 0 < len(items) <= 100
    print(f"100k tenant generated in {generated:.1f}s")


def test_a_late_user_does_not_hold_back_other_changes(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    link = latest(client, "/users/delta?$select=displayName")
    late = sim.tenant.add_user(display_name="Late Arrival", visible_after_listings=1)
    other = sim.tenant.users()[0]
    sim.tenant.update_user(other.id, displayName="Not Held Back")
    changes, link = delta_round(client, link)
    assert [c["id"] for c in changes] == [other.id]
    list_all(client, "/users", params={"$top": "999"})
    list_all(client, "/users", params={"$top": "999"})
    assert [c["id"] for c in delta_round(client, link)[0]] == [late.id]


def test_deleted_items_answer_inside_batch(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    user = sim.tenant.users()[4]
    sim.tenant.delete_user(user.id)
    reply = client.post("/$batch", json={"requests": [
        {"id": "1", "method": "GET", "url": f"/directory/deletedItems/{user.id}?$select=id,deletedDateTime"},
        {"id": "2", "method": "GET", "url": f"/directory/deletedItems/{sim.tenant.users()[0].id}"}]})
    by_id = {r["id"]: r for r in reply.json()["responses"]}
    assert by_id["1"]["status"] == 200 and by_id["1"]["body"]["deletedDateTime"] is not None
    assert by_id["2"]["status"] == 404


def test_restoring_through_graph_needs_a_write_permission(make_sim: MakeSim, graph: GraphClient) -> None:
    from entrasim import DEFAULT_PERMISSIONS

    writer = make_sim(users=30, permissions=DEFAULT_PERMISSIONS | {"User.ReadWrite.All"})
    reader = make_sim(users=30)
    for sim, status in ((reader, 403), (writer, 200)):
        user = sim.tenant.users()[2]
        sim.tenant.delete_user(user.id)
        assert graph(sim).post(f"/directory/deletedItems/{user.id}/restore").status_code == status
    assert writer.tenant.deleted_users() == [] and len(reader.tenant.deleted_users()) == 1


def test_the_registration_report_cannot_be_filtered_on_last_updated(sim: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim).get("/reports/authenticationMethods/userRegistrationDetails",
                           params={"$filter": "lastUpdatedDateTime ge 2026-11-01T00:00:00Z"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_the_registration_report_stamps_a_users_last_method_change(sim: SimulatedGraph, graph: GraphClient) -> None:
    user = next(u for u in sim.tenant.users() if members(u) and u.enabled and "email" not in u.method_names())
    sim.tenant.register_method(user.id, "email")
    row = graph(sim).get(f"/reports/authenticationMethods/userRegistrationDetails/{user.id}").json()
    assert row["lastUpdatedDateTime"] == user.mfa_updated and "email" in row["methodsRegistered"]


def test_control_endpoints_change_the_tenant_from_another_process(sim: SimulatedGraph) -> None:
    from tests.simulator.graph_client import ssl_context

    with httpx.Client(base_url=sim.url, verify=ssl_context(sim)) as control:
        changes = control.post("/_sim/changes", params={"n": "18", "seed": "3"}).json()["changes"]
        assert {c["kind"] for c in changes} == set(KINDS)
        assert control.post("/_sim/sign-ins", params={"n": "10", "seed": "1"}).json()["signed_in"] == 10
        user = sim.tenant.users()[7]
        assert control.post("/_sim/mutate", json={"op": "disable_user", "args": [user.id]}).json() == {"ok": True}
        assert control.post("/_sim/mutate", json={"op": "stop", "args": []}).status_code == 400
        hard = next(c for c in changes if c["kind"] == "hard_delete")["object_id"]
        truth = control.post("/_sim/truth", json={"ids": [user.id, hard, "nobody"]}).json()["users"]
        assert truth[user.id]["enabled"] is False and truth[hard]["deleted"] == "hard" and truth["nobody"] is None
        assert control.post("/_sim/expire-delta-tokens", params={"answer": "reset"}).status_code == 200
    assert sim.tenant.delta_reset_answer == "reset"


def test_a_late_new_user_of_a_mixed_batch_misses_the_next_listing(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    changes = sim.tenant.apply_mixed_changes(len(KINDS), seed=6)
    late = next(c.object_id for c in changes if c.kind == "new_user_late")
    assert late not in {u["id"] for u in list_all(client, "/users", params={"$top": "999"})}
    assert late in {u["id"] for u in list_all(client, "/users", params={"$top": "999"})}


def test_deleted_items_sort_by_deletion_time_as_an_advanced_query(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    a, b = [u for u in sim.tenant.users() if members(u)][:2]
    sim.tenant.delete_user(a.id, deleted_at=datetime(2026, 11, 1, tzinfo=UTC))
    sim.tenant.delete_user(b.id, deleted_at=datetime(2026, 11, 5, tzinfo=UTC))
    url = "/directory/deletedItems/microsoft.graph.user"
    params = {"$orderby": "deletedDateTime desc", "$count": "true", "$select": "id"}
    assert client.get(url, params=params).status_code == 400
    reply = client.get(url, params=params, headers={"ConsistencyLevel": "eventual"}).json()
    assert [i["id"] for i in reply["value"]] == [b.id, a.id] and reply["@odata.count"] == 2
    assert client.get(url, params={"$filter": "displayName eq 'x'"}).status_code == 400


def test_audit_records_can_be_read_oldest_first(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    a, b = [u for u in sim.tenant.users() if members(u)][:2]
    sim.tenant.disable_user(a.id)
    sim.tenant.disable_user(b.id)
    records = list_all(client, "/auditLogs/directoryAudits", params={"$orderby": "activityDateTime asc"})
    assert [r["targetResources"][0]["id"] for r in records][-2:] == [a.id, b.id]
    assert client.get("/auditLogs/directoryAudits", params={"$orderby": "category"}).status_code == 400
