"""Pure parts of connector.streams.devices: the per-device document and its fingerprints."""

from __future__ import annotations

from connector.graph.devices import fingerprint
from connector.ocsf import device_inventory as dev
from connector.streams.devices import device_fingerprint, facts_of, key_row, make_doc

OWNER = dev.Owner("u-1", "Ada", "ada@contoso.com")


def _doc(**device_changes: object) -> dict[str, object]:
    return make_doc({**dev.example_device(), **device_changes}, dev.example_managed_device(),
                    (OWNER,), (OWNER,))


def test_a_check_in_or_a_sign_in_alone_does_not_change_the_fingerprint() -> None:
    before = _doc()
    seen = make_doc({**dev.example_device(), "approximateLastSignInDateTime": "2027-01-01T00:00Z"},
                    {**dev.example_managed_device(), "lastSyncDateTime": "2027-01-01T00:00:00Z"},
                    (OWNER,), (OWNER,))
    assert seen["fp"] == before["fp"]


def test_each_fact_the_issue_names_changes_the_fingerprint() -> None:
    before = _doc()["fp"]
    for changed in (_doc(isCompliant=False), _doc(isManaged=False), _doc(accountEnabled=False),
                    _doc(operatingSystemVersion="11.0")):
        assert changed["fp"] != before
    other_owner = make_doc(dev.example_device(), dev.example_managed_device(),
                           (dev.Owner("u-2", "Bob"),), (OWNER,))
    assert other_owner["fp"] != before
    deleted = make_doc(dev.example_device(), dev.example_managed_device(), (OWNER,), (OWNER,),
                       deleted="2026-01-01T00:00:00Z")
    assert deleted["fp"] != before


def test_keys_graph_adds_and_empty_intune_values_do_not_reach_the_document() -> None:
    plain = _doc()
    noisy = make_doc({**dev.example_device(), "@odata.type": "#microsoft.graph.device",
                      "registeredOwners": []},
                     {**dev.example_managed_device(), "imei": "", "meid": None},
                     (OWNER,), (OWNER,))
    assert noisy == plain


def test_registered_users_are_remembered_by_uid_whatever_a_source_knew_of_them() -> None:
    named = make_doc(dev.example_device(), None, (OWNER,), (OWNER,))
    bare = make_doc(dev.example_device(), None, (OWNER,), (dev.Owner("u-1"),))
    assert named == bare


def test_the_document_gives_back_the_facts_of_the_event() -> None:
    doc = make_doc(dev.example_device(), dev.example_managed_device(), (OWNER,), None,
                   deleted="2026-01-01T00:00:00Z")
    facts = facts_of(doc)
    assert facts.owners == (OWNER,) and facts.users is None
    assert facts.deleted == dev.DeviceDeletion("2026-01-01T00:00:00Z")
    assert facts.managed is not None and facts.managed["serialNumber"]


def test_the_key_row_carries_the_object_id_and_the_intune_and_link_digests() -> None:
    doc = _doc()
    did, row = key_row(doc, "oid-1") or ("", {})
    assert did == dev.example_device()["deviceId"].lower() and row["oid"] == "oid-1"
    intune, _, links = row["fp"].partition(":")
    assert intune == fingerprint(doc["managed"]) and links  # type: ignore[arg-type]
    unmanaged = make_doc(dev.example_device(), None, (OWNER,), None)
    assert (key_row(unmanaged, "oid-1") or ("", {}))[1]["fp"].startswith(":")
    assert key_row(make_doc({"id": "x"}, None, None, None), "x") is None


def test_device_fingerprint_is_a_pure_function_of_the_document() -> None:
    doc = _doc()
    assert device_fingerprint(doc) == doc["fp"] == device_fingerprint(dict(doc))
