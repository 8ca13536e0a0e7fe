"""What every directory-audit event shares, whatever its OCSF class.

A Graph `directoryAudit` record becomes one event of Account Change (3001), Entity Management
(3004), User Access Management (3005) or Group Management (3006); `directory_audit.to_event`
chooses. The parts that do not depend on the class live here: the header, `time`, `metadata`,
`actor` and `src_endpoint`, the status, the target objects in the inventory's shape, the
decoding of `modifiedProperties` (Graph sends each old and new value as a JSON-encoded string)
and `unmapped`, which keeps what no OCSF field says.

Pure functions, no I/O. Unknown is omitted, never guessed; nothing empty is emitted.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from connector.ocsf.common import (
    ACCOUNT_TYPE_CAPTIONS,
    OCSF_VERSION,
    MappingError,
    MappingRow,
    Product,
    event_header,
)
from connector.ocsf.common import email as _email
from connector.ocsf.common import epoch_ms as _epoch_ms
from connector.ocsf.common import product_json as _product
from connector.ocsf.common import text as _text

__all__ = [
    "CATEGORY_CAPTIONS",
    "CATEGORY_UID",
    "COMMON_MAPPING",
    "STATUS_CAPTIONS",
    "Change",
    "Target",
    "actor_fields",
    "base_event",
    "changes",
    "class_header",
    "clean",
    "decode",
    "email",
    "group_object",
    "target_user",
    "targets",
    "user_object",
]

CATEGORY_UID: Final = 3
CATEGORY_CAPTIONS: Final[Mapping[int, str]] = {CATEGORY_UID: "Identity & Access Management"}
STATUS_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
_SEVERITY_ID: Final = 1  # Informational: the audit log records changes, not detections
_ACCOUNT_TYPE_ID: Final = 6  # Azure AD Account, as in the user inventory
_USER_TYPE_SERVICE: Final = 4
_OTHER: Final = 99
# Graph's `result` -> (status_id, status). `timeout`: the outcome is not known to be either.
_RESULTS: Final[Mapping[str, tuple[int, str]]] = {
    "success": (1, STATUS_CAPTIONS[1]),
    "failure": (2, STATUS_CAPTIONS[2]),
    "timeout": (_OTHER, "Timeout"),
}
# Top-level fields kept verbatim in `unmapped` (the mapped ones are not repeated there).
_UNMAPPED_TOP: Final = ("category", "operationType", "additionalDetails", "targetResources",
                        "userAgent")


def class_header(class_uid: int, class_name: str, activity_id: int, activity_name: str,
                 type_captions: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The classification fields; `activity_name` is the source's label for Other (99)."""
    return event_header(class_uid=class_uid, class_name=class_name, category_uid=CATEGORY_UID,
                        category_name=CATEGORY_CAPTIONS[CATEGORY_UID], activity_id=activity_id,
                        activity_name=activity_name, severity_id=_SEVERITY_ID,
                        type_name=(type_captions or {}).get(class_uid * 100 + activity_id))


def clean(value: Any) -> Any:
    """`value` without nulls, blank strings and empty containers (None if nothing is left):
    OCSF rejects nulls and the project emits no empty placeholders."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, Mapping):
        out = {str(k): v for k, item in value.items() if (v := clean(item)) is not None}
        return out or None
    if isinstance(value, list | tuple):
        items = [v for item in value if (v := clean(item)) is not None]
        return items or None
    if isinstance(value, bool | int | float):
        return value
    return None


def decode(value: Any) -> Any:
    """A `modifiedProperties` old or new value: Graph JSON-encodes it in a string
    (`"\\"Jane\\""`, `"[\\"a\\",\\"b\\"]"`); anything that is not valid JSON is kept as sent."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class Change:
    """One decoded modified property of one target."""

    name: str
    old: Any
    new: Any

    @property
    def new_text(self) -> str | None:
        return _first_text(self.new)

    @property
    def old_text(self) -> str | None:
        return _first_text(self.old)


def _first_text(value: Any) -> str | None:
    """A single text out of a decoded value; Graph often wraps one value in a list."""
    if isinstance(value, list):
        texts = [t for item in value if (t := _text(item)) is not None]
        return texts[0] if len(texts) == 1 else None
    if isinstance(value, bool):
        return None
    return _text(value)


