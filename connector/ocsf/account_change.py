"""Directory audit records about a user account -> OCSF 1.8.0 Account Change (3001).

The target user is `user`, with the inventory's `uid`, `name` and `account`; the user after the
change is `user_result`, built from the new values of the modified properties OCSF has a field
for (display name, UPN, mail, given name, surname, job title). The old values, and every other
property, stay in `unmapped.targetResources` as Graph sent them.

Activities by Microsoft's names ("Microsoft Entra audit log categories and activities",
UserManagement and the Authentication Methods service); `ACTIVITIES` is the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connector.ocsf.audit_common import (
    Target,
    base_event,
    class_header,
    email,
    target_user,
    targets,
)
from connector.ocsf.common import MappingRow, Product
from connector.ocsf.common import text as _text

__all__ = ["ACTIVITIES", "ACTIVITY_CAPTIONS", "CLASS_CAPTIONS", "CLASS_UID", "FACTOR_TYPES",
           "FACTOR_TYPE_CAPTIONS", "MAPPING", "TYPE_CAPTIONS", "to_event"]

CLASS_UID: Final = 3001
CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "Account Change"}
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Create", 2: "Enable", 3: "Password Change", 4: "Password Reset",
    5: "Disable", 6: "Delete", 7: "Attach Policy", 8: "Detach Policy", 9: "Lock",
    10: "MFA Factor Enable", 11: "MFA Factor Disable", 12: "Unlock", 99: "Other",
}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + a: f"Account Change: {c}" for a, c in ACTIVITY_CAPTIONS.items()}

#: Microsoft's activityDisplayName -> activity_id.
ACTIVITIES: Final[Mapping[str, int]] = {
    "Add user": 1,
    "Enable account": 2,
    "Change user password": 3,
    "Change password (self-service)": 3,
    "Reset user password": 4,
    "Reset password": 4,
    "Reset password (by admin)": 4,
    "Reset password (self-service)": 4,
    "Disable account": 5,
    "Delete user": 6,
    "Hard Delete user": 6,
    "Unlock user account (self-service)": 12,
    "User registered security info": 10,
    "Admin registered security info": 10,
    "User deleted security info": 11,
    "Admin deleted security info": 11,
    "Update user": 99,
}

# modifiedProperties name -> user_result field, for the properties OCSF's user has.
_TEXT_RESULTS: Final = (("DisplayName", ("name", "display_name")),
                        ("GivenName", ("ldap_person", "given_name")),
                        ("Surname", ("ldap_person", "surname")),
                        ("JobTitle", ("ldap_person", "job_title")))
_CHANGED: Final = "Included Updated Properties"
_MFA_ACTIVITIES: Final = frozenset({10, 11})
FACTOR_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "SMS", 2: "Security Question", 3: "Phone Call", 4: "Biometric",
    5: "Push Notification", 6: "Hardware Token", 7: "OTP", 8: "Email", 9: "U2F", 10: "WebAuthn",
    11: "Password", 99: "Other"}
#: Registration-report method name -> auth_factor.factor_type_id. A method that is more than
#: one factor type (a mobile phone: SMS or voice; Windows Hello: PIN or biometric) is Other,
#: with Graph's name as `factor_type`.
FACTOR_TYPES: Final[Mapping[str, int]] = {
    "microsoftAuthenticatorPush": 5, "microsoftAuthenticatorPasswordless": 5,
    "fido2SecurityKey": 10, "passKeyDeviceBound": 10, "passKeyDeviceBoundAuthenticator": 10,
    "softwareOneTimePasscode": 7, "hardwareOneTimePasscode": 6, "officePhone": 3, "email": 8,
}


def _user_target(found: tuple[Target, ...]) -> Target | None:
    return next((t for t in found if (t.type or "").lower() == "user"), None)


def _user_result(target: Target) -> dict[str, Any] | None:
    result: dict[str, Any] = {}
    for prop, (key, sub) in _TEXT_RESULTS:
        change = target.change(prop)
        value = change.new_text if change is not None else None
        if value is None:
            continue
        if key == "ldap_person":
            result.setdefault("ldap_person", {})[sub] = value
        else:
            result[key] = value
            result[sub] = value
    upn = target.change("UserPrincipalName")
    if upn is not None and (new_upn := upn.new_text) is not None:
        result["account"] = {"type_id": 6, "type": "Azure AD Account", "name": new_upn}
        if "@" in new_upn and (domain := _text(new_upn.rpartition("@")[2])):
            result["domain"] = domain
    mail = target.change("Mail")
    if mail is not None and (address := email(mail.new)) is not None:
        result["email_addr"] = address
    if not result:
        return None
    if target.uid is not None:
        result["uid"] = target.uid
        if "account" in result:
            result["account"]["uid"] = target.uid
    return result


#: Phrases of `resultReason` ("User registered Authenticator App with Notification and Code",
#: "Admin registered temporary access pass method for user", "User deleted Mobile Phone SMS")
#: -> (factor_type_id, name for Other, is_totp); the first phrase found wins, so the longer
#: phrase of two that share words comes first.
REASON_METHODS: Final[tuple[tuple[str, int, str | None, bool], ...]] = (
    ("notification", 5, None, False),
    ("authenticator app with code", 7, None, True),
    ("authenticator app", 5, None, False),
    ("software oath", 7, None, True),
    ("hardware oath", 6, None, False),
    ("fido", 10, None, False),
    ("passkey", 10, None, False),
    ("security key", 10, None, False),
    ("office phone", 3, None, False),
    ("alternate mobile phone", 99, "Alternate Mobile Phone", False),
    ("mobile phone sms", 1, None, False),
    ("mobile phone", 99, "Mobile Phone", False),
    ("phone method", 99, "Phone", False),
    ("email", 8, None, False),
    ("temporary access pass", 99, "Temporary Access Pass", False),
    ("windows hello", 99, "Windows Hello for Business", False),
    ("security question", 2, None, False),
)


def _factor(type_id: int, other_name: str, totp: bool) -> dict[str, Any]:
    factor: dict[str, Any] = {"factor_type_id": type_id,
                              "factor_type": FACTOR_TYPE_CAPTIONS[type_id] if type_id != 99
                              else other_name}
    if totp:
        factor["is_totp"] = True
    return factor


def _reason_factor(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The method named in `resultReason`'s text, where Graph's records name it."""
    reason = _text(record.get("resultReason"))
    if reason is None:
        return None
    lowered = reason.lower()
    for phrase, type_id, other, totp in REASON_METHODS:
        if phrase in lowered:
            return _factor(type_id, other or phrase, totp)
    return None


