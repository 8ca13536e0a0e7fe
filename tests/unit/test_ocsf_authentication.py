"""connector.ocsf.authentication.to_event: a Graph sign-in -> an OCSF 1.8.0 Authentication event.

Unit tests pin each rule of the mapping; the property tests feed arbitrary Graph-like records and
demand a valid event (or a MappingError), never junk.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.ocsf import authentication as auth
from connector.ocsf import user_inventory
from connector.ocsf.user_inventory import MappingError
from connector.validation import EventValidator

VALIDATOR = EventValidator()
TENANT = auth.EXAMPLE_TENANT_ID
PRODUCT = auth.EXAMPLE_PRODUCT


def event_of(**changes: Any) -> dict[str, Any]:
    record = auth.example_sign_in()
    record.update(changes)
    return auth.to_event(record, tenant_id=TENANT, product=PRODUCT)


def test_the_example_is_a_valid_logon_with_both_profiles() -> None:
    event = event_of()
    assert VALIDATOR.errors(event) == []
    assert (event["class_uid"], event["activity_id"], event["type_uid"]) == (3002, 1, 300201)
    assert event["metadata"]["profiles"] == ["host", "security_control"]


def test_time_is_created_date_time_in_epoch_ms() -> None:
    assert event_of(createdDateTime="2026-01-01T00:00:01.5Z")["time"] == 1_767_225_601_500


def test_ids_are_the_sign_in_id_and_its_correlation_id() -> None:
    metadata = event_of()["metadata"]
    assert metadata["uid"] == "66ea54eb-6301-4ee5-be62-ff5a759b0100"
    assert metadata["correlation_uid"] == "d79f5bee-5860-4832-928f-3133e22ae912"
    assert metadata["tenant_uid"] == TENANT


def test_user_has_the_same_uid_name_and_account_as_the_inventory_event() -> None:
    graph_user = {"id": "3f1c2d4e-1111-4222-8333-444455556666", "displayName": "Jane Doe",
                  "userPrincipalName": "jane.doe@contoso.com"}
    inventory = user_inventory.to_event(
        graph_user, user_inventory.UserFacts(), collected_at_ms=0, tenant_id=TENANT,
        product=user_inventory.EXAMPLE_PRODUCT)["user"]
    sign_in = event_of()["user"]
    for key in ("uid", "name", "display_name", "domain", "account"):
        assert sign_in[key] == inventory[key], key


@pytest.mark.parametrize(("code", "status_id", "status"), [(0, 1, "Success"),
                                                           (50126, 2, "Failure"),
                                                           (50140, 2, "Failure")])
def test_status_follows_the_error_code(code: int, status_id: int, status: str) -> None:
    event = event_of(status={"errorCode": code, "failureReason": "Invalid password",
                             "additionalDetails": None})
    assert (event["status_id"], event["status"], event["status_code"]) == (status_id, status,
                                                                            str(code))
    assert ("status_detail" in event) == (code != 0)


def test_a_failure_keeps_its_reason_and_details() -> None:
    event = event_of(status={"errorCode": 53003, "failureReason": "Access has been blocked",
                             "additionalDetails": "Conditional Access"})
    assert event["status_detail"] == "Access has been blocked (Conditional Access)"


def test_a_missing_status_leaves_every_status_field_out() -> None:
    event = event_of(status=None)
    assert not {"status_id", "status", "status_code", "status_detail", "is_mfa"} & set(event)


@pytest.mark.parametrize(("level", "expected"), [("none", 0), ("low", 1), ("medium", 2),
                                                 ("high", 3)])
def test_risk_during_sign_in_maps_to_risk_level_id(level: str, expected: int) -> None:
    assert event_of(riskLevelDuringSignIn=level)["risk_level_id"] == expected


@pytest.mark.parametrize("level", ["hidden", "unknownFutureValue", None, 3])
def test_hidden_or_unknown_risk_is_omitted(level: Any) -> None:
    event = event_of(riskLevelDuringSignIn=level)
    assert "risk_level_id" not in event and "risk_level" not in event


def test_conditional_access_failure_is_denied_and_blocked() -> None:
    event = event_of(conditionalAccessStatus="failure")
    assert (event["action_id"], event["disposition_id"]) == (2, 2)
    assert (event["action"], event["disposition"]) == ("Denied", "Blocked")


def test_conditional_access_not_applied_reports_no_control_outcome() -> None:
    event = event_of(conditionalAccessStatus="notApplied", appliedConditionalAccessPolicies=[],
                     riskLevelDuringSignIn="hidden")
    assert not {"action_id", "disposition_id", "authorizations"} & set(event)
    assert event["metadata"]["profiles"] == ["host"]
    assert event["unmapped"]["conditionalAccessStatus"] == "notApplied"
    assert VALIDATOR.errors(event) == []


def test_policies_are_authorizations_and_disabled_ones_are_left_out() -> None:
    decisions = [(a["decision"], a["policy"]["name"], a["policy"]["is_applied"])
                 for a in event_of()["authorizations"]]
    assert decisions == [("success", "Require MFA for admins", True),
                         ("notApplied", "Block legacy auth", False)]


@pytest.mark.parametrize(("requirement", "code", "expected"), [
    ("multiFactorAuthentication", 0, True), ("singleFactorAuthentication", 0, False),
    ("multiFactorAuthentication", 50074, None), ("somethingNew", 0, None)])
def test_mfa_is_reported_only_for_successful_sign_ins_that_say_so(
        requirement: str, code: int, expected: bool | None) -> None:
    event = event_of(authenticationRequirement=requirement,
                     status={"errorCode": code, "failureReason": "x"})
    assert event.get("is_mfa") == expected


def test_device_carries_compliance_management_and_os() -> None:
    device = event_of()["device"]
    assert device["uid"] == "0f4c5a8e-2222-4333-8444-555566667777"
    assert (device["is_compliant"], device["is_managed"]) == (True, True)
    assert device["os"] == {"name": "Windows 10", "type_id": 100, "type": "Windows"}
    assert event_of()["unmapped"]["deviceDetail"]["trustType"] == "Azure AD joined"


@pytest.mark.parametrize(("name", "type_id"), [("MacOs", 300), ("Ios", 301), ("Android", 201),
                                               ("Linux", 200), ("Windows Phone", 101),
                                               ("PlayStation", 0)])
def test_operating_system_type_by_prefix(name: str, type_id: int) -> None:
    detail = auth.example_sign_in()["deviceDetail"] | {"operatingSystem": name}
    assert event_of(deviceDetail=detail)["device"]["os"]["type_id"] == type_id


def test_an_unregistered_device_is_known_by_the_sign_in_address() -> None:
    detail = {"deviceId": "", "displayName": "", "operatingSystem": "Android",
              "isCompliant": False, "isManaged": False, "trustType": ""}
    event = event_of(deviceDetail=detail, ipAddress="2001:db8::1")
    assert event["device"]["ip"] == "2001:db8::1"
    assert event["device"]["is_managed"] is False
    assert VALIDATOR.errors(event) == []


def test_a_device_with_nothing_known_is_omitted_with_its_profile() -> None:
    detail = {"deviceId": None, "displayName": None, "operatingSystem": None,
              "isCompliant": None, "isManaged": None}
    event = event_of(deviceDetail=detail)
    assert "device" not in event
    assert "host" not in event["metadata"]["profiles"]


def test_location_needs_a_place_beside_coordinates() -> None:
    location = {"city": None, "state": None, "countryOrRegion": None,
                "geoCoordinates": {"latitude": 1.0, "longitude": 2.0}}
    endpoint = event_of(location=location)["src_endpoint"]
    assert endpoint == {"ip": "131.107.159.37"}


def test_an_invalid_address_drops_the_source_endpoint() -> None:
    assert "src_endpoint" not in event_of(ipAddress="not-an-ip")


def test_service_is_the_application_signed_in_to() -> None:
    assert event_of()["service"] == {"name": "Graph Explorer",
                                     "uid": "de8bc8b5-d9f9-48b1-a8ad-b748da725064"}


def test_the_beta_user_agent_wins_over_the_browser() -> None:
    assert event_of(userAgent="Mozilla/5.0 (X11)")["http_request"]["user_agent"] == \
        "Mozilla/5.0 (X11)"
    assert event_of()["http_request"]["user_agent"] == "Edge 120.0.2210"


def test_a_service_principal_sign_in_is_a_service_user() -> None:
    event = event_of(userId=None, userPrincipalName=None, userDisplayName=None,
                     servicePrincipalId="sp-1", servicePrincipalName="Nightly export")
    assert event["user"] == {"uid": "sp-1", "name": "Nightly export",
                             "display_name": "Nightly export", "type_id": 4, "type": "Service",
                             "account": {"uid": "sp-1", "type_id": 6,
                                         "type": "Azure AD Account"}}
    assert VALIDATOR.errors(event) == []


@pytest.mark.parametrize("changes", [{"id": None}, {"id": "  "}, {"createdDateTime": "x"},
                                     {"createdDateTime": None},
                                     {"appId": None, "appDisplayName": None, "resourceId": None,
                                      "resourceDisplayName": None},
                                     {"userId": None, "userPrincipalName": None,
                                      "userDisplayName": None}])
def test_records_that_cannot_be_events_raise_mapping_error(changes: dict[str, Any]) -> None:
    with pytest.raises(MappingError):
        event_of(**changes)


# --- properties --------------------------------------------------------------------------

texts = st.one_of(st.text(max_size=30),
                  st.sampled_from(["", " ", "Unknown", "N/A", "none", "hidden", "low", "high",
                                   "success", "failure", "notApplied", "10.0.0.1", "::1",
                                   "multiFactorAuthentication", "Windows 10", "Ios"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64),
                    st.floats(allow_nan=True), texts)
anything = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8)
dates = st.one_of(st.datetimes().map(lambda d: d.isoformat() + "Z"),
                  st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "1Z"),
                  texts)
policies = st.lists(st.fixed_dictionaries({}, optional={
    "id": texts, "displayName": texts,
    "result": st.sampled_from(["success", "failure", "notApplied", "notEnabled",
                               "reportOnlySuccess", ""])}), max_size=3)
records = st.fixed_dictionaries({}, optional={
    "id": texts, "createdDateTime": dates, "correlationId": texts, "userId": texts,
    "userDisplayName": texts, "userPrincipalName": texts, "servicePrincipalId": texts,
    "servicePrincipalName": texts, "appId": texts, "appDisplayName": texts,
    "resourceId": texts, "resourceDisplayName": texts,
    "ipAddress": st.one_of(texts, st.ip_addresses().map(str)),
    "conditionalAccessStatus": texts, "riskLevelDuringSignIn": st.one_of(texts, anything),
    "authenticationRequirement": st.one_of(texts, anything),
    "status": st.one_of(anything, st.fixed_dictionaries({}, optional={
        "errorCode": st.one_of(st.integers(), anything), "failureReason": texts,
        "additionalDetails": texts})),
    "deviceDetail": st.one_of(anything, st.fixed_dictionaries({}, optional={
        "deviceId": texts, "displayName": texts, "operatingSystem": texts, "browser": texts,
        "isCompliant": scalars, "isManaged": scalars, "trustType": texts})),
    "location": st.one_of(anything, st.fixed_dictionaries({}, optional={
        "city": texts, "state": texts, "countryOrRegion": texts,
        "geoCoordinates": st.one_of(anything, st.fixed_dictionaries({}, optional={
            "latitude": scalars, "longitude": scalars}))})),
    "appliedConditionalAccessPolicies": st.one_of(policies, anything),
    "riskEventTypes_v2": st.one_of(st.lists(texts, max_size=3), anything),
    "signInEventTypes": st.one_of(st.lists(texts, max_size=3), anything),
    "isInteractive": scalars, "clientAppUsed": texts, "userAgent": texts,
})


def _no_empties(value: Any) -> bool:
    if isinstance(value, dict):
        # "Unknown" beside type_id 0 is OCSF's caption of a required id, not a placeholder.
        caption = value.get("type") == "Unknown" and value.get("type_id") == 0
        return bool(value) and all(v is not None and ((caption and k == "type") or _no_empties(v))
                                   for k, v in value.items())
    if isinstance(value, list):
        return bool(value) and all(_no_empties(v) for v in value)
    if isinstance(value, str):
        return bool(value.strip()) and value.strip().lower() not in {"unknown", "n/a"}
    return value is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_any_record_becomes_a_valid_event_or_a_mapping_error(record: dict[str, Any]) -> None:
    try:
        event = auth.to_event(record, tenant_id=TENANT, product=PRODUCT)
    except MappingError:
        return
    assert VALIDATOR.errors(event) == []
    assert _no_empties(event)


@settings(max_examples=300, deadline=None)
@given(records)
def test_declared_profiles_are_exactly_the_ones_used(record: dict[str, Any]) -> None:
    try:
        event = auth.to_event(record, tenant_id=TENANT, product=PRODUCT)
    except MappingError:
        return
    used = [profile for profile, keys in auth.PROFILE_ATTRIBUTES.items() if keys & set(event)]
    assert event["metadata"].get("profiles", []) == used


@settings(max_examples=200, deadline=None)
@given(records)
def test_the_mapping_is_pure(record: dict[str, Any]) -> None:
    def once() -> Any:
        try:
            return auth.to_event(record, tenant_id=TENANT, product=PRODUCT)
        except MappingError as error:
            return str(error)

    assert once() == once()

