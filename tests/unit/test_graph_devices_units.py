"""Pure parts of connector.graph.devices: the listing URL, Intune fingerprints and refusal
reasons, and the device features' permission check (connector.graph.permissions)."""

from __future__ import annotations

from urllib.parse import unquote

from connector.graph.client import GraphError
from connector.graph.devices import (
    DeviceQuery,
    IntuneTable,
    devices_delta_url,
    fingerprint,
    intune_changes,
    intune_refusal_reason,
    owners_of,
)
from connector.graph.permissions import Grants
from connector.ocsf import device_inventory as dev


def test_the_listing_selects_the_mapped_fields_and_expands_the_owner() -> None:
    url = unquote(DeviceQuery().url())
    assert url.startswith("/devices?$select=")
    assert "deviceId" in url and "$top=999" in url
    assert "$expand=registeredOwners($select=id,displayName,userPrincipalName)" in url


def test_without_owners_there_is_no_expansion() -> None:
    assert "$expand" not in DeviceQuery(owners=False).url()


def test_the_delta_url_selects_but_never_expands() -> None:
    url = devices_delta_url()
    assert url.startswith("/devices/delta?$select=") and "$expand" not in url


def test_a_check_in_does_not_change_the_fingerprint() -> None:
    record = dev.example_managed_device()
    assert fingerprint(record) == fingerprint(record | {"lastSyncDateTime": "2030-01-01T00:00:00Z"})


def test_a_compliance_change_changes_the_fingerprint() -> None:
    record = dev.example_managed_device()
    assert fingerprint(record) != fingerprint(record | {"complianceState": "noncompliant"})


def test_intune_changes_name_changed_new_and_gone_devices() -> None:
    a, b, c = (dev.example_managed_device() | {"azureADDeviceId": i} for i in "abc")
    before = IntuneTable({"a": a, "b": b})
    after = IntuneTable({"a": a | {"complianceState": "noncompliant"}, "c": c})
    assert intune_changes(before.fingerprints(), after) == {"a", "b", "c"}
    assert intune_changes(after.fingerprints(), after) == set()


def test_refusal_reasons_name_the_licence_or_the_permission() -> None:
    licence = GraphError(400, "BadRequest", "Request not applicable to target tenant.")
    permission = GraphError(403, "Forbidden", "Application is not authorized")
    assert "no Microsoft Intune licence" in intune_refusal_reason(licence)
    assert "DeviceManagementManagedDevices.Read.All" in intune_refusal_reason(permission)


def test_a_token_without_the_role_is_missing_the_feature_and_an_unknown_one_is_not() -> None:
    assert Grants(frozenset({"User.Read.All"})).missing("devices") is not None
    assert Grants(frozenset({"Directory.Read.All"})).missing("devices") is None
    assert Grants(None).missing("devices") is None and Grants(None).missing("intune_devices") is None


def test_owners_of_an_item_without_the_expansion_are_unknown() -> None:
    assert owners_of({"id": "x"}) is None
    assert owners_of({"id": "x", "registeredOwners": []}) == ()