@dataclass(frozen=True, slots=True)
class Target:
    """One of the record's `targetResources`, with its modified properties decoded."""

    uid: str | None
    name: str | None
    type: str | None
    upn: str | None
    changes: tuple[Change, ...]

    def change(self, *names: str) -> Change | None:
        wanted = {n.lower() for n in names}
        return next((c for c in self.changes if c.name.lower() in wanted), None)


def changes(raw: Any) -> tuple[Change, ...]:
    if not isinstance(raw, list):
        return ()
    out = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("displayName"))
        if name is not None:
            out.append(Change(name, decode(item.get("oldValue")), decode(item.get("newValue"))))
    return tuple(out)


def targets(record: Mapping[str, Any]) -> tuple[Target, ...]:
    raw = record.get("targetResources")
    if not isinstance(raw, list):
        return ()
    return tuple(
        Target(_text(t.get("id")), _text(t.get("displayName")), _text(t.get("type")),
               _text(t.get("userPrincipalName")), changes(t.get("modifiedProperties")))
        for t in raw if isinstance(t, Mapping))


def user_object(uid: str | None, name: str | None, upn: str | None, *,
                service: bool = False) -> dict[str, Any] | None:
    """A user as the inventory emits it: object id, display name, UPN as `account.name`.
    A service principal is a user of type Service, as in the sign-in events."""
    user: dict[str, Any] = {}
    if uid is not None:
        user["uid"] = uid
    if name is not None:
        user["name"] = name
        user["display_name"] = name
    if upn is not None and "@" in upn and (domain := _text(upn.rpartition("@")[2])):
        user["domain"] = domain
    if service:
        if not user:
            return None
        user["type_id"] = _USER_TYPE_SERVICE
        user["type"] = "Service"
        return user
    if uid is not None or upn is not None:
        account: dict[str, Any] = {"type_id": _ACCOUNT_TYPE_ID,
                                   "type": ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]}
        if uid is not None:
            account["uid"] = uid
        if upn is not None:
            account["name"] = upn
        user["account"] = account
    return user or None


def target_user(target: Target) -> dict[str, Any] | None:
    return user_object(target.uid, target.name, target.upn,
                       service=(target.type or "").lower() == "serviceprincipal")


def group_object(uid: str | None, name: str | None) -> dict[str, Any] | None:
    """A group as `user.groups[]` of the inventory: object id and display name."""
    group = {key: value for key, value in (("uid", uid), ("name", name)) if value is not None}
    return group or None


