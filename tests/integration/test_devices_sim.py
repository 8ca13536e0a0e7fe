"""The device sources against the simulated tenant: Entra devices with owners and registered
users, their delta, Intune's managed devices joined on deviceId, and what each costs."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.devices import (
    DeltaExpired,
    DeviceQuery,
    device_changes,
    device_pages,
    devices_latest_link,
    intune_changes,
    links_of,
    managed_devices,
    owners_of,
    registered_users,
)
from connector.graph.odata import Availability
from connector.graph.permissions import Grants
from connector.ocsf import device_inventory as dev
from connector.validation import EventValidator
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from tests.conftest import MakeSim

T = TypeVar("T")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=43, users=200)) as running:
        yield running


def _run(sim: SimulatedGraph, work: Callable[[GraphClient], Awaitable[T]]) -> tuple[T, int]:
    async def main() -> tuple[T, int]:
        async with GraphClient.from_settings(load_settings(sim.connector_config())) as client:
            result = await work(client)
            return result, client.stats.requests
    return asyncio.run(main())


async def _all_devices(client: GraphClient, availability: Availability | None = None
                       ) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for _, page in device_pages(client, DeviceQuery(), availability or Availability()):
        out.extend(page.items)
    return out


def test_every_device_is_listed_once_with_its_owner(sim: SimulatedGraph) -> None:
    devices, requests = _run(sim, _all_devices)
    truth = sim.tenant.devices.truth()
    assert sorted(d["deviceId"] for d in devices) == sorted(truth)
    for item in devices:
        expected = truth[item["deviceId"]]
        owners = owners_of(item)
        assert owners is not None
        assert [o.uid for o in owners] == ([expected.owner_id] if expected.owner_id else [])
        assert (item["id"], item["accountEnabled"], item["trustType"]) == \
            (expected.id, expected.enabled, expected.trust)
    assert requests == math.ceil(len(truth) / 999)


def test_registered_users_are_read_in_one_expanded_listing(sim: SimulatedGraph) -> None:
    users, requests = _run(sim, registered_users)
    truth = sim.tenant.devices.truth()
    assert {oid: tuple(sorted(o.uid for o in owners)) for oid, owners in users.items()} == \
        {t.id: t.user_ids for t in truth.values()}
    assert requests == math.ceil(len(truth) / 999)


def test_intune_records_join_the_entra_devices_on_device_id(sim: SimulatedGraph) -> None:
    availability = Availability()
    table, requests = _run(sim, lambda c: managed_devices(c, availability))
    assert table is not None and availability.reasons == {}
    truth = sim.tenant.devices.truth()
    assert {did for did, _ in table.items()} == {did for did, t in truth.items() if t.is_managed}
    for did, record in table.items():
        assert record["serialNumber"] == truth[did].serial
    assert requests == math.ceil(len(table) / 1000)


def test_mapped_events_are_valid_and_equal_the_ground_truth(sim: SimulatedGraph) -> None:
    async def collect(client: GraphClient) -> list[dict[str, Any]]:
        availability = Availability()
        devices = await _all_devices(client, availability)
        users = await registered_users(client)
        table = await managed_devices(client, availability)
        assert table is not None
        return [dev.to_event(item, dev.DeviceFacts(
                    managed=table.get(item["deviceId"]), owners=owners_of(item),
                    users=users.get(item["id"])),
                collected_at_ms=1_767_225_600_000, tenant_id=sim.spec.tenant_id,
                product=dev.EXAMPLE_PRODUCT) for item in devices]

    events, _ = _run(sim, collect)
    validator = EventValidator()
    truth = sim.tenant.devices.truth()
    user_names = {u.id: u.display for u in sim.tenant.users()}
    for event in events:
        assert validator.errors(event) == []
        device = event["device"]
        expected = truth[device["uid"]]
        assert device.get("is_compliant") == expected.is_compliant
        assert device.get("is_personal") == expected.is_personal
        assert device["is_managed"] == expected.is_managed
        assert device.get("owner", {}).get("uid") == expected.owner_id
        if expected.owner_id and user_names[expected.owner_id]:
            assert device["owner"]["name"] == user_names[expected.owner_id]
        assert device.get("hw_info", {}).get("serial_number") == expected.serial
        assert event["enrichments"][0]["data"]["is_enabled"] == expected.enabled


def test_a_delta_round_reports_each_changed_device_once_and_nothing_else(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=44, users=60)
    devices = sim.tenant.devices
    link, _ = _run(sim, devices_latest_link)
    listed = devices.devices()
    managed = [d for d in listed if d.intune is not None]
    owner = sim.tenant.users()[0]
    added = devices.add_device(owner.id)
    devices.delete_device(listed[0].id)
    devices.set_compliance(managed[1].id, "noncompliant")
    devices.disable_device(listed[2].id)
    devices.set_os_version(listed[3].id, "10.0.26100.9999")
    devices.set_owner(listed[4].id, owner.id)  # a link: not a device property
    changes, requests = _run(sim, lambda c: device_changes(c, link))
    assert set(changes.present) == {added.id, managed[1].id, listed[2].id, listed[3].id}
    assert changes.removed == {listed[0].id: "deleted"}
    assert changes.present[listed[2].id]["accountEnabled"] is False
    assert changes.present[managed[1].id]["isCompliant"] is False
    assert changes.present[listed[3].id]["operatingSystemVersion"] == "10.0.26100.9999"
    assert requests == 1
    again, _ = _run(sim, lambda c: device_changes(c, changes.link))
    assert (again.present, again.removed) == ({}, {})


def test_the_owner_of_a_named_device_is_read_again_through_batch(make_sim: MakeSim) -> None:
    sim = make_sim(seed=45, users=40)
    target = sim.tenant.devices.devices()[5]
    new_owner = sim.tenant.users()[-1]
    sim.tenant.devices.set_owner(target.id, new_owner.id)
    owners, requests = _run(sim, lambda c: links_of(c, [target.id, "0" * 8 + "-0000-4000-8000-"
                                                        + "0" * 12], "registeredOwners"))
    assert owners == {target.id: (dev.Owner(new_owner.id, new_owner.display, new_owner.upn),)}
    assert requests == 1


@pytest.mark.parametrize("answer", ["expired", "reset"])
def test_a_delta_link_graph_no_longer_honours_raises_delta_expired(
        make_sim: MakeSim, answer: str) -> None:
    sim = make_sim(seed=46, users=20)
    link, _ = _run(sim, devices_latest_link)
    sim.tenant.expire_delta_tokens(answer)
    with pytest.raises(DeltaExpired, match="devices"):
        _run(sim, lambda c: device_changes(c, link))


def test_without_an_intune_licence_entra_devices_still_come_with_one_reason(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=47, users=30, intune=False)
    availability = Availability()

    async def work(client: GraphClient) -> tuple[Any, list[dict[str, Any]]]:
        return await managed_devices(client, availability), await _all_devices(client)

    (table, devices), _ = _run(sim, work)
    assert table is None
    assert len(devices) == len(sim.tenant.devices)
    assert list(availability.reasons) == ["intune_devices"]
    assert "no Microsoft Intune licence" in availability.reasons["intune_devices"]


def test_without_the_intune_permission_the_reason_names_it(make_sim: MakeSim) -> None:
    sim = make_sim(seed=48, users=30, permissions=DEFAULT_PERMISSIONS - {
        "DeviceManagementManagedDevices.Read.All"})
    availability = Availability()
    table, requests = _run(sim, lambda c: managed_devices(c, availability))
    assert table is None and requests == 1
    assert "DeviceManagementManagedDevices.Read.All" in availability.reasons["intune_devices"]


def test_a_token_without_the_intune_role_skips_the_request() -> None:
    availability = Availability()
    grants = Grants(frozenset({"Device.Read.All"}))
    table = asyncio.run(managed_devices(None, availability, grants))  # type: ignore[arg-type]
    assert table is None
    assert "DeviceManagementManagedDevices.Read.All" in availability.reasons["intune_devices"]


def test_intune_changes_are_the_devices_whose_facts_changed_not_their_check_ins(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=49, users=60)
    before, _ = _run(sim, lambda c: managed_devices(c, Availability()))
    assert before is not None
    managed = [d for d in sim.tenant.devices.devices() if d.intune is not None]
    sim.tenant.devices.set_compliance(managed[0].id, "noncompliant")
    assert managed[1].intune is not None
    managed[1].intune.last_sync = "2026-11-30T00:00:00Z"  # a routine check-in
    deleted = sim.tenant.devices.delete_device(managed[2].id)
    after, _ = _run(sim, lambda c: managed_devices(c, Availability()))
    assert after is not None
    assert intune_changes(before.fingerprints(), after) == {managed[0].device_id,
                                                            deleted.device_id}


def test_intune_throttles_on_its_own_budget_without_spending_resource_units(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=50, users=20)
    _run(sim, lambda c: managed_devices(c, Availability()))
    counts = sim.counters.snapshot()["GET /deviceManagement/managedDevices"]
    assert counts["ru"] == 0
