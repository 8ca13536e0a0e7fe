"""Properties of the directory-audit mapping over arbitrary Graph-like records: a valid event of
the class the table names (or 3004), or MappingError for a record without id or time."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ocsf import directory_audit as audits
from connector.ocsf.user_inventory import MappingError, Product, _epoch_ms, _text
from connector.validation import EventValidator

VALIDATOR = EventValidator()
PRODUCT = Product(name="Entra ID directory audits", vendor_name="Microsoft", version="0.1.0")

texts = st.one_of(st.text(max_size=30), st.sampled_from(["", " ", "Unknown", "n/a", "a@b.c",
                                                          "x@contoso.com", "#EXT#@y"]))
maybe = st.one_of(st.none(), texts, st.integers(), st.booleans(), st.lists(texts, max_size=2))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6)
encoded = st.one_of(st.none(), json_values.map(json.dumps), texts)
prop_names = st.one_of(st.sampled_from([
    "DisplayName", "UserPrincipalName", "Mail", "GivenName", "Surname", "JobTitle",
    "Included Updated Properties", "Group.ObjectID", "Group.DisplayName", "Role.DisplayName",
    "Role.TemplateId", "Role.ObjectID", "AppRole.Value", "AppRole.DisplayName",
    "ServicePrincipal.ObjectID", "ServicePrincipal.DisplayName", "User.ObjectID", "User.UPN",
    "DelegatedPermissionGrant.Scope", "ConsentAction.Permissions"]), texts, st.none())
modified = st.fixed_dictionaries({"displayName": prop_names, "oldValue": encoded,
                                  "newValue": encoded})
targets = st.fixed_dictionaries({
    "id": maybe, "displayName": maybe, "userPrincipalName": maybe,
    "type": st.one_of(st.sampled_from(["User", "Group", "Role", "ServicePrincipal", "Device",
                                       "Policy", "Application", "Other"]), maybe),
    "modifiedProperties": st.one_of(st.lists(modified, max_size=4), maybe)})
identities = st.fixed_dictionaries({
    "user": st.one_of(st.none(), st.fixed_dictionaries({
        "id": maybe, "displayName": maybe, "userPrincipalName": maybe,
        "ipAddress": st.one_of(maybe, st.ip_addresses().map(str))})),
    "app": st.one_of(st.none(), st.fixed_dictionaries({
        "appId": maybe, "displayName": maybe, "servicePrincipalId": maybe,
        "servicePrincipalName": maybe}))})
activities = st.one_of(st.sampled_from(sorted(audits.MAPPED_ACTIVITIES)), texts, st.none())
dates = st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"), texts, st.none())
records = st.fixed_dictionaries({
    "id": maybe, "activityDateTime": dates, "activityDisplayName": activities,
    "category": maybe, "correlationId": maybe, "loggedByService": maybe,
    "operationType": st.one_of(st.sampled_from(["Add", "Update", "Delete", "Assign",
                                                "Unassign", "Restore"]), maybe),
    "result": st.one_of(st.sampled_from(["success", "failure", "timeout",
                                         "unknownFutureValue"]), maybe),
    "resultReason": maybe, "initiatedBy": st.one_of(identities, maybe),
    "targetResources": st.one_of(st.lists(targets, max_size=3), maybe),
    "additionalDetails": st.one_of(st.lists(st.fixed_dictionaries(
        {"key": st.one_of(st.just("Method"), maybe), "value": maybe}), max_size=2), maybe)})


def _usable(record: dict[str, Any]) -> bool:
    return _text(record["id"]) is not None and _epoch_ms(record["activityDateTime"]) is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_every_record_is_a_valid_event_or_mapping_error_without_id_or_time(
        record: dict[str, Any]) -> None:
    try:
        event = audits.to_event(record, tenant_id="t-1", product=PRODUCT)
    except MappingError:
        assert not _usable(record)
        return
    assert _usable(record)
    assert VALIDATOR.errors(event) == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_the_class_is_the_tables_or_entity_management(record: dict[str, Any]) -> None:
    if not _usable(record):
        return
    event = audits.to_event(record, tenant_id="t-1", product=PRODUCT)
    chosen = audits.class_for(record)
    if chosen is None:
        assert event["class_uid"] == 3004
    else:
        assert event["class_uid"] in (chosen[0], 3004)
    assert event["metadata"]["uid"] == _text(record["id"])
