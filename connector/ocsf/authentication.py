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

from collections.abc import Mapping
from operator import itemgetter
from socket import AF_INET, AF_INET6, inet_pton
from typing import Any, Final

from connector.ocsf.common import (
    ACCOUNT_TYPE_CAPTIONS,
    OCSF_VERSION,
    PLACEHOLDERS,
    SEVERITY_CAPTIONS,
    MappingError,
    MappingRow,
    Product,
    cell,
    constant_rows,
    event_header,
    json_block,
)
from connector.ocsf.common import epoch_ms as _epoch_ms
from connector.ocsf.common import product_json as _product
from connector.ocsf.common import text as _text
from connector.ocsf.user_inventory import RISK_LEVEL_CAPTIONS

__all__ = [
    "ACTION_CAPTIONS",
    "ACTIVITY_CAPTIONS",
    "CATEGORY_CAPTIONS",
    "CLASS_CAPTIONS",
    "CLASS_UID",
    "DEVICE_TYPE_CAPTIONS",
    "DISPOSITION_CAPTIONS",
    "EVENT_CAPTIONS",
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
#: (id key, caption key, captions) a validator checks on the event itself.
EVENT_CAPTIONS: Final = (
    ("class_uid", "class_name", CLASS_CAPTIONS),
    ("category_uid", "category_name", CATEGORY_CAPTIONS),
    ("activity_id", "activity_name", ACTIVITY_CAPTIONS),
    ("type_uid", "type_name", TYPE_CAPTIONS),
    ("severity_id", "severity", SEVERITY_CAPTIONS),
    ("status_id", "status", STATUS_CAPTIONS),
    ("risk_level_id", "risk_level", RISK_LEVEL_CAPTIONS),
    ("action_id", "action", ACTION_CAPTIONS),
    ("disposition_id", "disposition", DISPOSITION_CAPTIONS),
)
OS_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 99: "Other", 100: "Windows", 101: "Windows Mobile", 200: "Linux",
    201: "Android", 300: "macOS", 301: "iOS", 302: "iPadOS",
}
USER_TYPE_SERVICE: Final = 4
_IP_MAX_LENGTH: Final = 40
_CACHE_LIMIT: Final = 4096

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

_HEADER: Final[dict[str, Any]] = event_header(
    class_uid=CLASS_UID, class_name=CLASS_CAPTIONS[CLASS_UID],
    category_uid=_CATEGORY_UID, category_name=CATEGORY_CAPTIONS[_CATEGORY_UID],
    activity_id=_ACTIVITY_ID, activity_name=ACTIVITY_CAPTIONS[_ACTIVITY_ID],
    type_name=TYPE_CAPTIONS[CLASS_UID * 100 + _ACTIVITY_ID], severity_id=_SEVERITY_ID)


# First letters of the placeholders: most strings are told apart without hashing them.
_PLACEHOLDER_STARTS: Final = "".join(sorted({p[0] for p in PLACEHOLDERS}))


def _s(value: Any) -> str | None:
    """`_text` with a fast path for a string: `strip()` returns the same object when there is
    nothing to strip, so a clean string costs one call and no copy."""
    if value.__class__ is str:
        value = value.strip()
        if not value or (value[0] in _PLACEHOLDER_STARTS and value in PLACEHOLDERS):
            return None
        return value  # type: ignore[no-any-return]
    return _text(value)


