"""Pure mapping of a Microsoft Graph sign-in record to an OCSF 1.8.0 Authentication event (3002).

No I/O: the sign-in stream hands over the raw `signIn` dict from `/auditLogs/signIns` and gets
back a plain dict ready for orjson. As in the user mapping, unknown is omitted, never guessed,
and nothing empty is emitted.

The `user` object has the same `uid`, `name` and `account` shape as the User Inventory events
(object id, display name, UPN as `account.name`, account type "Azure AD Account"), so a SIEM joins
a sign-in to the inventory on `user.uid`. `device` belongs to OCSF's `host` profile and the
class-level risk and control outcome (`risk_level_id`, `action_id`, `disposition_id`,
`authorizations`) to `security_control`: each event declares in `metadata.profiles` exactly the
profiles whose attributes it carries, and `connector.validation` checks that.

`MAPPING` is the single description of the mapping; the second section of `docs/mapping.md` is
rendered from it (`python -m connector.ocsf --mapping-doc`).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any, Final

from connector.ocsf.user_inventory import (
    ACCOUNT_TYPE_CAPTIONS,
    OCSF_VERSION,
    RISK_LEVEL_CAPTIONS,
    SEVERITY_CAPTIONS,
    MappingError,
    MappingRow,
    Product,
    _epoch_ms,
    _product,
    _text,
)

__all__ = [
    "ACTION_CAPTIONS",
    "ACTIVITY_CAPTIONS",
    "CATEGORY_CAPTIONS",
    "CLASS_CAPTIONS",
    "CLASS_UID",
    "DEVICE_TYPE_CAPTIONS",
    "DISPOSITION_CAPTIONS",
    "EXAMPLE_PRODUCT",
    "EXAMPLE_TENANT_ID",
    "HOST_PROFILE",
    "MAPPING",
    "OS_TYPE_CAPTIONS",
    "PROFILE_ATTRIBUTES",
    "SECURITY_CONTROL_PROFILE",
    "STATUS_CAPTIONS",
    "TYPE_CAPTIONS",
    "USER_TYPE_SERVICE",
    "example_sign_in",
    "render_mapping_section",
    "to_event",
]

CLASS_UID: Final = 3002
_CATEGORY_UID: Final = 3
_ACTIVITY_ID: Final = 1  # Logon
_SEVERITY_ID: Final = 1  # Informational

# Captions as OCSF 1.8.0 defines them (tests compare them with the schema package's export).
CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "Authentication"}
CATEGORY_CAPTIONS: Final[Mapping[int, str]] = {_CATEGORY_UID: "Identity & Access Management"}
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Logon", 2: "Logoff", 3: "Authentication Ticket",
    4: "Service Ticket Request", 5: "Service Ticket Renew", 6: "Preauth", 7: "Account Switch",
    99: "Other",
}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + activity: f"Authentication: {caption}"
    for activity, caption in ACTIVITY_CAPTIONS.items()
}
STATUS_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
ACTION_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Allowed", 2: "Denied", 3: "Observed", 4: "Modified", 99: "Other",
}
DISPOSITION_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown", 1: "Allowed", 2: "Blocked",
                                                  99: "Other"}
DEVICE_TYPE_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown"}
OS_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 99: "Other", 100: "Windows", 101: "Windows Mobile", 200: "Linux",
    201: "Android", 300: "macOS", 301: "iOS", 302: "iPadOS",
}
USER_TYPE_SERVICE: Final = 4

HOST_PROFILE: Final = "host"
SECURITY_CONTROL_PROFILE: Final = "security_control"
#: Top-level event attributes that exist only with a profile (OCSF 1.8.0, class 3002).
PROFILE_ATTRIBUTES: Final[Mapping[str, frozenset[str]]] = {
    HOST_PROFILE: frozenset({"device"}),
    SECURITY_CONTROL_PROFILE: frozenset({
        "action", "action_id", "attacks", "authorizations", "confidence", "confidence_id",
        "confidence_score", "disposition", "disposition_id", "firewall_rule", "is_alert",
        "malware", "malware_scan_info", "policy", "risk_details", "risk_level", "risk_level_id",
        "risk_score",
    }),
}

_ACCOUNT_TYPE_ID: Final = 6  # Azure AD Account, as in the user inventory
_ACCOUNT_TYPE: Final = ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]

# riskLevelDuringSignIn -> risk_level_id; "hidden" (withheld) and "unknownFutureValue" say
# nothing: omitted.
_RISK_LEVELS: Final[Mapping[str, tuple[int, str]]] = {
    level: (level_id, RISK_LEVEL_CAPTIONS[level_id])
    for level, level_id in {"none": 0, "low": 1, "medium": 2, "high": 3}.items()
}
# conditionalAccessStatus -> (action_id, action, disposition_id, disposition). `notApplied`:
# no policy acted, so no control outcome to report (the raw value stays in `unmapped`).
_CA_OUTCOMES: Final[Mapping[str, tuple[int, str, int, str]]] = {
    "success": (1, ACTION_CAPTIONS[1], 1, DISPOSITION_CAPTIONS[1]),
    "failure": (2, ACTION_CAPTIONS[2], 2, DISPOSITION_CAPTIONS[2]),
}
_APPLIED_RESULTS: Final = frozenset({"success", "failure"})
_MFA_REQUIREMENTS: Final[Mapping[str, bool]] = {
    "multiFactorAuthentication": True, "singleFactorAuthentication": False,
}
# Graph's deviceDetail.operatingSystem, lower-cased prefix -> OCSF os.type_id. Longer prefixes
# first: "windows mobile" / "windows phone" before "windows", "ipad" before "ios".
_OS_PREFIXES: Final[tuple[tuple[str, int], ...]] = (
    ("windows mobile", 101), ("windows phone", 101), ("windows", 100), ("android", 201),
    ("ipados", 302), ("ipad", 302), ("ios", 301), ("iphone", 301), ("macos", 300),
    ("mac os", 300), ("osx", 300), ("linux", 200), ("ubuntu", 200), ("chromeos", 99),
)
# Kept in `unmapped` under Graph's own names: no OCSF 3002 attribute says the same thing.
_UNMAPPED_TEXT: Final = ("clientAppUsed", "conditionalAccessStatus", "riskState", "riskDetail",
                         "riskLevelAggregated", "resourceDisplayName", "resourceId",
                         "authenticationRequirement")

_HEADER: Final[Mapping[str, Any]] = {
    "activity_id": _ACTIVITY_ID,
    "activity_name": ACTIVITY_CAPTIONS[_ACTIVITY_ID],
    "category_uid": _CATEGORY_UID,
    "category_name": CATEGORY_CAPTIONS[_CATEGORY_UID],
    "class_uid": CLASS_UID,
    "class_name": CLASS_CAPTIONS[CLASS_UID],
    "type_uid": CLASS_UID * 100 + _ACTIVITY_ID,
    "type_name": TYPE_CAPTIONS[CLASS_UID * 100 + _ACTIVITY_ID],
    "severity_id": _SEVERITY_ID,
    "severity": SEVERITY_CAPTIONS[_SEVERITY_ID],
}


def _dict(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _key(value: Any) -> str:
    """A Graph enum value as a table key; anything else matches nothing."""
    return value if value.__class__ is str else ""


def _bool(value: Any) -> bool | None:
    return value if value.__class__ is bool else None


def _number(value: Any) -> float | None:
    if value.__class__ in (int, float) and value == value and abs(value) != float("inf"):
        return float(value)
    return None


def _ip(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _os(name: str) -> dict[str, Any]:
    lowered = name.lower()
    type_id = next((tid for prefix, tid in _OS_PREFIXES if lowered.startswith(prefix)), 0)
    return {"name": name, "type_id": type_id, "type": OS_TYPE_CAPTIONS[type_id]}


def _user(sign_in: Mapping[str, Any]) -> dict[str, Any]:
    get = sign_in.get
    uid = _text(get("userId"))
    upn = _text(get("userPrincipalName"))
    name = _text(get("userDisplayName"))
    user: dict[str, Any] = {}
    if uid is None and upn is None:
        # /beta service-principal and managed-identity sign-ins have no user.
        uid = _text(get("servicePrincipalId"))
        name = name or _text(get("servicePrincipalName"))
        if uid is None and name is None:
            raise MappingError("sign-in has no user, UPN or service principal")
        user["type_id"] = USER_TYPE_SERVICE
        user["type"] = "Service"
    if uid is not None:
        user["uid"] = uid
    if name is not None:
        user["name"] = name
        user["display_name"] = name
    if upn is not None and "@" in upn:
        domain = _text(upn.rpartition("@")[2])
        if domain is not None:
            user["domain"] = domain
    if uid is not None or upn is not None:
        account: dict[str, Any] = {"type_id": _ACCOUNT_TYPE_ID, "type": _ACCOUNT_TYPE}
        if uid is not None:
            account["uid"] = uid
        if upn is not None:
            account["name"] = upn
        user["account"] = account
    return user


def _src_endpoint(sign_in: Mapping[str, Any]) -> dict[str, Any] | None:
    ip = _ip(sign_in.get("ipAddress"))
    if ip is None:
        return None  # a network endpoint needs an address; a location alone cannot stand
    endpoint: dict[str, Any] = {"ip": ip}
    where = _dict(sign_in.get("location"))
    if where is not None:
        location: dict[str, Any] = {}
        for src, dst in (("city", "city"), ("state", "region"), ("countryOrRegion", "country")):
            text = _text(where.get(src))
            if text is not None:
                location[dst] = text
        if location:  # OCSF needs a city, region, country or postal code beside coordinates
            coordinates = _dict(where.get("geoCoordinates"))
            if coordinates is not None:
                lat = _number(coordinates.get("latitude"))
                long = _number(coordinates.get("longitude"))
                if lat is not None and long is not None:
                    location["lat"] = lat
                    location["long"] = long
            endpoint["location"] = location
    return endpoint


def _device(detail: Mapping[str, Any], ip: str | None) -> dict[str, Any] | None:
    device: dict[str, Any] = {}
    uid = _text(detail.get("deviceId"))
    if uid is not None:
        device["uid"] = uid
    name = _text(detail.get("displayName"))
    if name is not None:
        device["name"] = name
    os_name = _text(detail.get("operatingSystem"))
    if os_name is not None:
        device["os"] = _os(os_name)
    for src, dst in (("isCompliant", "is_compliant"), ("isManaged", "is_managed")):
        flag = _bool(detail.get(src))
        if flag is not None:
            device[dst] = flag
    if not device:
        return None
    if uid is None and name is None:
        if ip is None:
            return None  # OCSF names a device by id, name or address; none is known
        device["ip"] = ip  # unregistered device: known only by the address it came from
    # OCSF requires a device type; Graph does not report one.
    device["type_id"] = 0
    device["type"] = DEVICE_TYPE_CAPTIONS[0]
    return device


def _service(sign_in: Mapping[str, Any], uid: str) -> dict[str, str]:
    """The application signed in to; OCSF requires one (or a destination) in every event."""
    for name_key, id_key in (("appDisplayName", "appId"), ("resourceDisplayName", "resourceId")):
        service = {"name": _text(sign_in.get(name_key)), "uid": _text(sign_in.get(id_key))}
        found = {k: v for k, v in service.items() if v is not None}
        if found:
            return found
    raise MappingError(f"sign-in {uid} names no application or resource")


def _authorizations(policies: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(policies, list):
        return out
    for raw in policies:
        policy = _dict(raw)
        if policy is None:
            continue
        result = _text(policy.get("result"))
        if result is None or result == "notEnabled":
            continue  # a disabled policy took no part in the sign-in
        entry: dict[str, Any] = {"uid": _text(policy.get("id")),
                                 "name": _text(policy.get("displayName"))}
        entry = {k: v for k, v in entry.items() if v is not None}
        if not entry:
            continue
        entry["is_applied"] = result in _APPLIED_RESULTS
        out.append({"decision": result, "policy": entry})
    return out


def _status(sign_in: Mapping[str, Any], event: dict[str, Any]) -> bool | None:
    """Fill the status fields; returns whether the sign-in succeeded (None = unknown)."""
    status = _dict(sign_in.get("status"))
    if status is None:
        return None
    code = status.get("errorCode")
    if code.__class__ is not int:
        return None
    succeeded = code == 0
    status_id = 1 if succeeded else 2
    event["status_id"] = status_id
    event["status"] = STATUS_CAPTIONS[status_id]
    event["status_code"] = str(code)
    reason = None if succeeded else _text(status.get("failureReason"))
    details = _text(status.get("additionalDetails"))
    detail = f"{reason} ({details})" if reason and details and details != reason else (
        reason or details)
    if detail is not None:
        event["status_detail"] = detail
    return succeeded


def _unmapped(sign_in: Mapping[str, Any], detail: Mapping[str, Any] | None
              ) -> dict[str, Any]:
    get = sign_in.get
    out: dict[str, Any] = {}
    for key in _UNMAPPED_TEXT:
        text = _text(get(key))
        if text is not None:
            out[key] = text
    interactive = _bool(get("isInteractive"))
    if interactive is not None:
        out["isInteractive"] = interactive
    for key in ("riskEventTypes_v2", "signInEventTypes"):
        values = get(key)
        if isinstance(values, list):
            texts = [t for t in map(_text, values) if t is not None]
            if texts:
                out[key] = texts
    if detail is not None:
        device: dict[str, str] = {}
        for key in ("trustType", "browser"):
            text = _text(detail.get(key))
            if text is not None:
                device[key] = text
        if device:
            out["deviceDetail"] = device
    return out


def to_event(sign_in: Mapping[str, Any], *, tenant_id: str, product: Product) -> dict[str, Any]:
    """One Graph sign-in -> one OCSF 1.8.0 Authentication: Logon event (see MAPPING).

    Raises `MappingError` for a record that cannot become a valid event (no id, no usable
    `createdDateTime`, nobody signing in, no application); the stream counts and skips it.
    """
    if not isinstance(sign_in, Mapping):
        raise MappingError(f"sign-in record is a {type(sign_in).__name__}, not an object")
    get = sign_in.get
    uid = _text(get("id"))
    if uid is None:
        raise MappingError("sign-in record has no usable id")
    time_ms = _epoch_ms(get("createdDateTime"))
    if time_ms is None:
        raise MappingError(f"sign-in {uid} has no usable createdDateTime")

    metadata: dict[str, Any] = {"version": OCSF_VERSION, "product": _product(product), "uid": uid}
    correlation = _text(get("correlationId"))
    if correlation is not None:
        metadata["correlation_uid"] = correlation
    tenant = _text(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant

    event: dict[str, Any] = {**_HEADER, "time": time_ms, "metadata": metadata,
                             "user": _user(sign_in)}
    succeeded = _status(sign_in, event)
    endpoint = _src_endpoint(sign_in)
    if endpoint is not None:
        event["src_endpoint"] = endpoint
    event["service"] = _service(sign_in, uid)
    detail = _dict(get("deviceDetail"))
    agent = _text(get("userAgent")) or (_text(detail.get("browser")) if detail else None)
    if agent is not None:
        event["http_request"] = {"user_agent": agent}
    requirement = _MFA_REQUIREMENTS.get(_key(get("authenticationRequirement")))
    if requirement is not None and succeeded:
        event["is_mfa"] = requirement

    profiles: list[str] = []
    device = _device(detail, endpoint["ip"] if endpoint else None) if detail else None
    if device is not None:
        event["device"] = device
        profiles.append(HOST_PROFILE)
    controlled = False
    risk = _RISK_LEVELS.get(_key(get("riskLevelDuringSignIn")))
    if risk is not None:
        event["risk_level_id"], event["risk_level"] = risk
        controlled = True
    outcome = _CA_OUTCOMES.get(_key(get("conditionalAccessStatus")))
    if outcome is not None:
        (event["action_id"], event["action"], event["disposition_id"],
         event["disposition"]) = outcome
        controlled = True
    authorizations = _authorizations(get("appliedConditionalAccessPolicies"))
    if authorizations:
        event["authorizations"] = authorizations
        controlled = True
    if controlled:
        profiles.append(SECURITY_CONTROL_PROFILE)
    if profiles:
        metadata["profiles"] = profiles
    unmapped = _unmapped(sign_in, detail)
    if unmapped:
        event["unmapped"] = unmapped
    return event


# --------------------------------------------------------------------------- the table

def _const(path: str, value: object) -> MappingRow:
    return MappingRow("(constant)", path, f"`{json.dumps(value)}`", "constant")


MAPPING: Final[tuple[MappingRow, ...]] = (
    _const("class_uid", CLASS_UID),
    _const("class_name", CLASS_CAPTIONS[CLASS_UID]),
    _const("category_uid", _CATEGORY_UID),
    _const("category_name", CATEGORY_CAPTIONS[_CATEGORY_UID]),
    _const("activity_id", _ACTIVITY_ID),
    _const("activity_name", ACTIVITY_CAPTIONS[_ACTIVITY_ID]),
    _const("type_uid", _HEADER["type_uid"]),
    _const("type_name", _HEADER["type_name"]),
    _const("severity_id", _SEVERITY_ID),
    _const("severity", SEVERITY_CAPTIONS[_SEVERITY_ID]),
    MappingRow("`createdDateTime`", "time",
               "epoch ms of the sign-in; a record without a usable one is skipped"),
    _const("metadata.version", OCSF_VERSION),
    MappingRow("connector", "metadata.product.name", "the connector's product name", "context"),
    MappingRow("connector", "metadata.product.vendor_name", "the connector's vendor", "context"),
    MappingRow("connector", "metadata.product.version", "the connector's version", "context"),
    MappingRow("`id`", "metadata.uid",
               "the sign-in's id (stable: a re-delivered event keeps it); a record without one "
               "is skipped"),
    MappingRow("`correlationId`", "metadata.correlation_uid", "the sign-in's correlation id"),
    MappingRow("tenant id (token `tid`, else configuration)", "metadata.tenant_uid", "",
               "context"),
    MappingRow("`deviceDetail`, `riskLevelDuringSignIn`, `conditionalAccessStatus`, "
               "`appliedConditionalAccessPolicies`", "metadata.profiles",
               "`host` when `device` is emitted, `security_control` when any of "
               "`risk_level_id`, `action_id`, `authorizations` is; omitted when neither"),
    MappingRow("`userId`", "user.uid",
               "object id, as `user.uid` of the inventory events (the join key); for a /beta "
               "service-principal sign-in `servicePrincipalId`"),
    MappingRow("`userDisplayName`", "user.name",
               "display name, as in the inventory (service principal: `servicePrincipalName`)"),
    MappingRow("`userDisplayName`", "user.display_name", "display name, as reported"),
    MappingRow("`userPrincipalName`", "user.domain", "text after the last `@`"),
    MappingRow("`userPrincipalName`", "user.account.name", "UPN, as in the inventory"),
    MappingRow("`userId`", "user.account.uid", "object id, as in the inventory"),
    _const("user.account.type_id", _ACCOUNT_TYPE_ID),
    _const("user.account.type", _ACCOUNT_TYPE),
    MappingRow("`servicePrincipalId`", "user.type_id",
               "`4` (Service) for a /beta service-principal or managed-identity sign-in (no "
               "`userId`); omitted for users (their role is in the inventory)"),
    MappingRow("`servicePrincipalId`", "user.type", "caption of `user.type_id`"),
    MappingRow("`status.errorCode`", "status_id",
               "`0` -> 1 (Success), any other code -> 2 (Failure); omitted when absent"),
    MappingRow("`status.errorCode`", "status", "caption of `status_id`"),
    MappingRow("`status.errorCode`", "status_code", "the Entra error code as text (`50126`)"),
    MappingRow("`status.failureReason`, `status.additionalDetails`", "status_detail",
               "failure reason (failures only), with the additional details in parentheses; "
               "the additional details alone for a success that has them"),
    MappingRow("`ipAddress`", "src_endpoint.ip",
               "IPv4 or IPv6; `src_endpoint` is omitted without a valid address"),
    MappingRow("`location.city`", "src_endpoint.location.city", ""),
    MappingRow("`location.state`", "src_endpoint.location.region", ""),
    MappingRow("`location.countryOrRegion`", "src_endpoint.location.country",
               "ISO 3166-1 alpha-2, as Graph reports it"),
    MappingRow("`location.geoCoordinates.latitude`", "src_endpoint.location.lat",
               "with the longitude, and only beside a city, state or country"),
    MappingRow("`location.geoCoordinates.longitude`", "src_endpoint.location.long", ""),
    MappingRow("`deviceDetail.deviceId`", "device.uid", "Entra device id (`host` profile)"),
    MappingRow("`deviceDetail.displayName`", "device.name", ""),
    MappingRow("`deviceDetail.operatingSystem`", "device.os.name", "as reported (`Windows 10`)"),
    MappingRow("`deviceDetail.operatingSystem`", "device.os.type_id",
               "by prefix: Windows 100, Windows Mobile/Phone 101, Linux 200, Android 201, "
               "macOS 300, iOS 301, iPadOS 302, ChromeOS 99 (Other), else 0 (Unknown)"),
    MappingRow("`deviceDetail.operatingSystem`", "device.os.type", "caption of `os.type_id`"),
    MappingRow("`deviceDetail.isCompliant`", "device.is_compliant",
               "Intune compliance; omitted when null"),
    MappingRow("`deviceDetail.isManaged`", "device.is_managed", "omitted when null"),
    MappingRow("`ipAddress`", "device.ip",
               "only for a device Graph names neither by id nor by name (not registered in "
               "Entra ID): OCSF needs one of them, and the sign-in's address is the one known"),
    MappingRow("(constant)", "device.type_id",
               "`0` (Unknown): OCSF requires a device type and Graph reports none", "constant"),
    MappingRow("(constant)", "device.type", '`"Unknown"`', "constant"),
    MappingRow("`appDisplayName`", "service.name",
               "the application signed in to; without `appDisplayName` and `appId`, the "
               "resource (`resourceDisplayName`, `resourceId`); a record with neither is "
               "skipped (OCSF requires a service)"),
    MappingRow("`appId`", "service.uid", "its application (client) id"),
    MappingRow("`userAgent` (/beta), else `deviceDetail.browser`", "http_request.user_agent",
               "v1.0 reports only the browser and its version (`Edge 80.0.361`); /beta the full "
               "user agent"),
    MappingRow("`authenticationRequirement`", "is_mfa",
               "successful sign-ins only: `multiFactorAuthentication` true, "
               "`singleFactorAuthentication` false; omitted for failures (whether the MFA step "
               "was reached is not reported) and other values"),
    MappingRow("`riskLevelDuringSignIn`", "risk_level_id",
               "`none` 0 (Info), `low` 1, `medium` 2, `high` 3; `hidden` and unknown values "
               "omitted (`security_control` profile)"),
    MappingRow("`riskLevelDuringSignIn`", "risk_level", "caption of `risk_level_id`"),
    MappingRow("`conditionalAccessStatus`", "action_id",
               "`success` 1 (Allowed), `failure` 2 (Denied); omitted for `notApplied` (no "
               "policy acted) and unknown values"),
    MappingRow("`conditionalAccessStatus`", "action", "caption of `action_id`"),
    MappingRow("`conditionalAccessStatus`", "disposition_id",
               "`success` 1 (Allowed), `failure` 2 (Blocked)"),
    MappingRow("`conditionalAccessStatus`", "disposition", "caption of `disposition_id`"),
    MappingRow("`appliedConditionalAccessPolicies[].result`", "authorizations[].decision",
               "Graph's result (`success`, `failure`, `notApplied`, `reportOnly...`); "
               "policies with `notEnabled` are left out"),
    MappingRow("`appliedConditionalAccessPolicies[].id`", "authorizations[].policy.uid", ""),
    MappingRow("`appliedConditionalAccessPolicies[].displayName`",
               "authorizations[].policy.name", ""),
    MappingRow("`appliedConditionalAccessPolicies[].result`",
               "authorizations[].policy.is_applied",
               "true for `success` / `failure` (the policy was enforced), else false"),
    *(MappingRow(f"`{key}`", f"unmapped.{key}", "verbatim") for key in _UNMAPPED_TEXT),
    MappingRow("`isInteractive`", "unmapped.isInteractive", "verbatim"),
    MappingRow("`riskEventTypes_v2`", "unmapped.riskEventTypes_v2", "verbatim, when not empty"),
    MappingRow("`signInEventTypes` (/beta)", "unmapped.signInEventTypes",
               "verbatim (`interactiveUser`, `nonInteractiveUser`, `servicePrincipal`, "
               "`managedIdentity`)"),
    MappingRow("`deviceDetail.trustType`", "unmapped.deviceDetail.trustType",
               "verbatim (`Azure AD joined`, `Hybrid Azure AD joined`, `Azure AD registered`): "
               "OCSF's device has no join-type attribute"),
    MappingRow("`deviceDetail.browser`", "unmapped.deviceDetail.browser", "verbatim"),
)

# --------------------------------------------------------------------------- the document

EXAMPLE_TENANT_ID: Final = "00000000-0000-4000-8000-0000000000aa"
EXAMPLE_PRODUCT: Final = Product(name="Microsoft Entra ID sign-ins", vendor_name="Microsoft",
                                 version="0.1.0")


def example_sign_in() -> dict[str, Any]:
    """A fully-populated Graph sign-in (every mapped property set); a fresh dict per call."""
    return {
        "id": "66ea54eb-6301-4ee5-be62-ff5a759b0100",
        "createdDateTime": "2026-01-01T08:15:41.6195833Z",
        "userDisplayName": "Jane Doe",
        "userPrincipalName": "jane.doe@contoso.com",
        "userId": "3f1c2d4e-1111-4222-8333-444455556666",
        "appId": "de8bc8b5-d9f9-48b1-a8ad-b748da725064",
        "appDisplayName": "Graph Explorer",
        "ipAddress": "131.107.159.37",
        "clientAppUsed": "Browser",
        "correlationId": "d79f5bee-5860-4832-928f-3133e22ae912",
        "conditionalAccessStatus": "success",
        "isInteractive": True,
        "authenticationRequirement": "multiFactorAuthentication",
        "riskDetail": "none",
        "riskLevelAggregated": "low",
        "riskLevelDuringSignIn": "low",
        "riskState": "atRisk",
        "riskEventTypes_v2": ["unfamiliarFeatures"],
        "resourceDisplayName": "Microsoft Graph",
        "resourceId": "00000003-0000-0000-c000-000000000000",
        "status": {"errorCode": 0, "failureReason": None,
                   "additionalDetails": "MFA requirement satisfied by strong authentication"},
        "deviceDetail": {
            "deviceId": "0f4c5a8e-2222-4333-8444-555566667777",
            "displayName": "JANE-LAPTOP",
            "operatingSystem": "Windows 10",
            "browser": "Edge 120.0.2210",
            "isCompliant": True,
            "isManaged": True,
            "trustType": "Azure AD joined",
        },
        "location": {
            "city": "Redmond",
            "state": "Washington",
            "countryOrRegion": "US",
            "geoCoordinates": {"altitude": None, "latitude": 47.6805, "longitude": -122.1209},
        },
        "appliedConditionalAccessPolicies": [
            {"id": "de7e60eb-ed89-4d73-8205-2227def6b7c9", "displayName": "Require MFA for admins",
             "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [],
             "result": "success"},
            {"id": "6701123a-b4c6-48af-8565-565c8bf7cabc", "displayName": "Block legacy auth",
             "enforcedGrantControls": [], "enforcedSessionControls": [],
             "result": "notApplied"},
            {"id": "0a1b2c3d-0000-4000-8000-00000000000f", "displayName": "Disabled pilot",
             "enforcedGrantControls": [], "enforcedSessionControls": [],
             "result": "notEnabled"},
        ],
        "signInEventTypes": ["interactiveUser"],
    }


_DOC_RULES: Final = """\
Every sign-in of `GET /auditLogs/signIns` (v1.0: interactive user sign-ins; with the /beta
`sign_ins.event_types` option also non-interactive, service-principal and managed-identity
sign-ins) becomes one **Authentication: Logon** event (`class_uid` 3002, `activity_id` 1,
`type_uid` 300201, severity Informational) that validates against the bundled OCSF 1.8.0 JSON
Schema generated with the `host` and `security_control` profiles (`schemas/`). The mapping is
`connector.ocsf.authentication.to_event`, a pure function of the Graph record.