def _auth_factors(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The method of a security-info record: `additionalDetails` key `Method` (the
    registration report's name) when present, else the method `resultReason` names (how
    Graph's records carry it: "User registered Authenticator App with Notification and Code")."""
    details = record.get("additionalDetails")
    out: list[dict[str, Any]] = []
    if not isinstance(details, list):
        details = []
    for item in details:
        if not isinstance(item, Mapping) or _text(item.get("key")) != "Method":
            continue
        method = _text(item.get("value"))
        if method is None:
            continue
        out.append(_factor(FACTOR_TYPES.get(method, 99), method,
                           method == "softwareOneTimePasscode"))
    if not out and (from_reason := _reason_factor(record)) is not None:
        out.append(from_reason)
    return out


def _changed_names(target: Target) -> list[str]:
    listed = target.change(_CHANGED)
    if listed is not None and (text := listed.new_text) is not None:
        return [n for part in text.split(",") if (n := part.strip())]
    return [c.name for c in target.changes if c.name != _CHANGED]


def to_event(record: Mapping[str, Any], activity_id: int, *, tenant_id: str,
             product: Product) -> dict[str, Any] | None:
    """The 3001 event, or None when the record names no target user (Entity Management then)."""
    target = _user_target(targets(record))
    user = target_user(target) if target is not None else None
    if target is None or user is None:
        return None
    name = (_text(record.get("activityDisplayName")) if activity_id == 99 else None) \
        or ACTIVITY_CAPTIONS[activity_id]
    event = base_event(record, class_header(CLASS_UID, CLASS_CAPTIONS[CLASS_UID], activity_id,
                                            name, TYPE_CAPTIONS),
                       tenant_id=tenant_id, product=product)
    event["user"] = user
    result = _user_result(target)
    if result is not None:
        event["user_result"] = result
    if activity_id in _MFA_ACTIVITIES and (factors := _auth_factors(record)):
        event["auth_factors"] = factors
    if activity_id == 99:
        changed = _changed_names(target)
        if changed and "message" in event:
            event["message"] = f"{event['message']}: {', '.join(changed)}"
    return event


MAPPING: Final[tuple[MappingRow, ...]] = (
    MappingRow("(constant)", "class_uid", f"`{CLASS_UID}`", "constant"),
    MappingRow("`activityDisplayName`", "activity_id", "by the activity table below; "
               "`Update user` is 99 (Other) with `activity_name` `Update user`"),
    MappingRow("`targetResources[type=User].id`", "user.uid", "object id, as in the inventory"),
    MappingRow("`targetResources[type=User].displayName`", "user.name", ""),
    MappingRow("`targetResources[type=User].userPrincipalName`", "user.account.name", "UPN"),
    MappingRow("`modifiedProperties[DisplayName].newValue`", "user_result.name",
               "also `display_name`; `user_result.uid` is the target's id"),
    MappingRow("`modifiedProperties[UserPrincipalName].newValue`", "user_result.account.name",
               "and `user_result.domain`"),
    MappingRow("`modifiedProperties[Mail].newValue`", "user_result.email_addr",
               "when a valid address"),
    MappingRow("`modifiedProperties[GivenName].newValue`", "user_result.ldap_person.given_name",
               ""),
    MappingRow("`modifiedProperties[Surname].newValue`", "user_result.ldap_person.surname", ""),
    MappingRow("`modifiedProperties[JobTitle].newValue`", "user_result.ldap_person.job_title",
               ""),
    MappingRow("`additionalDetails[Method]`", "auth_factors[].factor_type_id",
               "security info records (MFA Factor Enable / Disable): Authenticator 5 (Push "
               "Notification), FIDO2 and passkeys 10 (WebAuthn), software OATH 7 (OTP, "
               "`is_totp`), hardware OATH 6, office phone 3 (Phone Call), email 8; mobile "
               "phone, Windows Hello, Temporary Access Pass 99 (Other)"),
    MappingRow("`additionalDetails[Method]`", "auth_factors[].factor_type",
               "caption of the id, or the method's name for Other"),
    MappingRow("`resultReason`", "auth_factors[]",
               "without `additionalDetails[Method]`: the method the text names (\"User "
               "registered Authenticator App with Notification and Code\" 5, \"... with Code\" "
               "7 `is_totp`, \"Mobile Phone SMS\" 1, \"Office Phone\" 3, FIDO / passkey / "
               "security key 10, software OATH 7, hardware OATH 6, email 8, security questions "
               "2; mobile phone, Temporary Access Pass, Windows Hello 99 (Other, named)); "
               "no factor when the text names none"),
    MappingRow("`modifiedProperties[Included Updated Properties]`", "message",
               "`Update user: DisplayName, JobTitle` (the properties that changed)"),
)