def _texts(source: Mapping[str, Any], pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The usable strings of `source` under new names: one call for a group of fields."""
    out: dict[str, str] = {}
    get = source.get
    starts = _PLACEHOLDER_STARTS
    for src, dst in pairs:
        value = get(src)
        if value is None:
            continue
        if value.__class__ is str:
            value = value.strip()
            if not value or (value[0] in starts and value in PLACEHOLDERS):
                continue
        else:
            value = _text(value)
            if value is None:
                continue
        out[dst] = value
    return out


def _dict(value: Any) -> Mapping[str, Any] | None:
    if value.__class__ is dict:
        return value  # type: ignore[no-any-return]
    return value if isinstance(value, Mapping) else None


def _key(value: Any) -> str:
    """A Graph enum value as a table key; anything else matches nothing."""
    return value if value.__class__ is str else ""  # type: ignore[no-any-return]


def _bool(value: Any) -> bool | None:
    return value if value.__class__ is bool else None  # type: ignore[no-any-return]


def _number(value: Any) -> float | None:
    cls = value.__class__
    # x - x is 0 for every finite number, NaN for NaN and the infinities.
    if (cls is float or cls is int) and value - value == 0:
        return float(value)
    return None


def _ip(text: str | None) -> str | None:
    """An IPv4 or IPv6 address (already a clean string) as reported; `inet_pton` (C) instead of
    `ipaddress`, which spends tens of microseconds on an IPv6 address. OCSF caps the text at 40
    characters."""
    if text is None or len(text) > _IP_MAX_LENGTH:
        return None
    try:
        inet_pton(AF_INET6 if ":" in text else AF_INET, text)
    except (OSError, ValueError):
        return None
    return text


_os_types: dict[str, int] = {}  # a tenant reports a few dozen operating system names


def _os(name: str) -> dict[str, Any]:
    type_id = _os_types.get(name)
    if type_id is None:
        lowered = name.lower()
        type_id = next((tid for prefix, tid in _OS_PREFIXES if lowered.startswith(prefix)), 0)
        if len(_os_types) < _CACHE_LIMIT:
            _os_types[name] = type_id
    return {"name": name, "type_id": type_id, "type": OS_TYPE_CAPTIONS[type_id]}


def _strings(values: tuple[Any, ...]) -> list[str | None]:
    """The usable strings among `values`, in order, None where there is none: one call for a
    group of fields, unpacked by the caller."""
    out: list[str | None] = []
    append = out.append
    starts = _PLACEHOLDER_STARTS
    for value in values:
        if value.__class__ is str:
            value = value.strip()
            if not value or (value[0] in starts and value in PLACEHOLDERS):
                value = None
        elif value is not None:
            value = _text(value)
        append(value)
    return out


_MISSING: Final[Any] = object()


def _only_strings(values: tuple[Any, ...]) -> bool:
    """Whether a cache key may be stored. With strings (or None) only, a later key can equal it
    only if it has the same strings: `True == 1 == 1.0` would otherwise share an entry."""
    return all(value is None or value.__class__ is str for value in values)


# The top-level strings that differ from one sign-in to the next (the service-principal ones are
# read only for a sign-in with no user).
_TOP_KEYS: Final = ("id", "correlationId", "userId", "userPrincipalName", "userDisplayName",
                    "ipAddress")
_TOP_VALUES: Final = itemgetter(*_TOP_KEYS)  # one C call instead of a `get` per field


def _user(sign_in: Mapping[str, Any], uid: str | None, upn: str | None, name: str | None
          ) -> dict[str, Any]:
    if uid is not None and upn is not None and name is not None:  # nearly every sign-in
        user: dict[str, Any] = {"uid": uid, "name": name, "display_name": name}
        if "@" in upn and (domain := _s(upn.rpartition("@")[2])) is not None:
            user["domain"] = domain
        user["account"] = {"type_id": _ACCOUNT_TYPE_ID, "type": _ACCOUNT_TYPE, "uid": uid,
                           "name": upn}
        return user
    user = {}
    if uid is None and upn is None:
        # /beta service-principal and managed-identity sign-ins have no user.
        uid = _s(sign_in.get("servicePrincipalId"))
        name = name or _s(sign_in.get("servicePrincipalName"))
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
        domain = _s(upn.rpartition("@")[2])
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


# The top-level fields that take a handful of values across a tenant (the application, the
# resource, the enums). What they map to is worked out once per distinct combination:
# (service or None, the unmapped strings, risk level, control outcome, MFA requirement).
_CONTEXT_KEYS: Final = ("appDisplayName", "appId", "resourceDisplayName", "resourceId",
                        *(key for key in _UNMAPPED_TEXT
                          if key not in ("resourceDisplayName", "resourceId")),
                        "riskLevelDuringSignIn")
_Context = tuple[dict[str, str] | None, dict[str, str], tuple[int, str] | None,
                 tuple[int, str, int, str] | None, bool | None]
_contexts: dict[tuple[Any, ...], _Context] = {}
_CONTEXT_VALUES: Final = itemgetter(*_CONTEXT_KEYS)
_APP_FIELDS: Final = (("appDisplayName", "name"), ("appId", "uid"))
_RESOURCE_FIELDS: Final = (("resourceDisplayName", "name"), ("resourceId", "uid"))


def _context(values: tuple[Any, ...]) -> _Context:
    raw = dict(zip(_CONTEXT_KEYS, values, strict=True))
    unmapped = {key: text for key in _UNMAPPED_TEXT if (text := _s(raw[key])) is not None}
    # The application signed in to; OCSF requires one (or a destination) in every event.
    service = None
    for fields, found_in in ((_APP_FIELDS, raw), (_RESOURCE_FIELDS, unmapped)):
        found = {dst: text for src, dst in fields if (text := _s(found_in.get(src))) is not None}
        if found:
            service = found
            break
    return (service, unmapped, _RISK_LEVELS.get(_key(raw["riskLevelDuringSignIn"])),
            _CA_OUTCOMES.get(_key(raw["conditionalAccessStatus"])),
            _MFA_REQUIREMENTS.get(_key(raw["authenticationRequirement"])))


def _context_of(sign_in: Mapping[str, Any]) -> _Context:
    try:
        values = _CONTEXT_VALUES(sign_in)
    except KeyError:  # a field Graph left out (not null)
        values = tuple(map(sign_in.get, _CONTEXT_KEYS))
    try:
        found = _contexts.get(values)
    except TypeError:  # a list or an object where Graph sends a string
        return _context(values)
    if found is None:
        found = _context(values)
        if len(_contexts) < _CACHE_LIMIT and _only_strings(values):
            _contexts[values] = found
    return found


_LOCATION_FIELDS: Final = (("city", "city"), ("state", "region"), ("countryOrRegion", "country"))
# (city, state, country, latitude, longitude) -> location: a tenant signs in from a few hundred
# places.
_locations: dict[tuple[tuple[Any, ...], float, float], dict[str, Any] | None] = {}


def _place(where: Mapping[str, Any]) -> dict[str, Any] | None:
    location: dict[str, Any] = _texts(where, _LOCATION_FIELDS)
    if not location:
        return None  # OCSF needs a city, region, country or postal code beside coordinates
    coordinates = _dict(where.get("geoCoordinates"))
    if coordinates is not None:
        lat = _number(coordinates.get("latitude"))
        long = _number(coordinates.get("longitude"))
        if lat is not None and long is not None:
            location["lat"] = lat
            location["long"] = long
    return location


_PLACE_VALUES: Final = itemgetter("city", "state", "countryOrRegion")
_COORDINATE_VALUES: Final = itemgetter("latitude", "longitude")


def _location(where: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        places = _PLACE_VALUES(where)
        lat, long = _COORDINATE_VALUES(where["geoCoordinates"])
    except (KeyError, TypeError):  # a field left out, or coordinates that are not an object
        return _place(where)
    if lat.__class__ is not float or long.__class__ is not float:  # True == 1.0: not a key
        return _place(where)
    key = (places, lat, long)
    try:
        found = _locations.get(key, _MISSING)
    except TypeError:  # a list or an object where Graph sends a string
        return _place(where)
    if found is _MISSING:
        found = _place(where)
        # 0.0 == -0.0, yet they print differently: such coordinates are not cached.
        if len(_locations) < _CACHE_LIMIT and lat and long and _only_strings(places):
            _locations[key] = found
    return None if found is None else found.copy()


def _src_endpoint(sign_in: Mapping[str, Any], address: str | None) -> dict[str, Any] | None:
    ip = _ip(address)
    if ip is None:
        return None  # a network endpoint needs an address; a location alone cannot stand
    endpoint: dict[str, Any] = {"ip": ip}
    where = sign_in.get("location")
    if where.__class__ is not dict:
        where = _dict(where)
    if where is not None:
        location = _location(where)
        if location is not None:
            endpoint["location"] = location
    return endpoint


_DEVICE_FIELDS: Final = (("deviceId", "uid"), ("displayName", "name"),
                         ("operatingSystem", "os"))


def _device(detail: Mapping[str, Any], ip: str | None) -> dict[str, Any] | None:
    device: dict[str, Any] = _texts(detail, _DEVICE_FIELDS)
    os_name = device.get("os")
    if os_name is not None:
        device["os"] = _os(os_name)
    compliant = detail.get("isCompliant")
    if compliant.__class__ is bool:
        device["is_compliant"] = compliant
    managed = detail.get("isManaged")
    if managed.__class__ is bool:
        device["is_managed"] = managed
    if not device:
        return None
    if "uid" not in device and "name" not in device:
        if ip is None:
            return None  # OCSF names a device by id, name or address; none is known
        device["ip"] = ip  # unregistered device: known only by the address it came from
    # OCSF requires a device type; Graph does not report one.
    device["type_id"] = 0
    device["type"] = DEVICE_TYPE_CAPTIONS[0]
    return device


_POLICY_FIELDS: Final = (("id", "uid"), ("displayName", "name"), ("result", "decision"))


# (policy id, name, result) -> (decision, policy) of the authorization, or None to leave it
# out: a tenant has a few dozen policies and a handful of results, so most are found here.
_policy_cache: dict[tuple[Any, Any, Any], tuple[str, dict[str, Any]] | None] = {}


def _authorization(policy: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    entry: dict[str, Any] = _texts(policy, _POLICY_FIELDS)
    result = entry.pop("decision", None)
    if result is None or result == "notEnabled" or not entry:
        return None  # a disabled policy took no part in the sign-in
    entry["is_applied"] = result in _APPLIED_RESULTS
    return result, entry


# A policy's fields in one C call; raises for a policy that lacks one or is not an object.
_POLICY_KEY: Final = itemgetter("id", "displayName", "result")


def _authorizations(policies: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if policies.__class__ is not list:
        return out
    cache = _policy_cache
    for raw in policies:
        try:
            key = _POLICY_KEY(raw)
            found = cache.get(key, _MISSING)
        except (KeyError, TypeError):  # a field missing, not an object, or not a string
            key, found = None, _MISSING
        if found is _MISSING:
            policy = _dict(raw)
            if policy is None:
                continue
            found = _authorization(policy)
            if key is not None and len(cache) < _CACHE_LIMIT and _only_strings(key):
                cache[key] = found
        if found is not None:
            out.append({"decision": found[0], "policy": found[1].copy()})
    return out


_STATUS_FIELDS: Final = (("failureReason", "reason"), ("additionalDetails", "details"))
# (errorCode, failureReason, additionalDetails) -> (the status fields, succeeded): a tenant's
# sign-ins fail in a few dozen ways.
_statuses: dict[tuple[Any, Any, Any], tuple[dict[str, Any], bool]] = {}
_STATUS_VALUES: Final = itemgetter("errorCode", "failureReason", "additionalDetails")


def _status_fields(code: int, status: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    succeeded = code == 0
    status_id = 1 if succeeded else 2
    fields: dict[str, Any] = {"status_id": status_id, "status": STATUS_CAPTIONS[status_id],
                              "status_code": str(code)}
    found = _texts(status, _STATUS_FIELDS)
    reason = None if succeeded else found.get("reason")
    details = found.get("details")
    detail = f"{reason} ({details})" if reason and details and details != reason else (
        reason or details)
    if detail is not None:
        fields["status_detail"] = detail
    return fields, succeeded


def _status(sign_in: Mapping[str, Any]) -> tuple[dict[str, Any], bool] | None:
    """The status fields of the event and whether the sign-in succeeded (None: unknown)."""
    status = sign_in.get("status")
    if status.__class__ is not dict:
        status = _dict(status)
        if status is None:
            return None
    try:
        key = _STATUS_VALUES(status)
    except KeyError:  # a field Graph left out (not null)
        get = status.get
        key = (get("errorCode"), get("failureReason"), get("additionalDetails"))
    code = key[0]
    if code.__class__ is not int:  # not a bool either: True == 1 would share an entry
        return None
    try:
        found = _statuses.get(key)
    except TypeError:  # a list or an object where Graph sends a string
        return _status_fields(code, status)
    if found is None:
        found = _status_fields(code, status)
        if len(_statuses) < _CACHE_LIMIT and _only_strings(key[1:]):
            _statuses[key] = found
    return found


_UNMAPPED_DEVICE: Final = (("trustType", "trustType"), ("browser", "browser"))
# (trustType, browser) -> deviceDetail of `unmapped`: a tenant has a few dozen browser versions.
_device_extras: dict[tuple[Any, Any], dict[str, str]] = {}


def _unmapped_device(detail: Mapping[str, Any]) -> dict[str, str]:
    """The device facts kept in `unmapped` (the browser also names the client)."""
    get = detail.get
    key = (get("trustType"), get("browser"))
    try:
        found = _device_extras.get(key)
    except TypeError:  # a list or an object where Graph sends a string
        return _texts(detail, _UNMAPPED_DEVICE)
    if found is None:
        found = _texts(detail, _UNMAPPED_DEVICE)
        if len(_device_extras) < _CACHE_LIMIT and _only_strings(key):
            _device_extras[key] = found
    return found.copy()


def _unmapped(sign_in: Mapping[str, Any], out: dict[str, Any],
              device: dict[str, str] | None) -> dict[str, Any]:
    """Complete `out` (the unmapped strings, already cleaned) with the other unmapped facts."""
    get = sign_in.get
    interactive = get("isInteractive")
    if interactive.__class__ is bool:
        out["isInteractive"] = interactive
    for key in ("riskEventTypes_v2", "signInEventTypes"):
        values = get(key)
        if values.__class__ is list and values:
            kept = [t for t in map(_s, values) if t is not None]
            if kept:
                out[key] = kept
    if device:
        out["deviceDetail"] = device
    return out


# The last Product seen and its metadata.product (a run has one Product): an identity check
# and a copy instead of `_product`'s lookup.
_last_product: list[Any] = [None, None]


def to_event(sign_in: Mapping[str, Any], *, tenant_id: str, product: Product) -> dict[str, Any]:
    """One Graph sign-in -> one OCSF 1.8.0 Authentication: Logon event (see MAPPING).

    Raises `MappingError` for a record that cannot become a valid event (no id, no usable
    `createdDateTime`, nobody signing in, no application); the stream counts and skips it.
    """
    if sign_in.__class__ is not dict and not isinstance(sign_in, Mapping):
        raise MappingError(f"sign-in record is a {type(sign_in).__name__}, not an object")
    get = sign_in.get
    try:
        top = _TOP_VALUES(sign_in)
    except KeyError:  # a field Graph left out (not null)
        top = tuple(map(get, _TOP_KEYS))
    uid, correlation, user_id, upn, name, address = _strings(top)
    if uid is None:
        raise MappingError("sign-in record has no usable id")
    time_ms = _epoch_ms(get("createdDateTime"))
    if time_ms is None:
        raise MappingError(f"sign-in {uid} has no usable createdDateTime")

    known = _last_product
    if known[0] is not product:
        known = _last_product[:] = [product, _product(product)]
    metadata: dict[str, Any] = {"version": OCSF_VERSION, "product": known[1].copy(), "uid": uid}
    if correlation is not None:
        metadata["correlation_uid"] = correlation
    tenant = _s(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant

    event: dict[str, Any] = _HEADER.copy()
    event["time"] = time_ms
    event["metadata"] = metadata
    event["user"] = _user(sign_in, user_id, upn, name)
    status = _status(sign_in)
    succeeded = None
    if status is not None:
        fields, succeeded = status
        event.update(fields)
    endpoint = _src_endpoint(sign_in, address)
    if endpoint is not None:
        event["src_endpoint"] = endpoint
    service, unmapped_texts, risk, outcome, requirement = _context_of(sign_in)
    if service is None:
        raise MappingError(f"sign-in {uid} names no application or resource")
    event["service"] = service.copy()
    detail = get("deviceDetail")
    if detail.__class__ is not dict:
        detail = _dict(detail)
    device_extras = _unmapped_device(detail) if detail is not None else None
    agent = _s(get("userAgent")) or (device_extras.get("browser") if device_extras else None)
    if agent is not None:
        event["http_request"] = {"user_agent": agent}
    if succeeded and requirement is not None:
        event["is_mfa"] = requirement

    profiles: list[str] = []
    device = _device(detail, endpoint["ip"] if endpoint else None) if detail else None
    if device is not None:
        event["device"] = device
        profiles.append(HOST_PROFILE)
    controlled = False
    if risk is not None:
        event["risk_level_id"], event["risk_level"] = risk
        controlled = True
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
    unmapped = _unmapped(sign_in, unmapped_texts.copy(), device_extras)
    if unmapped:
        event["unmapped"] = unmapped
    return event


# --------------------------------------------------------------------------- the table

def _const(path: str, value: object) -> MappingRow:
    return constant_rows({path: value})[0]


MAPPING: Final[tuple[MappingRow, ...]] = (
    *constant_rows(_HEADER),
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
    lines += [f"| {cell(r.source)} | `{r.path}` | {cell(r.rule or 'as reported')} |"
              for r in MAPPING]
    lines += [
        "",
        "## Example",
        "",
        "Graph sign-in record:",
        "",
        *json_block(example_sign_in()),
        "Event:",
        "",
        *json_block(example),
    ]
    return "\n".join(lines)
