"""The sign-in log over real HTTPS: record shape, paging, ordering, filters, page limit, late
arrivals, licence and permission answers, the reporting budget, determinism and beta's
event types."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from entrasim import DEFAULT_PERMISSIONS, SignInMix, SimulatedGraph, TenantSpec, floor_from_counters
from entrasim.sign_ins import RETENTION
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

SIGN_INS = "/auditLogs/signIns"
V1_KEYS = {
    "id", "createdDateTime", "userDisplayName", "userPrincipalName", "userId", "appId",
    "appDisplayName", "ipAddress", "clientAppUsed", "correlationId", "conditionalAccessStatus",
    "isInteractive", "riskDetail", "riskLevelAggregated", "riskLevelDuringSignIn", "riskState",
    "riskEventTypes", "riskEventTypes_v2", "resourceDisplayName", "resourceId", "status",
    "deviceDetail", "location", "appliedConditionalAccessPolicies", "authenticationRequirement",
}
BETA_EXTRA = {"signInEventTypes", "userType", "authenticationDetails", "authenticationMethodsUsed",
              "servicePrincipalId", "servicePrincipalName", "userAgent"}


def lit(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(sim: SimulatedGraph, hours: float) -> tuple[datetime, str]:
    since = sim.tenant.sign_in_now() - timedelta(hours=hours)
    return since, f"createdDateTime ge {lit(since)}"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=11, users=300, licence="P2", sign_ins_per_user_per_day=4)) as running:
        yield running


def beta(client: httpx.Client, sim: SimulatedGraph, **params: str) -> httpx.Response:
    return client.get(f"{sim.url}/beta{SIGN_INS}", params=params)


# ---- shape -------------------------------------------------------------------------------
def test_records_have_the_documented_v1_shape(sim: SimulatedGraph, graph: GraphClient) -> None:
    page = graph(sim).get(SIGN_INS, params={"$top": "200"}).json()
    assert page["@odata.context"].endswith("/v1.0/$metadata#auditLogs/signIns")
    records = page["value"]
    assert len(records) == 200
    for r in records:
        assert set(r) == V1_KEYS
        assert r["isInteractive"] is True
        assert isinstance(r["status"]["errorCode"], int)
        assert set(r["deviceDetail"]) == {"deviceId", "displayName", "operatingSystem", "browser",
                                          "isCompliant", "isManaged", "trustType"}
        assert set(r["location"]["geoCoordinates"]) == {"altitude", "latitude", "longitude"}
        assert r["createdDateTime"].endswith("Z") and len(r["createdDateTime"]) == 20
        assert r["authenticationRequirement"] in ("singleFactorAuthentication", "multiFactorAuthentication")


def test_sign_ins_name_the_tenants_own_users(sim: SimulatedGraph, graph: GraphClient) -> None:
    records = graph(sim).get(SIGN_INS, params={"$top": "300"}).json()["value"]
    for r in records:
        user = sim.tenant.user(r["userId"])
        assert user is not None
        assert (r["userPrincipalName"], r["userDisplayName"]) == (user.upn, user.display)


def test_a_day_shows_real_failure_codes_devices_locations_and_unicode_names(sim: SimulatedGraph) -> None:
    day = sim.tenant.sign_ins(since=sim.tenant.sign_in_now() - timedelta(days=3))
    codes = Counter(r["status"]["errorCode"] for r in day)
    assert codes[0] / len(day) > 0.7
    assert {50126, 53003, 50074, 50076, 500121} <= set(codes)
    compliant = {r["deviceDetail"]["isCompliant"] for r in day}
    assert {True, False, None} <= compliant
    assert any(r["deviceDetail"]["deviceId"] == "" and not r["deviceDetail"]["isManaged"] for r in day)
    assert len({r["location"]["countryOrRegion"] for r in day}) >= 5
    assert any(r["location"]["city"] is None for r in day)
    assert any(":" in r["ipAddress"] for r in day) and any(r["ipAddress"].count(".") == 3 for r in day)
    assert any(r["userDisplayName"] and not r["userDisplayName"].isascii() for r in day)
    assert {"success", "failure", "notApplied"} <= {r["conditionalAccessStatus"] for r in day}
    assert {"none", "low", "medium"} <= {r["riskLevelDuringSignIn"] for r in day}
    blocked = [r for r in day if r["status"]["errorCode"] == 53003]
    assert all(r["conditionalAccessStatus"] == "failure" for r in blocked)


# ---- paging, ordering, page limit ---------------------------------------------------------
def test_paging_to_the_end_returns_the_ground_truth_newest_first(sim: SimulatedGraph, graph: GraphClient) -> None:
    since, flt = window(sim, 30)
    items = list_all(graph(sim), SIGN_INS, params={"$filter": flt, "$top": "97"})
    truth = sim.tenant.sign_ins(since=since)
    assert [r["id"] for r in items] == [r["id"] for r in truth]
    assert items == truth
    keys = [(r["createdDateTime"], r["id"]) for r in items]
    assert keys == sorted(keys, reverse=True)


def test_default_page_is_a_thousand_and_links_carry_the_query(sim: SimulatedGraph, graph: GraphClient) -> None:
    _, flt = window(sim, 72)
    page = graph(sim).get(SIGN_INS, params={"$filter": flt}).json()
    assert len(page["value"]) == 1000
    link = page["@odata.nextLink"]
    assert "$skiptoken=" in link and "$filter=createdDateTime" in link and link.startswith(f"{sim.url}/v1.0/")


@pytest.mark.parametrize("top", ["0", "1001", "-3", "many"])
def test_page_size_outside_1_to_1000_is_refused(sim: SimulatedGraph, graph: GraphClient, top: str) -> None:
    reply = graph(sim).get(SIGN_INS, params={"$top": top})
    assert reply.status_code == 400


def test_orderby_created_ascending_walks_oldest_first(sim: SimulatedGraph, graph: GraphClient) -> None:
    since, flt = window(sim, 10)
    items = list_all(graph(sim), SIGN_INS, params={"$filter": flt, "$orderby": "createdDateTime", "$top": "150"})
    assert [r["id"] for r in items] == [r["id"] for r in reversed(sim.tenant.sign_ins(since=since))]


def test_orderby_other_properties_is_refused(sim: SimulatedGraph, graph: GraphClient) -> None:
    assert graph(sim).get(SIGN_INS, params={"$orderby": "userPrincipalName"}).status_code == 400


def test_a_tampered_skiptoken_is_refused(sim: SimulatedGraph, graph: GraphClient) -> None:
    assert graph(sim).get(SIGN_INS, params={"$skiptoken": "not-a-token"}).status_code == 400


def test_select_returns_only_those_properties(sim: SimulatedGraph, graph: GraphClient) -> None:
    page = graph(sim).get(SIGN_INS, params={"$select": "id,createdDateTime,status", "$top": "3"}).json()
    assert [set(r) for r in page["value"]] == [{"id", "createdDateTime", "status"}] * 3
    assert graph(sim).get(SIGN_INS, params={"$select": "nope"}).status_code == 400


def test_get_by_id_returns_the_record_and_404_otherwise(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    first = client.get(SIGN_INS, params={"$top": "1"}).json()["value"][0]
    one = client.get(f"{SIGN_INS}/{first['id']}").json()
    assert {k: v for k, v in one.items() if k != "@odata.context"} == first
    assert client.get(f"{SIGN_INS}/00000000-0000-4000-a000-000000000000").status_code == 404


# ---- filters -----------------------------------------------------------------------------
def test_time_range_filters_include_ge_le_and_exclude_gt_lt(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    sample = sim.tenant.sign_ins(since=sim.tenant.sign_in_now() - timedelta(hours=6))
    pivot = sample[len(sample) // 2]["createdDateTime"]
    at_pivot = {r["id"] for r in sample if r["createdDateTime"] == pivot}
    inclusive = list_all(client, SIGN_INS, params={"$filter": f"createdDateTime ge {pivot} and createdDateTime le {pivot}"})
    assert {r["id"] for r in inclusive} == at_pivot
    exclusive = list_all(client, SIGN_INS, params={"$filter": f"createdDateTime gt {pivot} and createdDateTime lt {pivot}"})
    assert exclusive == []
    older = list_all(client, SIGN_INS, params={"$filter": f"createdDateTime lt {pivot} and createdDateTime ge {sample[-1]['createdDateTime']}"})
    assert [r["id"] for r in older] == [r["id"] for r in sample if r["createdDateTime"] < pivot]


def test_property_filters_select_matching_records(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    since, flt = window(sim, 48)
    truth = sim.tenant.sign_ins(since=since)
    user_id = truth[0]["userId"]
    by_user = list_all(client, SIGN_INS, params={"$filter": f"{flt} and userId eq '{user_id}'"})
    assert [r["id"] for r in by_user] == [r["id"] for r in truth if r["userId"] == user_id]
    failed = list_all(client, SIGN_INS, params={"$filter": f"{flt} and status/errorCode eq 50126"})
    assert failed and all(r["status"]["errorCode"] == 50126 for r in failed)
    assert len(failed) == sum(r["status"]["errorCode"] == 50126 for r in truth)
    teams = list_all(client, SIGN_INS, params={"$filter": f"{flt} and startswith(appDisplayName,'microsoft t')"})
    assert teams and {r["appDisplayName"] for r in teams} == {"Microsoft Teams"}
    either = list_all(client, SIGN_INS, params={
        "$filter": f"{flt} and (appId eq '{truth[0]['appId']}' or appId eq '{truth[1]['appId']}')"})
    assert {r["appId"] for r in either} == {truth[0]["appId"], truth[1]["appId"]}


@pytest.mark.parametrize("bad", [
    "createdDateTime ge",  # syntax
    "createdDateTime gx 2026-01-01T00:00:00Z",  # operator
    "nonsense eq 'x'",  # unknown property
    "userId gt 'x'",  # operator the property does not support
    "createdDateTime ge 2026-13-45T00:00:00Z",  # not a date
    "signInEventTypes/any(t: t eq 'nonInteractiveUser')",  # beta only
])
def test_invalid_filters_answer_400(sim: SimulatedGraph, graph: GraphClient, bad: str) -> None:
    reply = graph(sim).get(SIGN_INS, params={"$filter": bad})
    assert reply.status_code == 400, bad
    assert reply.json()["error"]["code"] in ("BadRequest", "Request_UnsupportedQuery")


def test_retention_keeps_thirty_days(sim: SimulatedGraph, graph: GraphClient) -> None:
    now = sim.tenant.sign_in_now()
    reply = graph(sim).get(SIGN_INS, params={
        "$filter": f"createdDateTime ge {lit(now - timedelta(days=45))} and createdDateTime le {lit(now - timedelta(days=29, hours=23))}"})
    oldest = [datetime.fromisoformat(r["createdDateTime"].replace("Z", "+00:00")) for r in reply.json()["value"]]
    assert oldest and min(oldest) >= now - RETENTION - timedelta(seconds=5)


# ---- beta: event types ---------------------------------------------------------------------
def test_beta_without_event_type_filter_lists_interactive_sign_ins(sim: SimulatedGraph, graph: GraphClient) -> None:
    page = beta(graph(sim), sim, **{"$top": "50"}).json()
    assert page["@odata.context"].endswith("/beta/$metadata#auditLogs/signIns")
    assert {tuple(r["signInEventTypes"]) for r in page["value"]} == {("interactiveUser",)}
    assert all(set(r) >= V1_KEYS | BETA_EXTRA for r in page["value"])


@pytest.mark.parametrize("event_type", ["nonInteractiveUser", "servicePrincipal", "managedIdentity"])
def test_beta_event_type_filter_lists_that_log(sim: SimulatedGraph, graph: GraphClient, event_type: str) -> None:
    _, flt = window(sim, 24)
    reply = beta(graph(sim), sim, **{"$filter": f"{flt} and signInEventTypes/any(t: t eq '{event_type}')"})
    records = reply.json()["value"]
    assert records and {tuple(r["signInEventTypes"]) for r in records} == {(event_type,)}
    assert all(r["isInteractive"] is False for r in records)
    if event_type != "nonInteractiveUser":
        assert all(r["servicePrincipalId"] and r["userId"] == "" for r in records)


def test_beta_or_of_event_types_and_ne_combine_logs(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    _, flt = window(sim, 3)
    both = list_all(client, f"{sim.url}/beta{SIGN_INS}", params={"$filter": f"{flt} and (signInEventTypes/any(t: t eq 'interactiveUser') or signInEventTypes/any(t: t eq 'servicePrincipal'))"})
    assert {r["signInEventTypes"][0] for r in both} == {"interactiveUser", "servicePrincipal"}
    others = list_all(client, f"{sim.url}/beta{SIGN_INS}", params={"$filter": f"{flt} and signInEventTypes/any(t: t ne 'interactiveUser')"})
    assert {r["signInEventTypes"][0] for r in others} == {"nonInteractiveUser", "servicePrincipal", "managedIdentity"}
    keys = [(r["createdDateTime"], r["id"]) for r in others]
    assert keys == sorted(keys, reverse=True)


def test_beta_links_stay_on_beta(sim: SimulatedGraph, graph: GraphClient) -> None:
    reply = beta(graph(sim), sim, **{"$top": "2", "$filter": "signInEventTypes/any(t: t eq 'nonInteractiveUser')"})
    assert reply.json()["@odata.nextLink"].startswith(f"{sim.url}/beta{SIGN_INS}?")


def test_beta_serves_only_the_sign_in_log(sim: SimulatedGraph, graph: GraphClient) -> None:
    assert graph(sim).get(f"{sim.url}/beta/users").status_code == 400


# ---- generation --------------------------------------------------------------------------
def test_volume_per_day_follows_the_rate(make_sim: MakeSim) -> None:
    until = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC)
    sim = make_sim(users=400, sign_ins_per_user_per_day=5.5, sign_ins_until=until)
    day = sim.tenant.sign_ins(since=until - timedelta(hours=24), until=until - timedelta(seconds=1))
    assert len(day) == round(400 * 5.5)
    hours = Counter(r["createdDateTime"][11:13] for r in day)
    assert hours["10"] > 3 * hours["02"]


def test_same_seed_same_log_and_another_seed_another(make_sim: MakeSim) -> None:
    until = datetime(2026, 11, 20, 6, 0, 0, tzinfo=UTC)
    since = until - timedelta(hours=5)
    a = make_sim(seed=3, users=150, sign_ins_until=until).tenant.sign_ins(since=since)
    b = make_sim(seed=3, users=150, sign_ins_until=until).tenant.sign_ins(since=since)
    c = make_sim(seed=4, users=150, sign_ins_until=until).tenant.sign_ins(since=since)
    assert a == b and a
    assert {r["id"] for r in a}.isdisjoint({r["id"] for r in c})


def test_disabled_users_fail_with_50057(sim: SimulatedGraph) -> None:
    disabled = {u.id for u in sim.tenant.users() if not u.enabled}
    theirs = [r for r in sim.tenant.sign_ins(since=sim.tenant.sign_in_now() - timedelta(days=5)) if r["userId"] in disabled]
    assert theirs and {r["status"]["errorCode"] for r in theirs} == {50057}


# ---- late arrivals -------------------------------------------------------------------------
def _ids(client: httpx.Client, flt: str) -> list[str]:
    return [r["id"] for r in list_all(client, SIGN_INS, params={"$filter": flt})]


def test_a_late_sign_in_is_hidden_from_the_next_listing_only(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=50)
    client = graph(sim)
    since, flt = window(sim, 2)
    late = sim.tenant.add_sign_in(created=sim.tenant.sign_in_now() - timedelta(minutes=30),
                                  visible_after_listings=1, ipAddress="203.0.113.9")
    assert late["id"] not in _ids(client, flt)
    assert late["id"] not in {r["id"] for r in sim.tenant.sign_ins(since=since)}
    assert late["id"] in {r["id"] for r in sim.tenant.sign_ins(since=since, visible_only=False)}
    assert late["id"] in _ids(client, flt)
    assert sim.tenant.sign_in(late["id"]) == late and late["ipAddress"] == "203.0.113.9"


def test_a_late_sign_in_appears_after_its_delay(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=50)
    client = graph(sim)
    _, flt = window(sim, 2)
    late = sim.tenant.add_sign_in(created=sim.tenant.sign_in_now() - timedelta(minutes=50), visible_after_seconds=3600)
    assert late["id"] not in _ids(client, flt)
    assert client.get(f"{SIGN_INS}/{late['id']}").status_code == 404
    assert sim.tenant.release_sign_ins() == 1
    assert late["id"] in _ids(client, flt)


def test_a_record_appearing_behind_a_listing_is_not_seen_until_the_next(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=200, sign_ins_per_user_per_day=6)
    client = graph(sim)
    since, flt = window(sim, 12)
    first = client.get(SIGN_INS, params={"$filter": flt, "$top": "40"}).json()
    behind = sim.tenant.add_sign_in(created=sim.tenant.sign_in_now() - timedelta(minutes=1))
    rest = list_all(client, first["@odata.nextLink"])
    seen = [r["id"] for r in first["value"] + rest]
    assert behind["id"] not in seen
    assert len(seen) == len(set(seen)) == len(sim.tenant.sign_ins(since=since)) - 1
    assert behind["id"] in _ids(client, flt)


OFFICE_HOURS = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)  # ~7 sign-ins/s below


def test_generated_late_records_surface_after_their_delay(make_sim: MakeSim) -> None:
    sim = make_sim(users=100, sign_ins_per_user_per_day=3000, sign_ins_until=OFFICE_HOURS,
                   sign_in_mix=SignInMix(late_fraction=0.5, late_delay_seconds=(1.0, 30.0)))
    since = OFFICE_HOURS - timedelta(minutes=2)
    everything = {r["id"]: r for r in sim.tenant.sign_ins(since=since, visible_only=False)}
    checked = sim.tenant.sign_in_now()
    visible = {r["id"] for r in sim.tenant.sign_ins(since=since)}
    waiting = [r for i, r in everything.items() if i not in visible]
    assert waiting, "the newest half-minute holds late records"
    assert all(r["createdDateTime"] >= lit(checked - timedelta(seconds=31)) for r in waiting)
    time.sleep(1.5)
    later = {r["id"] for r in sim.tenant.sign_ins(since=since)}
    assert visible < later <= set(everything)


def test_a_live_log_keeps_growing_with_the_clock(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=100, sign_ins_per_user_per_day=3000, sign_ins_until=OFFICE_HOURS,
                   sign_in_mix=SignInMix(live=True))
    client = graph(sim)
    flt = f"createdDateTime ge {lit(OFFICE_HOURS - timedelta(minutes=10))}"
    before = _ids(client, flt)
    time.sleep(1.5)
    after = _ids(client, flt)
    grown = [i for i in after if i not in set(before)]
    assert grown and set(before) <= set(after)
    newest = max(r["createdDateTime"] for r in sim.tenant.sign_ins(since=OFFICE_HOURS))
    assert lit(OFFICE_HOURS) < newest <= lit(sim.tenant.sign_in_now())


def test_bulk_late_sign_ins_spread_over_their_window(make_sim: MakeSim) -> None:
    sim = make_sim(users=80)
    now = sim.tenant.sign_in_now()
    added = sim.tenant.add_sign_ins(30, since=now - timedelta(hours=3), until=now - timedelta(hours=1),
                                    visible_after_listings=1)
    stamps = sorted(r["createdDateTime"] for r in added)
    assert len(added) == 30 and stamps[0] >= lit(now - timedelta(hours=3)) and stamps[-1] <= lit(now - timedelta(hours=1))
    visible = {r["id"] for r in sim.tenant.sign_ins(since=now - timedelta(hours=4))}
    assert visible.isdisjoint(r["id"] for r in added)


# ---- licence, permission, budget, faults ---------------------------------------------------
def test_free_tenant_gets_the_non_premium_403(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(licence="free", users=20)
    for url in (SIGN_INS, f"{sim.url}/beta{SIGN_INS}"):
        reply = graph(sim).get(url)
        assert reply.status_code == 403
        assert reply.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"


def test_app_without_audit_log_permission_is_denied(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    reply = graph(sim).get(SIGN_INS)
    assert reply.status_code == 403
    assert reply.json()["error"]["code"] == "Authorization_RequestDenied"


def test_directory_read_all_also_reads_sign_ins(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, permissions=frozenset({"Directory.Read.All"}))
    assert graph(sim).get(SIGN_INS, params={"$top": "1"}).status_code == 200


def test_p1_tenant_reads_hidden_risk(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=60, licence="P1")
    records = graph(sim).get(SIGN_INS, params={"$top": "100"}).json()["value"]
    assert {(r["riskLevelDuringSignIn"], r["riskLevelAggregated"], r["riskDetail"], r["riskState"]) for r in records} == {
        ("hidden", "hidden", "hidden", "none")}


def test_sign_ins_spend_the_reporting_budget(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    client = graph(sim)
    statuses = [client.get(SIGN_INS, params={"$top": "10"}).status_code for _ in range(3)]
    statuses += [client.get(f"{sim.url}/beta{SIGN_INS}", params={"$top": "10"}).status_code for _ in range(2)]
    throttled = client.get(SIGN_INS)
    assert statuses == [200] * 5 and throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    snapshot = sim.counters.snapshot()
    assert snapshot["GET /auditLogs/signIns"]["reporting"] == 3
    assert snapshot["GET /beta/auditLogs/signIns"]["reporting"] == 2
    assert snapshot["GET /auditLogs/signIns"]["throttled"] == 1
    assert floor_from_counters({"a": {"reporting": 11}}, 20) == 20.0


def test_faults_apply_to_sign_in_routes(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=40)
    client = graph(sim)
    sim.faults.routes = frozenset({"GET /auditLogs/signIns"})
    sim.faults.p_503 = 1.0
    assert client.get(SIGN_INS).status_code == 503
    assert client.get("/users").status_code == 200
    sim.faults.reset()
    sim.faults.expired_page_token_on_page = 2
    first = client.get(SIGN_INS, params={"$top": "5"}).json()
    expired = client.get(first["@odata.nextLink"])
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "Directory_ExpiredPageToken"
    assert client.get(first["@odata.nextLink"]).status_code == 200


def test_ground_truth_is_what_the_route_serves(sim: SimulatedGraph, graph: GraphClient) -> None:
    one: dict[str, Any] = graph(sim).get(SIGN_INS, params={"$top": "1"}).json()["value"][0]
    assert sim.tenant.sign_in(one["id"]) == one
