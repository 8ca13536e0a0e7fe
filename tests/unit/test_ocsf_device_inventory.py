"""Specification of connector.ocsf.device_inventory: an Entra device (+ Intune, + owners) to one
OCSF 5001 event; unknown omitted, never false; the MAPPING table tells the truth."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ocsf import device_inventory as dev
from connector.ocsf import user_inventory
from connector.validation import EventValidator
from tests.unit.test_mapping_doc import leaf_paths, values_at

VALIDATOR = EventValidator()
DELETED = dev.DeviceDeletion("2026-01-02T03:04:05Z")


def event(device: dict[str, Any] | None = None, facts: dev.DeviceFacts | None = None,
          **changes: Any) -> dict[str, Any]:
    record = dev.example_device() if device is None else device
    record.update(changes)
    return dev.to_event(record, dev.DeviceFacts() if facts is None else facts,
                        collected_at_ms=dev.EXAMPLE_COLLECTED_AT_MS,
                        tenant_id=dev.EXAMPLE_TENANT_ID, product=dev.EXAMPLE_PRODUCT)


def managed(**changes: Any) -> dev.DeviceFacts:
    return dev.DeviceFacts(managed=dev.example_managed_device() | changes,
                           owners=dev.EXAMPLE_FACTS.owners, users=dev.EXAMPLE_FACTS.users)


def status(ev: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = ev["enrichments"][0]["data"]
    return found


def full_event() -> dict[str, Any]:
    return event(facts=replace(managed(imei="356938035643809", meid="A0000012345678",
                                       udid="00008020-000A1C2E0C87002E"), deleted=DELETED))


def test_uid_is_the_entra_device_id_and_uid_alt_the_object_id() -> None:
    device = event()["device"]
    assert device["uid"] == "0f4c5a8e-2222-4333-8444-555566667777"
    assert device["uid_alt"] == "6a1f0c2e-3333-4444-8555-666677778888"


def test_the_uid_is_what_a_sign_in_from_that_device_carries() -> None:
    from connector.ocsf import authentication

    sign_in = authentication.to_event(authentication.example_sign_in(),
                                      tenant_id=dev.EXAMPLE_TENANT_ID,
                                      product=dev.EXAMPLE_PRODUCT)
    assert sign_in["device"]["uid"] == event()["device"]["uid"]


def test_a_device_without_a_device_id_is_a_mapping_error() -> None:
    with pytest.raises(dev.MappingError, match="deviceId"):
        event(deviceId="  ")


def test_a_record_that_is_not_an_object_is_a_mapping_error() -> None:
    with pytest.raises(dev.MappingError):
        dev.to_event(["x"], dev.DeviceFacts(), collected_at_ms=1,  # type: ignore[arg-type]
                     tenant_id="t", product=dev.EXAMPLE_PRODUCT)


def test_intune_device_id_stands_in_for_a_missing_entra_device_id() -> None:
    assert event(facts=managed(), deviceId=None)["device"]["uid"] == \
        dev.example_managed_device()["azureADDeviceId"]


def test_owner_has_the_uid_and_name_of_the_owners_user_inventory_event() -> None:
    user = user_inventory.to_event(
        user_inventory.example_user(), user_inventory.EXAMPLE_FACTS,
        collected_at_ms=1, tenant_id="t", product=user_inventory.EXAMPLE_PRODUCT)["user"]
    owner = event(facts=managed())["device"]["owner"]
    assert (owner["uid"], owner["name"], owner["account"]["name"]) == \
        (user["uid"], user["name"], user["account"]["name"])
    assert owner["account"]["type_id"] == user["account"]["type_id"]


def test_no_owner_collected_means_no_owner() -> None:
    assert "owner" not in event()["device"]


@pytest.mark.parametrize(("os_name", "type_id", "os_type"), [
    ("iOS", 5, 301), ("iPadOS", 4, 302), ("Android", 5, 201), ("AndroidForWork", 5, 201),
    ("Windows", 0, 100), ("MacMDM", 0, 300), ("Linux", 0, 200), ("Windows Server", 1, 100),
])
def test_device_and_os_type_follow_the_operating_system(os_name: str, type_id: int,
                                                        os_type: int) -> None:
    device = event(operatingSystem=os_name)["device"]
    assert (device["type_id"], device["os"]["type_id"]) == (type_id, os_type)


def test_a_virtual_machine_model_is_virtual() -> None:
    assert event(facts=managed(model="Virtual Machine"))["device"]["type_id"] == 6


def test_without_an_operating_system_the_type_is_unknown_and_os_is_omitted() -> None:
    device = event(operatingSystem=None)["device"]
    assert (device["type_id"], "os" in device) == (0, False)


@pytest.mark.parametrize(("trust", "trusted", "join"), [
    ("AzureAd", True, "Microsoft Entra joined"),
    ("ServerAd", True, "Microsoft Entra hybrid joined"),
    ("Workplace", False, "Microsoft Entra registered"),
])
def test_join_type_decides_is_trusted(trust: str, trusted: bool, join: str) -> None:
    ev = event(trustType=trust)
    assert (ev["device"]["is_trusted"], status(ev)["join_type"]) == (trusted, join)


def test_an_unknown_join_type_leaves_is_trusted_out() -> None:
    assert "is_trusted" not in event(trustType=None)["device"]


@pytest.mark.parametrize(("state", "entra", "expected"), [
    ("compliant", False, True), ("noncompliant", True, False),
    ("inGracePeriod", False, False), ("unknown", True, True), ("unknown", None, None),
])
def test_intune_compliance_wins_and_an_undecided_state_falls_back_to_entra(
        state: str, entra: bool | None, expected: bool | None) -> None:
    device = event(facts=managed(complianceState=state), isCompliant=entra)["device"]
    assert device.get("is_compliant") == expected


@pytest.mark.parametrize(("intune", "entra", "expected"), [
    ("personal", "Company", True), ("company", None, False), ("unknown", None, None),
    ("unknown", "Personal", True),
])
def test_ownership_personal_company_and_unknown(intune: str, entra: str | None,
                                                expected: bool | None) -> None:
    device = event(facts=managed(managedDeviceOwnerType=intune), deviceOwnership=entra)["device"]
    assert device.get("is_personal") == expected


def test_an_entra_only_device_has_no_intune_facts() -> None:
    device = event(isManaged=None, deviceOwnership=None)["device"]
    assert not {"hw_info", "imei", "is_personal", "is_managed", "is_supervised"} & set(device)


def test_an_intune_record_makes_an_unreported_device_managed() -> None:
    assert event(facts=managed(), isManaged=None)["device"]["is_managed"] is True


def test_last_seen_is_the_later_of_sign_in_and_intune_sync() -> None:
    later = event(facts=managed(lastSyncDateTime="2026-01-01T00:00:00Z"))["device"]
    earlier = event(facts=managed(lastSyncDateTime="2020-01-01T00:00:00Z"))["device"]
    assert later["last_seen_time"] == dev.EXAMPLE_COLLECTED_AT_MS
    assert earlier["last_seen_time"] == 1_767_205_200_000  # approximateLastSignInDateTime


def test_hardware_and_mobile_identifiers_come_from_intune() -> None:
    device = full_event()["device"]
    assert (device["hw_info"], device["imei"], device["meid"], device["vendor_name"]) == (
        {"serial_number": "5CG1234XYZ"}, "356938035643809", "A0000012345678", "Dell Inc.")


def test_a_disabled_device_says_so() -> None:
    assert status(event(accountEnabled=False))["is_enabled"] is False


def test_a_deleted_device_says_so_with_graphs_time_or_the_collection_time() -> None:
    assert status(full_event())["is_deleted"] is True
    assert status(full_event())["deleted_time"] == 1_767_323_045_000
    learnt = status(event(facts=dev.DeviceFacts(deleted=dev.DeviceDeletion())))
    assert learnt["deleted_time"] == dev.EXAMPLE_COLLECTED_AT_MS


def test_a_present_device_is_not_marked_deleted() -> None:
    assert "is_deleted" not in status(event())


def test_owners_from_keeps_users_only() -> None:
    owners = dev.owners_from([
        {"@odata.type": "#microsoft.graph.user", "id": "u1", "displayName": "A",
         "userPrincipalName": "a@x.com"},
        {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp"},
        {"id": "u2"}, "junk"])  # type: ignore[list-item]
    assert owners == (dev.Owner("u1", "A", "a@x.com"), dev.Owner("u2"))


@pytest.mark.parametrize("row", dev.MAPPING, ids=lambda row: f"{row.source}->{row.path}")
def test_every_mapped_path_is_produced_for_a_fully_populated_device(row: Any) -> None:
    values = values_at(full_event(), row.path)
    assert values, f"{row.path} is in MAPPING but to_event does not produce it"
    assert all(value not in (None, "", [], {}) for value in values)


def test_every_produced_field_is_in_the_mapping() -> None:
    assert leaf_paths(full_event()) - {row.path for row in dev.MAPPING} == set()


def test_the_mapping_reads_only_fields_it_selects() -> None:
    read = {key for key in dev.example_device()}
    assert read <= set(dev.GRAPH_DEVICE_FIELDS)
    assert set(dev.example_managed_device()) <= set(dev.INTUNE_DEVICE_FIELDS)


# --------------------------------------------------------------------------- properties

texts = st.one_of(st.text(max_size=30), st.sampled_from(
    ["", " ", "Unknown", "N/A", "Windows", "iOS", "iPadOS", "AndroidForWork", "MacMDM",
     "Linux", "AzureAd", "ServerAd", "Workplace", "compliant", "noncompliant", "personal",
     "company", "Virtual Machine"]))
dates = st.one_of(st.datetimes().map(lambda d: d.isoformat()),
                  st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "x"]), texts)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), texts,
                    dates, st.lists(texts, max_size=2))
_KEYS = sorted({*dev.GRAPH_DEVICE_FIELDS, *dev.INTUNE_DEVICE_FIELDS})
records = st.dictionaries(st.sampled_from(_KEYS), scalars, max_size=len(_KEYS))
owners = st.builds(dev.Owner, texts, st.one_of(st.none(), texts), st.one_of(st.none(), texts))
facts = st.builds(
    dev.DeviceFacts,
    managed=st.one_of(st.none(), records),
    owners=st.one_of(st.none(), st.lists(owners, max_size=2).map(tuple)),
    users=st.one_of(st.none(), st.lists(owners, max_size=3).map(tuple)),
    deleted=st.one_of(st.none(), st.builds(dev.DeviceDeletion, st.one_of(st.none(), dates))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record=records, device_facts=facts)
def test_any_record_maps_to_a_valid_event_or_a_mapping_error(
        record: dict[str, Any], device_facts: dev.DeviceFacts) -> None:
    try:
        ev = dev.to_event(record, device_facts, collected_at_ms=dev.EXAMPLE_COLLECTED_AT_MS,
                          tenant_id=dev.EXAMPLE_TENANT_ID, product=dev.EXAMPLE_PRODUCT)
    except dev.MappingError:
        return
    assert VALIDATOR.errors(ev) == []


@settings(max_examples=200, deadline=None)
@given(record=records)
def test_a_known_device_id_always_maps_and_is_the_uid(record: dict[str, Any]) -> None:
    record["deviceId"] = "0f4c5a8e-2222-4333-8444-555566667777"
    ev = dev.to_event(record, dev.DeviceFacts(), collected_at_ms=1, tenant_id="t",
                      product=dev.EXAMPLE_PRODUCT)
    assert ev["device"]["uid"] == record["deviceId"]
    assert VALIDATOR.errors(ev) == []


def test_the_mapping_document_has_the_device_section() -> None:
    from connector.ocsf import mapping_doc

    assert "(Device Inventory Info, class 5001)" in mapping_doc.render_mapping_doc()
