"""Directory audit records -> OCSF events: the class and activity each Microsoft activity gets,
who did it, to whom, what changed, and the result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.ocsf import directory_audit as audits
from connector.ocsf.user_inventory import MappingError, Product
from connector.validation import EventValidator

VALIDATOR = EventValidator()
PRODUCT = Product(name="Entra ID directory audits", vendor_name="Microsoft", version="0.1.0")
TENANT = "00000000-0000-4000-8000-0000000000aa"
ALICE = {"id": "a11ce000-0000-4000-8000-000000000001", "displayName": "Alice",
         "type": "User", "userPrincipalName": "alice@contoso.com"}
BOB = {"id": "b0b00000-0000-4000-8000-000000000002", "displayName": "Bob Admin",
       "userPrincipalName": "bob@contoso.com", "ipAddress": "198.51.100.4"}
GROUP = {"id": "60000000-0000-4000-8000-000000000003", "displayName": "Finance",
         "type": "Group"}
NESTED = {"id": "60000000-0000-4000-8000-000000000004", "displayName": "Finance EMEA",
          "type": "Group"}


def prop(name: str, old: Any = None, new: Any = None) -> dict[str, Any]:
    """A modified property as Graph sends it: old and new values JSON-encoded in strings."""
    return {"displayName": name, "oldValue": None if old is None else json.dumps(old),
            "newValue": None if new is None else json.dumps(new)}


def target(base: dict[str, Any], *props: dict[str, Any]) -> dict[str, Any]:
    return {**base, "modifiedProperties": list(props)}


def record(activity: str, *targets: dict[str, Any], operation: str = "Update",
           result: str = "success", reason: str = "", app: bool = False) -> dict[str, Any]:
    initiated: dict[str, Any] = {"user": None, "app": None}
    if app:
        initiated["app"] = {"appId": "a9900000-0000-4000-8000-00000000a990",
                            "displayName": "Provisioning bot",
                            "servicePrincipalId": "59000000-0000-4000-8000-000000000059",
                            "servicePrincipalName": None}
    else:
        initiated["user"] = dict(BOB)
    return {"id": "Directory_0001", "category": "UserManagement",
            "correlationId": "c0000000-0000-4000-8000-00000000c0c0", "result": result,
            "resultReason": reason, "activityDisplayName": activity,
            "activityDateTime": "2026-03-01T03:12:00.1234567Z", "loggedByService": "Core Directory",
            "operationType": operation, "initiatedBy": initiated,
            "targetResources": list(targets), "additionalDetails": []}


def event_of(rec: dict[str, Any]) -> dict[str, Any]:
    event = audits.to_event(rec, tenant_id=TENANT, product=PRODUCT)
    assert VALIDATOR.errors(event) == []
    return event


def kind(event: dict[str, Any]) -> tuple[int, int]:
    return event["class_uid"], event["activity_id"]


@pytest.mark.parametrize(("activity", "expected"), [
    ("Add user", (3001, 1)),
    ("Enable account", (3001, 2)),
    ("Disable account", (3001, 5)),
    ("Change user password", (3001, 3)),
    ("Reset user password", (3001, 4)),
    ("Delete user", (3001, 6)),
    ("Hard Delete user", (3001, 6)),
    ("User registered security info", (3001, 10)),
    ("Admin registered security info", (3001, 10)),
    ("User deleted security info", (3001, 11)),
    ("Admin deleted security info", (3001, 11)),
    ("Update user", (3001, 99)),
])
def test_account_activities_become_account_change_with_the_target_user(
        activity: str, expected: tuple[int, int]) -> None:
    event = event_of(record(activity, target(ALICE)))
    assert kind(event) == expected
    assert event["user"]["uid"] == ALICE["id"]
    assert event["user"]["account"]["name"] == "alice@contoso.com"


def test_update_user_names_the_changed_properties_and_carries_the_new_values() -> None:
    event = event_of(record("Update user", target(
        ALICE, prop("DisplayName", ["Alice"], ["Alice Smith"]),
        prop("JobTitle", ["Clerk"], ["Controller"]),
        prop("Included Updated Properties", None, "DisplayName, JobTitle"))))
    assert event["activity_name"] == "Update user"
    assert event["message"] == "Update user: DisplayName, JobTitle"
    assert event["user_result"]["name"] == "Alice Smith"
    assert event["user_result"]["ldap_person"]["job_title"] == "Controller"
    assert event["user_result"]["uid"] == ALICE["id"]


@pytest.mark.parametrize(("method", "factor"), [
    ("fido2SecurityKey", {"factor_type_id": 10, "factor_type": "WebAuthn"}),
    ("microsoftAuthenticatorPush", {"factor_type_id": 5, "factor_type": "Push Notification"}),
    ("mobilePhone", {"factor_type_id": 99, "factor_type": "mobilePhone"}),
])
def test_security_info_records_name_the_factor(method: str, factor: dict[str, Any]) -> None:
    rec = record("User registered security info", target(ALICE), operation="Add")
    rec["loggedByService"] = "Authentication Methods"
    rec["additionalDetails"] = [{"key": "Method", "value": method}]
    event = event_of(rec)
    assert kind(event) == (3001, 10)
    assert event["auth_factors"] == [factor]


def test_old_values_stay_in_unmapped_as_graph_sent_them() -> None:
    rec = record("Update user", target(ALICE, prop("DisplayName", ["Alice"], ["Alice Smith"])))
    event = event_of(rec)
    kept = event["unmapped"]["targetResources"][0]["modifiedProperties"][0]
    assert kept == {"displayName": "DisplayName", "oldValue": '["Alice"]',
                    "newValue": '["Alice Smith"]'}


@pytest.mark.parametrize(("activity", "expected"), [
    ("Add member to group", (3006, 3)),
    ("Remove member from group", (3006, 4)),
])
def test_a_user_member_is_add_or_remove_user_with_the_group(
        activity: str, expected: tuple[int, int]) -> None:
    adding = activity.startswith("Add")
    gid, gname = (None, GROUP["id"]), (None, GROUP["displayName"])
    member = target(ALICE, prop("Group.ObjectID", *(gid if adding else gid[::-1])),
                    prop("Group.DisplayName", *(gname if adding else gname[::-1])))
    event = event_of(record(activity, member, operation="Assign"))
    assert kind(event) == expected
    assert event["group"] == {"uid": GROUP["id"], "name": "Finance"}
    assert event["user"]["uid"] == ALICE["id"]


@pytest.mark.parametrize(("activity", "expected"), [
    ("Add member to group", (3006, 7)),
    ("Remove member from group", (3006, 8)),
])
def test_a_group_member_is_a_subgroup(activity: str, expected: tuple[int, int]) -> None:
    member = target(NESTED, prop("Group.ObjectID", None, GROUP["id"]))
    event = event_of(record(activity, member, target(GROUP)))
    assert kind(event) == expected
    assert event["group"]["uid"] == GROUP["id"]
    assert event["subgroup"] == {"uid": NESTED["id"], "name": "Finance EMEA"}
    assert "user" not in event


@pytest.mark.parametrize(("activity", "expected"), [
    ("Add group", (3006, 6)), ("Delete group", (3006, 5))])
def test_group_creation_and_deletion(activity: str, expected: tuple[int, int]) -> None:
    event = event_of(record(activity, target(GROUP)))
    assert kind(event) == expected
    assert event["group"]["name"] == "Finance"


ROLE_PROPS = (prop("Role.DisplayName", None, "Global Administrator"),
              prop("Role.TemplateId", None, "62e90394-69f5-4237-9190-012177145e10"))


@pytest.mark.parametrize(("activity", "expected"), [
    ("Add member to role", (3005, 1)),
    ("Add eligible member to role", (3005, 1)),
    ("Add member to role completed (PIM activation)", (3005, 1)),
    ("Add eligible member to role in PIM completed (permanent)", (3005, 1)),
])
def test_role_assignments_assign_privileges_named_after_the_role(
        activity: str, expected: tuple[int, int]) -> None:
    event = event_of(record(activity, target(ALICE, *ROLE_PROPS), operation="Assign"))
    assert kind(event) == expected
    assert event["privileges"] == ["Global Administrator"]
    assert event["resource"] == {"uid": "62e90394-69f5-4237-9190-012177145e10",
                                 "name": "Global Administrator", "type": "Role"}
    assert event["user"]["uid"] == ALICE["id"]


def test_a_role_removal_revokes_the_role_named_by_the_old_value() -> None:
    removed = target(ALICE, prop("Role.DisplayName", "User Administrator", None))
    event = event_of(record("Remove member from role", removed, operation="Unassign"))
    assert kind(event) == (3005, 2)
    assert event["privileges"] == ["User Administrator"]


def test_a_pim_record_names_the_role_as_a_role_target() -> None:
    role = {"id": "62e90394-69f5-4237-9190-012177145e10", "displayName": "Global Administrator",
            "type": "Role"}
    event = event_of(record("Remove eligible member from role in PIM completed (permanent)",
                            target(role), target(ALICE)))
    assert kind(event) == (3005, 2)
    assert event["privileges"] == ["Global Administrator"]


def test_an_app_role_granted_to_an_application_names_its_service_principal() -> None:
    resource = {"id": "8429eb5c-0000-4000-8000-000000000001",
                "displayName": "Office 365 Exchange Online", "type": "ServicePrincipal"}
    rec = record("Add app role assignment to service principal", target(
        resource, prop("AppRole.Value", None, "full_access_as_app"),
        prop("ServicePrincipal.ObjectID", None, "2e5c2fd0-0000-4000-8000-000000000002"),
        prop("ServicePrincipal.DisplayName", None, "Mail bot")), operation="Assign")
    event = event_of(rec)
    assert kind(event) == (3005, 1)
    assert event["privileges"] == ["full_access_as_app"]
    assert event["user"] == {"uid": "2e5c2fd0-0000-4000-8000-000000000002", "name": "Mail bot",
                             "display_name": "Mail bot", "type_id": 4, "type": "Service"}
    assert event["resource"]["name"] == "Office 365 Exchange Online"


def test_a_default_access_assignment_to_a_user_names_the_app_role_id() -> None:
    app = {"id": "5a000000-0000-4000-8000-000000000006", "displayName": "Payroll",
           "type": "ServicePrincipal"}
    zeros = "00000000-0000-0000-0000-000000000000"
    rec = record("Add app role assignment grant to user", target(
        app, prop("AppRole.Id", None, zeros), prop("User.ObjectID", None, ALICE["id"]),
        prop("User.UPN", None, "alice@contoso.com")), operation="Assign")
    event = event_of(rec)
    assert kind(event) == (3005, 1)
    assert event["privileges"] == [zeros]
    assert event["user"]["uid"] == ALICE["id"]
    assert event["resource"] == {"uid": app["id"], "name": "Payroll", "type": "ServicePrincipal"}


def test_a_consent_lists_the_consented_scopes_for_the_consenting_user() -> None:
    app = {"id": "5a000000-0000-4000-8000-000000000005", "displayName": "Shady app",
           "type": "ServicePrincipal"}
    permissions = ("[] => [[Id: x, ClientId: y, ConsentType: Principal, "
                   "Scope:  User.Read Mail.Read offline_access, CreatedDateTime: ]]; ")
    rec = record("Consent to application", target(
        app, prop("ConsentContext.IsAdminConsent", None, "False"),
        prop("ConsentAction.Permissions", None, permissions)), operation="Assign")
    event = event_of(rec)
    assert kind(event) == (3005, 1)
    assert event["privileges"] == ["User.Read", "Mail.Read", "offline_access"]
    assert event["user"]["uid"] == BOB["id"]


def test_unknown_activities_land_in_entity_management_by_operation_type() -> None:
    event = event_of(record("Update conditional access policy", target(
        {"id": "p0", "displayName": "Require MFA", "type": "Policy"},
        prop("State", "enabled", "disabled")), operation="Update"))
    assert kind(event) == (3004, 3)
    assert event["entity"] == {"uid": "p0", "name": "Require MFA", "type_id": 5, "type": "Policy"}
    assert event["entity_result"]["data"] == {"State": "disabled"}
    assert not audits.is_mapped("Update conditional access policy")


def test_an_unlisted_operation_is_other_named_after_it() -> None:
    event = event_of(record("Restore user", target(ALICE), operation="Restore"))
    assert kind(event) == (3004, 99)
    assert event["activity_name"] == "Restore"


def test_a_mapped_activity_without_its_target_falls_back_to_entity_management() -> None:
    event = event_of(record("Add member to role", operation="Assign"))
    assert kind(event) == (3004, 99)
    assert event["entity"]["name"] == "UserManagement"


def test_actor_user_has_the_inventory_shape_and_the_source_ip() -> None:
    event = event_of(record("Add user", target(ALICE)))
    assert event["actor"]["user"]["uid"] == BOB["id"]
    assert event["actor"]["user"]["account"] == {"type_id": 6, "type": "Azure AD Account",
                                                 "uid": BOB["id"], "name": "bob@contoso.com"}
    assert event["src_endpoint"] == {"ip": "198.51.100.4"}


def test_an_application_initiator_is_app_uid_name_and_service_principal() -> None:
    event = event_of(record("Add user", target(ALICE), app=True))
    assert event["actor"]["app_uid"] == "a9900000-0000-4000-8000-00000000a990"
    assert event["actor"]["app_name"] == "Provisioning bot"
    assert event["actor"]["user"]["uid"] == "59000000-0000-4000-8000-000000000059"
    assert event["actor"]["user"]["type"] == "Service"
    assert "src_endpoint" not in event


@pytest.mark.parametrize(("result", "status_id"), [("success", 1), ("failure", 2),
                                                    ("timeout", 99)])
def test_result_becomes_status(result: str, status_id: int) -> None:
    event = event_of(record("Add user", target(ALICE), result=result, reason="Quota exceeded"))
    assert event["status_id"] == status_id
    assert event["status_detail"] == "Quota exceeded"


def test_an_unknown_future_result_is_omitted_not_guessed() -> None:
    event = event_of(record("Add user", target(ALICE), result="unknownFutureValue"))
    assert "status_id" not in event


def test_record_id_correlation_and_time_go_to_metadata_and_time() -> None:
    event = event_of(record("Add user", target(ALICE)))
    assert event["metadata"]["uid"] == "Directory_0001"
    assert event["metadata"]["correlation_uid"] == "c0000000-0000-4000-8000-00000000c0c0"
    assert event["metadata"]["event_code"] == "Add user"
    assert event["time"] == 1772334720123


@pytest.mark.parametrize("missing", ["id", "activityDateTime"])
def test_a_record_without_id_or_time_raises_mapping_error(missing: str) -> None:
    rec = record("Add user", target(ALICE))
    del rec[missing]
    with pytest.raises(MappingError):
        audits.to_event(rec, tenant_id=TENANT, product=PRODUCT)


@pytest.mark.parametrize("junk", [None, [], "Add user", 3])
def test_a_record_that_is_not_an_object_raises_mapping_error(junk: Any) -> None:
    with pytest.raises(MappingError):
        audits.to_event(junk, tenant_id=TENANT, product=PRODUCT)


def test_the_activity_table_covers_every_class_module_table() -> None:
    assert set(audits.ACTIVITY_TABLE) == audits.MAPPED_ACTIVITIES
    assert {class_uid for class_uid, _ in audits.ACTIVITY_TABLE.values()} == {3001, 3005, 3006}
    assert audits.is_mapped("Add member to role") and not audits.is_mapped(None)
