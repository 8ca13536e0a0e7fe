"""`/users` as Graph answers it: paging, `$select`, `$top`, `$filter`, `$count`, `$expand`,
licence and permission refusals, and the mid-listing failures a connector must survive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

EVENTUAL = {"ConsistencyLevel": "eventual"}


def test_paging_a_2500_user_tenant_returns_every_user_exactly_once(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users?$select=id&$top=999")
    ids = [u["id"] for u in users]
    assert len(ids) == len(set(ids)) == 2500
    assert set(ids) == set(sim_p2.tenant.truth())


def test_next_links_are_absolute_and_keep_the_query(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    page = graph(sim_p2).get("/users", params={"$select": "id,displayName", "$top": "5"}).json()
    link = page["@odata.nextLink"]
    assert link.startswith(sim_p2.url + "/v1.0/users?")
    assert "$select=id,displayName" in link and "$top=5" in link and "$skiptoken=" in link
    assert len(page["value"]) == 5


def test_top_above_999_is_refused(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim_p2).get("/users", params={"$top": "1000"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "Request_UnsupportedQuery"
    assert reply.headers["request-id"] == reply.json()["error"]["innerError"]["request-id"]


def test_top_of_zero_is_refused(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    assert graph(sim_p2).get("/users", params={"$top": "0"}).status_code == 400


def test_without_select_graph_returns_its_default_properties(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    user = graph(sim_p2).get("/users", params={"$top": "1"}).json()["value"][0]
    assert set(user) == {"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                         "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}


def test_select_returns_exactly_the_selected_properties_with_nulls(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    fields = "id,userPrincipalName,accountEnabled,userType,createdDateTime,department,employeeId,onPremisesSyncEnabled"
    users = list_all(graph(sim_p2), f"/users?$select={fields}&$top=999")
    assert all(set(u) == set(fields.split(",")) for u in users)
    assert any(u["department"] is None for u in users)
    assert any(u["onPremisesSyncEnabled"] is None for u in users)


def test_unknown_select_property_is_a_bad_request(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim_p2).get("/users", params={"$select": "id,favouriteColour"})
    assert reply.status_code == 400
    assert "favouriteColour" in reply.json()["error"]["message"]


def test_guests_have_ext_upns_and_guest_user_type(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users?$select=id,userPrincipalName,userType,mail&$top=999")
    guests = [u for u in users if u["userType"] == "Guest"]
    assert guests
    assert all("#EXT#@contoso.onmicrosoft.com" in g["userPrincipalName"] for g in guests)
    assert all("#EXT#" not in u["userPrincipalName"] for u in users if u["userType"] == "Member")


def test_many_users_share_a_created_date_time(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users?$select=createdDateTime&$top=999")
    stamps = [u["createdDateTime"] for u in users]
    assert max(stamps.count(s) for s in set(stamps)) > 20


def test_sign_in_activity_pages_hold_at_most_500_users(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    page = graph(sim_p2).get("/users", params={"$select": "id,signInActivity", "$top": "999"}).json()
    assert len(page["value"]) == 500
    assert "@odata.nextLink" in page


def test_never_signed_in_users_have_no_sign_in_activity(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users?$select=id,signInActivity&$top=500")
    truth = sim_p2.tenant.truth()
    never = [u for u in users if truth[u["id"]].last_sign_in is None and truth[u["id"]].last_successful_sign_in is None
             and truth[u["id"]].last_non_interactive_sign_in is None]
    assert never and all("signInActivity" not in u for u in never)
    signed = next(u for u in users if "signInActivity" in u)
    assert set(signed["signInActivity"]) >= {"lastSignInDateTime", "lastSuccessfulSignInDateTime",
                                             "lastNonInteractiveSignInDateTime"}


def test_free_tenant_refuses_sign_in_activity(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(licence="free")
    client = graph(sim)
    refused = client.get("/users", params={"$select": "id,signInActivity"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert client.get("/users", params={"$select": "id"}).status_code == 200


def test_missing_permission_is_authorization_request_denied(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(permissions=DEFAULT_PERMISSIONS - {"User.Read.All"})
    reply = graph(sim).get("/users")
    assert reply.status_code == 403
    assert reply.json()["error"] == {
        "code": "Authorization_RequestDenied",
        "message": "Insufficient privileges to complete the operation.",
        "innerError": reply.json()["error"]["innerError"],
    }


def test_directory_read_all_grants_users(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(permissions=frozenset({"Directory.Read.All"}))
    assert graph(sim).get("/users").status_code == 200


def test_sign_in_activity_needs_audit_log_permission(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    reply = graph(sim).get("/users", params={"$select": "id,signInActivity"})
    assert reply.json()["error"]["code"] == "Authorization_RequestDenied"


def test_filter_on_created_date_time_returns_exactly_the_newer_users(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    cutoff = "2025-06-01T00:00:00Z"
    users = list_all(graph(sim_p2), f"/users?$select=id,createdDateTime&$top=999&$filter=createdDateTime ge {cutoff}")
    expected = {u.id for u in sim_p2.tenant.truth().values() if u.created >= datetime(2025, 6, 1, tzinfo=UTC)}
    assert {u["id"] for u in users} == expected
    assert 0 < len(expected) < 2500


def test_filter_combines_created_date_time_and_user_type(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    flt = "(createdDateTime gt 2022-01-01T00:00:00Z and createdDateTime le 2026-01-01T00:00:00Z) and userType eq 'Guest'"
    users = list_all(graph(sim_p2), "/users", params={"$filter": flt, "$select": "id,userType,createdDateTime", "$top": "999"})
    assert users
    assert all(u["userType"] == "Guest" and "2022-01-01" < u["createdDateTime"] <= "2026-01-01T00:00:00Z" for u in users)


def test_filter_on_account_enabled(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users", params={"$filter": "accountEnabled eq false", "$select": "id,accountEnabled", "$top": "999"})
    assert users and not any(u["accountEnabled"] for u in users)
    assert len(users) == sum(1 for u in sim_p2.tenant.truth().values() if not u.enabled)


def test_endswith_needs_an_advanced_query(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    flt = "endswith(userPrincipalName,'@contoso.co.uk')"
    refused = client.get("/users", params={"$filter": flt})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    accepted = client.get("/users", params={"$filter": flt, "$count": "true", "$top": "999", "$select": "userPrincipalName"},
                          headers=EVENTUAL)
    assert accepted.status_code == 200
    body = accepted.json()
    assert body["@odata.count"] == len(body["value"]) > 0
    assert all(u["userPrincipalName"].endswith("@contoso.co.uk") for u in body["value"])


def test_count_needs_consistency_level_eventual(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    assert client.get("/users", params={"$count": "true"}).status_code == 400
    counted = client.get("/users", params={"$count": "true", "$top": "1"}, headers=EVENTUAL).json()
    assert counted["@odata.count"] == 2500


def test_orderby_created_date_time_needs_consistency_level(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    assert client.get("/users", params={"$orderby": "createdDateTime"}).status_code == 400
    users = list_all(client, "/users", params={"$orderby": "createdDateTime", "$count": "true", "$top": "999",
                                               "$select": "id,createdDateTime"}, headers=EVENTUAL)
    stamps = [u["createdDateTime"] for u in users]
    assert len(users) == 2500 and stamps == sorted(stamps)


def test_unsupported_filter_property_is_refused(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim_p2).get("/users", params={"$filter": "favouriteColour eq 'blue'"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_expand_manager_returns_the_selected_manager_fields(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    users = list_all(graph(sim_p2), "/users", params={
        "$select": "id", "$expand": "manager($select=id,displayName,userPrincipalName)", "$top": "999"})
    with_manager = [u for u in users if "manager" in u]
    assert with_manager and len(with_manager) < len(users)
    truth = sim_p2.tenant.truth()
    for u in with_manager[:50]:
        assert u["manager"]["id"] == truth[u["id"]].manager_id
        assert set(u["manager"]) == {"@odata.type", "id", "displayName", "userPrincipalName"}


def test_expand_member_of_truncates_at_20_without_next_link(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    heavy = next(u for u in sim_p2.tenant.truth().values() if len(u.groups) > 20)
    reply = graph(sim_p2).get(f"/users/{heavy.id}", params={"$expand": "memberOf", "$select": "id"}).json()
    assert len(reply["memberOf"]) == 20
    assert not any(k.startswith("memberOf@odata") for k in reply)


def test_single_user_by_id_and_by_upn(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    someone = next(iter(sim_p2.tenant.truth().values()))
    client = graph(sim_p2)
    assert client.get(f"/users/{someone.id}").json()["id"] == someone.id
    assert client.get(f"/users/{someone.upn}").json()["id"] == someone.id
    missing = client.get("/users/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"


def test_expired_page_token_fails_the_listing_once(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=300)
    sim.faults.expired_page_token_on_page = 2
    client = graph(sim)
    first = client.get("/users", params={"$top": "100", "$select": "id"}).json()
    failed = client.get(first["@odata.nextLink"])
    assert failed.status_code == 400
    assert failed.json()["error"]["code"] == "Directory_ExpiredPageToken"
    assert len(list_all(client, "/users?$top=100&$select=id")) == 300


def test_a_user_added_with_a_visibility_delay_is_listed_only_after_it(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=50)
    added = sim.tenant.add_user(display_name="Late Replica", created=datetime.now(UTC) - timedelta(hours=2),
                                visible_after_listings=1)
    client = graph(sim)
    assert added.id not in {u["id"] for u in list_all(client, "/users?$select=id")}
    assert added.id in {u["id"] for u in list_all(client, "/users?$select=id")}


def test_a_user_hidden_for_some_seconds_is_not_yet_listed(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=50)
    added = sim.tenant.add_user(display_name="Slow Replica", visible_after_seconds=60)
    assert added.id not in {u["id"] for u in list_all(graph(sim), "/users?$select=id")}
    assert graph(sim).get(f"/users/{added.id}").status_code == 404


def test_users_created_mid_listing_land_in_id_order_without_duplicates(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=300)
    client = graph(sim)
    first = client.get("/users", params={"$top": "100", "$select": "id"}).json()
    sim.tenant.add_user(display_name="Early Id", user_id="00000000-0000-4000-8000-000000000001")
    rest = list_all(client, first["@odata.nextLink"])
    ids = [u["id"] for u in first["value"] + rest]
    assert len(ids) == len(set(ids)) == 300