- The rules of the first section apply (unknown omitted, no placeholders, epoch ms).
- **The join with the inventory**: `user.uid` (object id), `user.name` (display name) and
  `user.account` (`uid`, UPN as `name`, type Azure AD Account) have the same values as in the
  User Inventory Info events.
- **Profiles**: `metadata.profiles` lists exactly the profiles whose attributes the event carries:
  `host` for `device`, `security_control` for the sign-in risk and the conditional-access
  outcome. `connector.validation` rejects a profile attribute whose profile is not declared.
- **Failure** is any non-zero `status.errorCode`, including interrupts such as 50074 (strong
  authentication required) and 50140 (keep me signed in): Graph lists them as failed sign-ins.
- **`time`** is `createdDateTime`, when the sign-in happened, not when the connector read it
  (records can appear in Graph minutes to hours later).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_mapping_section() -> str:
    """The Authentication section of docs/mapping.md, rendered from MAPPING and the example."""
    example = to_event(example_sign_in(), tenant_id=EXAMPLE_TENANT_ID, product=EXAMPLE_PRODUCT)
    lines = [
        "# Graph -> OCSF 1.8.0 mapping (Authentication, class 3002)",
        "",
        _DOC_RULES,
        "## Field table",
        "",
        "| Graph source | OCSF path | Rule |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {_cell(r.source)} | `{r.path}` | {_cell(r.rule or 'as reported')} |"
              for r in MAPPING]
    lines += [
        "",
        "## Example",
        "",
        "Graph sign-in record:",
        "",
        "```json",
        json.dumps(example_sign_in(), indent=2, ensure_ascii=False),
        "```",
        "",
        "Event:",
        "",
        "```json",
        json.dumps(example, indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return "\n".join(lines)
