"""Account Change details the activity reference calls for: the security-info method of an MFA
Factor Enable / Disable event (Graph's records name it in `resultReason`'s text; an
`additionalDetails` Method, when present, wins), and the self-service unlock."""

from __future__ import annotations

from typing import Any

import pytest

from connector.ocsf import directory_audit
from connector.ocsf.user_inventory import Product
from connector.validation import EventValidator

PRODUCT = Product(name="audits", vendor_name="Microsoft", version="1")
USER = {"id": "6f1c2d4e-1111-4222-8333-444455556666", "displayName": "Alice",
        "type": "User", "userPrincipalName": "alice@contoso.com", "modifiedProperties": []}


def record(activity: str, reason: str, details: list[dict[str, str]] | None = None
           ) -> dict[str, Any]:
    return {"id": "AuthMethods_1", "activityDisplayName": activity, "result": "success",
            "resultReason": reason, "activityDateTime": "2026-12-07T07:00:00.1234567Z",
            "loggedByService": "Authentication Methods", "category": "UserManagement",
            "operationType": "Add", "correlationId": "c1",
            "initiatedBy": {"user": {"id": USER["id"], "displayName": "Alice",
                                     "userPrincipalName": "alice@contoso.com",
                                     "ipAddress": "203.0.113.9"}},
            "targetResources": [USER], "additionalDetails": details or []}


@pytest.mark.parametrize(("reason", "factor"), [
    ("User registered Authenticator App with Notification and Code",
     {"factor_type_id": 5, "factor_type": "Push Notification"}),
    ("User registered Authenticator App with Code",
     {"factor_type_id": 7, "factor_type": "OTP", "is_totp": True}),
    ("User registered Mobile Phone SMS", {"factor_type_id": 1, "factor_type": "SMS"}),
    ("User deleted Mobile Phone Call and SMS", {"factor_type_id": 99, "factor_type": "Mobile Phone"}),
    ("User registered Fido", {"factor_type_id": 10, "factor_type": "WebAuthn"}),
    ("User registered Office Phone", {"factor_type_id": 3, "factor_type": "Phone Call"}),
    ("Admin registered temporary access pass method for user",
     {"factor_type_id": 99, "factor_type": "Temporary Access Pass"}),
    ("Admin registered phone method for user", {"factor_type_id": 99, "factor_type": "Phone"}),
])
def test_the_method_comes_from_the_result_reason_text(reason: str, factor: dict[str, Any]) -> None:
    activity = "User deleted security info" if "deleted" in reason else \
        "Admin registered security info" if reason.startswith("Admin") else \
        "User registered security info"
    event = directory_audit.to_event(record(activity, reason), tenant_id="t", product=PRODUCT)

    assert event["auth_factors"] == [factor]
    assert EventValidator().errors(event) == []


def test_a_reason_naming_no_method_leaves_the_factor_unknown() -> None:
    event = directory_audit.to_event(record("User registered security info",
                                            "User registered all required security info."),
                                     tenant_id="t", product=PRODUCT)

    assert "auth_factors" not in event


def test_an_additional_details_method_wins_over_the_text() -> None:
    event = directory_audit.to_event(
        record("User registered security info", "User registered Mobile Phone SMS",
               [{"key": "Method", "value": "fido2SecurityKey"}]), tenant_id="t", product=PRODUCT)

    assert event["auth_factors"] == [{"factor_type_id": 10, "factor_type": "WebAuthn"}]


def test_a_self_service_unlock_is_an_account_unlock() -> None:
    unlocked = {**record("Unlock user account (self-service)", ""),
                "loggedByService": "Self-service Password Management", "operationType": "Update"}
    event = directory_audit.to_event(unlocked, tenant_id="t", product=PRODUCT)

    assert (event["class_uid"], event["activity_id"], event["activity_name"]) == (3001, 12, "Unlock")
    assert event["user"]["uid"] == USER["id"]
    assert EventValidator().errors(event) == []
