"""The simulated `/auditLogs/directoryAudits`: records as Graph writes them, and the listing's
documented options (and refusals)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from entrasim import SimulatedGraph, TenantSpec
from tests.conftest import MakeSim
from tests.simulator.graph_client import GraphClient, list_all

URL = "/auditLogs/directoryAudits"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=61, users=120, licence="P2")) as running:
        yield running


def test_generating_a_tenant_writes_no_audit_records(make_sim: MakeSim) -> None:
    fresh = make_sim(seed=62, users=50)
    assert fresh.tenant.audit.records == []
    fresh.tenant.assign_role(fresh.tenant.users()[0].id, "Global Reader")
    assert [r.activity for r in fresh.tenant.audit.records] == ["Add member to role"]


def test_an_update_writes_old_and_new_values_as_json_encoded_strings(
        sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    user = sim.tenant.users()[7]
    sim.tenant.update_user(user.id, jobTitle="Auditor")
    record = client.get(URL, params={"$top": "1"}).json()["value"][0]
    assert record["activityDisplayName"] == "Update user"
    props = {p["displayName"]: p for p in record["targetResources"][0]["modifiedProperties"]}
    assert json.loads(props["JobTitle"]["newValue"]) == ["Auditor"]
    assert props["JobTitle"]["oldValue"] is None or isinstance(
        json.loads(props["JobTitle"]["oldValue"]), list)
    assert json.loads(props["Included Updated Properties"]["newValue"]) == "JobTitle"
    assert record["initiatedBy"]["user"]["id"] in sim.tenant.admin_ids()
    assert record["initiatedBy"]["user"]["ipAddress"]


def test_select_projects_the_record(sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    sim.tenant.disable_user(sim.tenant.users()[11].id)
    record = client.get(URL, params={"$select": "id,targetResources", "$top": "1"}).json()
    assert set(record["value"][0]) == {"id", "targetResources"}


def test_filters_on_initiator_and_correlation_select_records(
        sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    user = sim.tenant.users()[9]
    sim.tenant.reset_password(user.id, by_admin=False)
    mine = list_all(client, URL, params={"$filter": f"initiatedBy/user/id eq '{user.id}'"})
    assert [r["activityDisplayName"] for r in mine][:1] == ["Change user password"]
    one = list_all(client, URL, params={"$filter": f"correlationId eq '{mine[0]['correlationId']}'"})
    assert [r["id"] for r in one] == [mine[0]["id"]]


@pytest.mark.parametrize(("params", "status"), [
    ({"$top": "1000"}, 400), ({"$top": "0"}, 400), ({"$top": "999"}, 200),
    ({"$filter": "activityDateTime lt 2026-01-01T00:00:00Z"}, 400),
    ({"$orderby": "category"}, 400), ({"$count": "true"}, 400),
    ({"$select": "id,activityDateTime"}, 200), ({"$select": "nope"}, 400),
    ({"$skiptoken": "not-a-token"}, 400),
])
def test_the_documented_options_are_accepted_and_others_refused(
        sim: SimulatedGraph, graph: GraphClient, params: dict[str, str], status: int) -> None:
    client = graph(sim)
    assert client.get(URL, params=params).status_code == status


def test_a_record_visible_mid_listing_neither_shifts_nor_repeats_the_pages(
        sim: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim)
    users = sim.tenant.users()[20:26]
    since = (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for u in users:
        sim.tenant.update_user(u.id, officeLocation="B2")
    flt = {"$filter": f"activityDateTime ge {since}", "$top": "2"}
    first = client.get(URL, params=flt).json()
    sim.tenant.update_user(users[0].id, officeLocation="B3")  # newer than every listed record
    seen = [r["id"] for r in first["value"]]
    link = first.get("@odata.nextLink")
    while link:
        page = client.get(link).json()
        seen += [r["id"] for r in page["value"]]
        link = page.get("@odata.nextLink")
    assert len(seen) == len(set(seen)) >= 6


def test_an_added_group_is_in_the_directory_and_in_the_log(
        make_sim: MakeSim, graph: GraphClient) -> None:
    fresh = make_sim(seed=63, users=50)
    client = graph(fresh)
    group = fresh.tenant.add_group("SG-New")
    assert client.get(f"/groups/{group.id}").json()["displayName"] == "SG-New"
    record = client.get(URL, params={"$top": "1"}).json()["value"][0]
    assert (record["activityDisplayName"], record["targetResources"][0]["id"]) == (
        "Add group", group.id)