def _ip(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def actor_fields(record: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """(`actor`, source IP) from `initiatedBy`: the user, or else the application."""
    initiated = record.get("initiatedBy")
    if not isinstance(initiated, Mapping):
        return None, None
    user = initiated.get("user")
    if isinstance(user, Mapping):
        found = user_object(_text(user.get("id")), _text(user.get("displayName")),
                            _text(user.get("userPrincipalName")))
        if found is not None:
            return {"user": found}, _ip(user.get("ipAddress"))
    app = initiated.get("app")
    if isinstance(app, Mapping):
        actor: dict[str, Any] = {}
        app_id, app_name = _text(app.get("appId")), _text(app.get("displayName"))
        if app_id is not None:
            actor["app_uid"] = app_id
        if app_name is not None:
            actor["app_name"] = app_name
        principal = user_object(_text(app.get("servicePrincipalId")),
                                _text(app.get("servicePrincipalName")) or app_name, None,
                                service=True)
        if principal is not None and "uid" in principal:
            actor["user"] = principal
        if actor:
            return actor, _ip(app.get("ipAddress"))
    return None, None


def _status(record: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    result = record.get("result")
    found = _RESULTS.get(result.lower()) if isinstance(result, str) else None
    if found is not None:
        out["status_id"], out["status"] = found
        out["status_code"] = result
    reason = _text(record.get("resultReason"))
    if reason is not None:
        out["status_detail"] = reason
    return out


def base_event(record: Mapping[str, Any], header: Mapping[str, Any], *, tenant_id: str,
               product: Product) -> dict[str, Any]:
    """The header plus what every class carries; raises MappingError without an id or time."""
    if not isinstance(record, Mapping):
        raise MappingError(f"audit record is a {type(record).__name__}, not an object")
    uid = _text(record.get("id"))
    if uid is None:
        raise MappingError("audit record has no usable id")
    time = _epoch_ms(record.get("activityDateTime"))
    if time is None:
        raise MappingError(f"audit record {uid} has no usable activityDateTime")
    metadata: dict[str, Any] = {"version": OCSF_VERSION, "product": _product(product), "uid": uid}
    for source, path in (("correlationId", "correlation_uid"), ("loggedByService", "log_provider"),
                         ("activityDisplayName", "event_code")):
        text = _text(record.get(source))
        if text is not None:
            metadata[path] = text
    tenant = _text(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant
    event: dict[str, Any] = dict(header)
    event["time"] = time
    event["metadata"] = metadata
    event.update(_status(record))
    actor, ip = actor_fields(record)
    if actor is not None:
        event["actor"] = actor
    if ip is not None:
        event["src_endpoint"] = {"ip": ip}
    activity = _text(record.get("activityDisplayName"))
    if activity is not None:
        event["message"] = activity
    unmapped = clean({key: record.get(key) for key in _UNMAPPED_TOP})
    if unmapped is not None:
        event["unmapped"] = unmapped
    return event


def email(value: Any) -> str | None:
    return _email(_first_text(value))


COMMON_MAPPING: Final[tuple[MappingRow, ...]] = (
    MappingRow("(constant)", "category_uid", f"`{CATEGORY_UID}`", "constant"),
    MappingRow("(constant)", "severity_id", f"`{_SEVERITY_ID}` (Informational)", "constant"),
    MappingRow("`activityDateTime`", "time",
               "epoch ms of the activity; a record without a usable one is skipped"),
    MappingRow("`id`", "metadata.uid", "the record's id; a record without one is skipped"),
    MappingRow("`correlationId`", "metadata.correlation_uid", "ties the records of one operation"),
    MappingRow("`activityDisplayName`", "metadata.event_code",
               "Microsoft's activity name, verbatim (`Add member to role`)"),
    MappingRow("`loggedByService`", "metadata.log_provider", "`Core Directory`, `PIM`, ..."),
    MappingRow("tenant id", "metadata.tenant_uid", "", "context"),
    MappingRow("(constant)", "metadata.version", f"`{json.dumps(OCSF_VERSION)}`", "constant"),
    MappingRow("connector", "metadata.product", "the connector's name, vendor and version",
               "context"),
    MappingRow("`activityDisplayName`", "message",
               "the activity name (Account Change `Update user` adds the changed properties)"),
    MappingRow("`result`", "status_id",
               "`success` 1, `failure` 2, `timeout` 99 (`Timeout`); omitted otherwise"),
    MappingRow("`result`", "status_code", "Graph's value, verbatim"),
    MappingRow("`resultReason`", "status_detail", "omitted when empty"),
    MappingRow("`initiatedBy.user.id`", "actor.user.uid",
               "object id, the inventory's `user.uid`"),
    MappingRow("`initiatedBy.user.displayName`", "actor.user.name", ""),
    MappingRow("`initiatedBy.user.userPrincipalName`", "actor.user.account.name",
               "UPN, as in the inventory (`account.type` Azure AD Account)"),
    MappingRow("`initiatedBy.user.ipAddress`", "src_endpoint.ip",
               "IPv4 or IPv6; omitted when Graph gives none (app initiators: `app.ipAddress` "
               "when present)"),
    MappingRow("`initiatedBy.app.appId`", "actor.app_uid", "when no user initiated the activity"),
    MappingRow("`initiatedBy.app.displayName`", "actor.app_name", ""),
    MappingRow("`initiatedBy.app.servicePrincipalId`", "actor.user.uid",
               "the app's service principal, `user.type` Service, as in the sign-in events"),
    MappingRow("`targetResources`", "unmapped.targetResources",
               "verbatim (nulls and blanks dropped): every target and every modified property "
               "with Graph's JSON-encoded `oldValue` / `newValue`, mapped or not"),
    MappingRow("`category`, `operationType`, `additionalDetails`", "unmapped.*", "verbatim"),
)
