"""Devices in the simulated tenant: generation and ground truth, `/devices` and its
relationships, Intune's `/deviceManagement/managedDevices`, their refusals, and sign-ins that
name the directory's devices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from entrasim.device_api import INTUNE_REQUESTS_PER_WINDOW, INTUNE_WINDOW_SECONDS, IntuneThrottle
from entrasim.devices import DEVICES_PER_USER
from entrasim.tenant import Tenant
from tests.simulator.graph_client import GraphClient, MakeSim, list_all

MANAGED = "/deviceManagement/managedDevices"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=51, users=150)) as running:
        yield running


def test_a_tenant_has_about_one_point_two_devices_per_user_by_default() -> None:
    assert len(Tenant(TenantSpec(seed=3, users=100)).devices) == round(DEVICES_PER_USER * 100)
    assert len(Tenant(TenantSpec(seed=3, users=100, devices=7)).devices) == 7


def test_the_same_seed_gives_the_same_devices() -> None:
    first = Tenant(TenantSpec(seed=4, users=50)).devices.truth()
    assert first == Tenant(TenantSpec(seed=4, users=50)).devices.truth()


def test_the_population_is_varied() -> None:
    truth = Tenant(TenantSpec(seed=5, users=500)).devices.truth().values()
    assert {t.os for t in truth} >= {"Windows", "MacMDM", "iOS", "iPadOS", "AndroidForWork",
                                     "Linux"}
    assert {t.trust for t in truth} == {"AzureAd", "ServerAd", "Workplace"}
    assert {t.is_compliant for t in truth} == {True, False, None}
    assert {t.is_personal for t in truth} == {True, False, None}
    assert any(not t.enabled for t in truth) and any(t.owner_id is None for t in truth)
    assert any(t.imei for t in truth) and any(t.serial is None for t in truth)


def test_devices_page_by_top_and_list_every_device_once(sim: SimulatedGraph,
                                                         graph: GraphClient) -> None:
    items = list_all(graph(sim), "/devices?$select=id,deviceId&$top=50")
    assert len(items) == len({i["id"] for i in items}) == len(sim.tenant.devices)


def test_top_above_999_is_refused(sim: SimulatedGraph, graph: GraphClient) -> None:
    assert graph(sim).get("/devices", params={"$top": "1000"}).status_code == 400


def test_an_unknown_property_is_refused_by_name(sim: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim).get("/devices", params={"$select": "id,nope"})
    assert reply.status_code == 400
    assert "Could not find a property named 'nope'" in reply.json()["error"]["message"]


def test_filter_on_account_enabled(sim: SimulatedGraph, graph: GraphClient) -> None:
    items = list_all(graph(sim), "/devices?$select=id&$filter=accountEnabled eq false")
    assert {i["id"] for i in items} == {d.id for d in sim.tenant.devices.devices() if not d.enabled}


def test_expanded_owners_are_the_registered_owner(sim: SimulatedGraph, graph: GraphClient) -> None:
    items = list_all(graph(sim), "/devices?$select=id&$expand=registeredOwners($select=id)")
    owners = {i["id"]: [o["id"] for o in i["registeredOwners"]] for i in items}
    assert owners == {d.id: [d.owner.id] if d.owner else [] for d in sim.tenant.devices.devices()}


def test_registered_users_of_one_device(sim: SimulatedGraph, graph: GraphClient) -> None:
    device = next(d for d in sim.tenant.devices.devices() if d.owner is not None)
    users = list_all(graph(sim), f"/devices/{device.id}/registeredUsers")
    assert [(u["@odata.type"], u["id"]) for u in users] == [("#microsoft.graph.user",
                                                            device.users[0].id)]


def test_a_missing_device_is_404(sim: SimulatedGraph, graph: GraphClient) -> None:
    reply = graph(sim).get("/devices/00000000-0000-4000-8000-000000000000")
    assert (reply.status_code, reply.json()["error"]["code"]) == (404, "Request_ResourceNotFound")


def test_devices_need_device_read_all(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=10, permissions=frozenset({"User.Read.All"}))
    reply = graph(sim).get("/devices")
    assert (reply.status_code, reply.json()["error"]["code"]) == (403,
                                                                  "Authorization_RequestDenied")


def test_intune_lists_the_managed_devices_joined_by_device_id(sim: SimulatedGraph,
                                                              graph: GraphClient) -> None:
    records = list_all(graph(sim), MANAGED, params={"$select": "azureADDeviceId,complianceState"})
    managed = {d.device_id: d for d in sim.tenant.devices.devices() if d.intune is not None}
    assert {r["azureADDeviceId"] for r in records} == set(managed)
    for record in records:
        intune = managed[record["azureADDeviceId"]].intune
        assert intune is not None and record["complianceState"] == intune.compliance


def test_entra_compliance_agrees_with_intune(sim: SimulatedGraph, graph: GraphClient) -> None:
    devices = list_all(graph(sim), "/devices?$select=deviceId,isCompliant,isManaged&$top=999")
    intune = {r["azureADDeviceId"]: r["complianceState"]
              for r in list_all(graph(sim), MANAGED, params={"$select": "azureADDeviceId,"
                                                                        "complianceState"})}
    for device in devices:
        state = intune.get(device["deviceId"])
        assert device["isManaged"] is (state is not None)
        assert device["isCompliant"] == (None if state is None else state == "compliant")


def test_intune_filters_on_last_sync(sim: SimulatedGraph, graph: GraphClient) -> None:
    records = list_all(graph(sim), MANAGED, params={
        "$select": "azureADDeviceId,lastSyncDateTime",
        "$filter": "lastSyncDateTime ge 2026-11-01T04:00:00Z"})
    assert records and all(r["lastSyncDateTime"] >= "2026-11-01T04:00:00Z" for r in records)


def test_intune_refuses_a_filter_it_does_not_support(sim: SimulatedGraph,
                                                     graph: GraphClient) -> None:
    reply = graph(sim).get(MANAGED, params={"$filter": "deviceName eq 'x'"})
    assert reply.status_code == 400


def test_intune_without_a_licence_answers_not_applicable(make_sim: MakeSim,
                                                         graph: GraphClient) -> None:
    reply = graph(make_sim(users=10, intune=False)).get(MANAGED)
    assert reply.status_code == 400
    assert "Request not applicable to target tenant" in reply.json()["error"]["message"]


def test_intune_without_the_permission_is_forbidden(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=10, permissions=DEFAULT_PERMISSIONS - {
        "DeviceManagementManagedDevices.Read.All"})
    reply = graph(sim).get(MANAGED)
    assert (reply.status_code, reply.json()["error"]["code"]) == (403, "Forbidden")


def test_intune_allows_2000_requests_per_20_seconds() -> None:
    throttle = IntuneThrottle()
    assert all(throttle.allow(now=1.0) is None for _ in range(INTUNE_REQUESTS_PER_WINDOW))
    assert throttle.allow(now=2.0) == pytest.approx(INTUNE_WINDOW_SECONDS - 1.0)
    assert throttle.allow(now=1.0 + INTUNE_WINDOW_SECONDS) is None


def test_mutations_change_the_ground_truth() -> None:
    tenant = Tenant(TenantSpec(seed=6, users=40))
    devices = tenant.devices
    listed = devices.devices()
    managed = next(d for d in listed if d.intune is not None)
    owner = tenant.users()[-1]
    added = devices.add_device(owner.id, platform=5)
    devices.set_compliance(managed.id, "noncompliant")
    devices.set_owner(listed[0].id, owner.id)
    devices.disable_device(listed[1].id)
    gone = devices.delete_device(listed[2].id)
    truth = devices.truth()
    assert truth[added.device_id].owner_id == owner.id and truth[added.device_id].is_managed
    assert truth[managed.device_id].is_compliant is False
    assert truth[listed[0].device_id].owner_id == owner.id
    assert truth[listed[1].device_id].enabled is False
    assert gone.device_id not in truth
    assert devices.truth(include_deleted=True)[gone.device_id].deleted


def test_sign_ins_of_a_device_owner_name_their_directory_device() -> None:
    tenant = Tenant(TenantSpec(seed=8, users=60,
                               sign_ins_until=datetime(2026, 11, 1, tzinfo=UTC)))
    ids = {d.device_id: d for d in tenant.devices.devices()}
    owned = [s for s in tenant.sign_ins()
             if tenant.devices.primary_device(s["userId"]) is not None]
    named = [s for s in owned if s["deviceDetail"]["deviceId"]]
    assert len(owned) > len(named) > len(owned) // 2  # the rest: unregistered devices
    for s in named:
        device = ids[s["deviceDetail"]["deviceId"]]
        assert device.owner is not None and s["userId"] == device.owner.id
        assert s["deviceDetail"]["displayName"] == device.name
        assert s["deviceDetail"]["isManaged"] is device.is_managed


def test_every_device_a_sign_in_names_is_in_the_directory() -> None:
    tenant = Tenant(TenantSpec(seed=9, users=80,
                               sign_ins_until=datetime(2026, 11, 1, tzinfo=UTC)))
    ids = {d.device_id for d in tenant.devices.devices()}
    named = {s["deviceDetail"]["deviceId"] for s in tenant.sign_ins()} - {""}
    assert named and named <= ids
