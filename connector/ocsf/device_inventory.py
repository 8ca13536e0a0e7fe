"""Pure mapping of an Entra ID device (plus its Intune record and owners) to an OCSF 1.8.0
Device Inventory Info event (class 5001, activity Collect).

No I/O. `device.uid` is the Entra `deviceId`: the id a sign-in's `deviceDetail.deviceId` and
Intune's `azureADDeviceId` carry, so devices, sign-ins and Intune join on it; the directory
object id (`id`, what `/devices/{id}` and `@removed` name) is `device.uid_alt`. The owner is
built like the user of a User Inventory event (`uid` object id, `name` display name,
`account.name` UPN), so a SIEM joins a device to its owner on `owner.uid = user.uid`.

Unknown is omitted, never false: a device Intune does not know has no serial number, and its
`is_personal` stays absent unless Entra records an ownership; a compliance state Intune cannot
decide (`unknown`, `inGracePeriod`, `conflict`, ...) falls back to Entra's `isCompliant`, and to
nothing. The class has no profile-gated attribute this mapping needs, so events declare no
profile and the bundled schema is the profile-free one (schemas/PROVENANCE.md).

`MAPPING` is the single description of the mapping; the "Device Inventory Info" section of
`docs/mapping.md` is rendered from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.ocsf.common import (
    ACCOUNT_TYPE_CAPTIONS,
    CATEGORY_DISCOVERY,
    OCSF_VERSION,
    SEVERITY_CAPTIONS,
    MappingError,
    MappingRow,
    Origin,
    Product,
    cell,
    constant_rows,
    epoch_ms,
    event_header,
    event_uid,
    json_block,
    product_json,
    text,
)

__all__ = [
    "ACTIVITY_CAPTIONS",
    "CATEGORY_CAPTIONS",
    "CLASS_CAPTIONS",
    "CLASS_UID",
    "DEVICE_TYPE_CAPTIONS",
    "EVENT_CAPTIONS",
    "EXAMPLE_COLLECTED_AT_MS",
    "EXAMPLE_FACTS",
    "EXAMPLE_PRODUCT",
    "EXAMPLE_TENANT_ID",
    "GRAPH_DEVICE_FIELDS",
    "INTUNE_DEVICE_FIELDS",
    "MAPPING",
    "OS_TYPE_CAPTIONS",
    "TYPE_CAPTIONS",
    "DeviceDeletion",
    "DeviceFacts",
    "MappingError",
    "Owner",
    "example_device",
    "example_managed_device",
    "render_mapping_section",
    "to_event",
]

CLASS_UID: Final = 5001
_CATEGORY_UID: Final = 5
_ACTIVITY_ID: Final = 2  # Collect
_SEVERITY_ID: Final = 1  # Informational

CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "Device Inventory Info"}
CATEGORY_CAPTIONS: Final[Mapping[int, str]] = CATEGORY_DISCOVERY
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {0: "Unknown", 1: "Log", 2: "Collect", 99: "Other"}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + activity: f"Device Inventory Info: {caption}"
    for activity, caption in ACTIVITY_CAPTIONS.items()
}
#: (id key, caption key, captions) a validator checks on the event itself.
EVENT_CAPTIONS: Final = (
    ("class_uid", "class_name", CLASS_CAPTIONS),
    ("category_uid", "category_name", CATEGORY_CAPTIONS),
    ("activity_id", "activity_name", ACTIVITY_CAPTIONS),
    ("type_uid", "type_name", TYPE_CAPTIONS),
    ("severity_id", "severity", SEVERITY_CAPTIONS),
)
DEVICE_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Server", 2: "Desktop", 3: "Laptop", 4: "Tablet", 5: "Mobile",
    6: "Virtual", 7: "IOT", 8: "Browser", 9: "Firewall", 10: "Switch", 11: "Hub", 12: "Router",
    13: "IDS", 14: "IPS", 15: "Load Balancer", 99: "Other",
}
OS_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 99: "Other", 100: "Windows", 101: "Windows Mobile", 200: "Linux",
    201: "Android", 300: "macOS", 301: "iOS", 302: "iPadOS", 400: "Solaris", 401: "AIX",
    402: "HP-UX",
}

_ACCOUNT_TYPE_ID: Final = 6  # Azure AD Account, as in the user inventory
_ENRICHMENT_PROVIDER: Final = "Microsoft Graph"
_UNKNOWN_TYPE: Final = 0
_SERVER: Final = 1
_TABLET: Final = 4
_MOBILE: Final = 5
_VIRTUAL: Final = 6

# Graph/Intune operatingSystem, lower-cased prefix -> os.type_id. Longer prefixes first.
# Entra reports "Windows", "iOS", "iPadOS", "MacMDM", "MacOS", "Android", "AndroidForWork",
# "AndroidEnterprise", "Linux"; Intune "Windows", "iOS", "iPadOS", "macOS", "Android".
_OS_PREFIXES: Final[tuple[tuple[str, int], ...]] = (
    ("windows mobile", 101), ("windows phone", 101), ("windows", 100), ("android", 201),
    ("ipados", 302), ("ipad", 302), ("ios", 301), ("iphone", 301), ("macmdm", 300),
    ("macos", 300), ("mac os", 300), ("osx", 300), ("linux", 200), ("ubuntu", 200),
    ("redhat", 200), ("chromeos", 99),
)
# os.type_id -> device.type_id where the platform decides it; a PC may be a desktop, a laptop
# or a server, which Graph v1.0 does not say: Unknown (OCSF requires the field).
_TYPE_BY_OS: Final[Mapping[int, int]] = {101: _MOBILE, 201: _MOBILE, 301: _MOBILE, 302: _TABLET}

# trustType -> (join type as Microsoft names it, is_trusted).
_JOIN_TYPES: Final[Mapping[str, tuple[str, bool]]] = {
    "azuread": ("Microsoft Entra joined", True),
    "serverad": ("Microsoft Entra hybrid joined", True),
    "workplace": ("Microsoft Entra registered", False),
}
_COMPLIANCE: Final[Mapping[str, bool]] = {"compliant": True, "noncompliant": False}
_OWNERSHIP: Final[Mapping[str, bool]] = {"personal": True, "company": False}

_HEADER: Final[Mapping[str, Any]] = event_header(
    class_uid=CLASS_UID, class_name=CLASS_CAPTIONS[CLASS_UID],
    category_uid=_CATEGORY_UID, category_name=CATEGORY_CAPTIONS[_CATEGORY_UID],
    activity_id=_ACTIVITY_ID, activity_name=ACTIVITY_CAPTIONS[_ACTIVITY_ID],
    type_name=TYPE_CAPTIONS[CLASS_UID * 100 + _ACTIVITY_ID], severity_id=_SEVERITY_ID)


@dataclass(frozen=True, slots=True)
class Owner:
    """A registered owner or user of a device, as a user inventory event names that user."""

    uid: str  # the user's object id (user.uid of its User Inventory event)
    name: str | None = None  # displayName (user.name)
    upn: str | None = None  # userPrincipalName (user.account.name)


@dataclass(frozen=True, slots=True)
class DeviceDeletion:
    """A device gone from the directory (`devices/delta` `@removed`); `time` is when Graph says
    it was deleted, else None (the collection time is used)."""

    time: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What other sources know about one Entra device.

    `managed`: its Intune `managedDevice` (joined on `azureADDeviceId`), None when Intune has
    none or was not read. `owners` / `users`: registered owners / users, None = not collected.
    """

    managed: Mapping[str, Any] | None = None
    owners: tuple[Owner, ...] | None = None
    users: tuple[Owner, ...] | None = None
    deleted: DeviceDeletion | None = None


def _os_type(name: str) -> int:
    lowered = name.lower()
    return next((tid for prefix, tid in _OS_PREFIXES if lowered.startswith(prefix)), 0)


def _bool(value: Any) -> bool | None:
    return value if value.__class__ is bool else None


def _owner(owner: Owner) -> dict[str, Any] | None:
    uid = text(owner.uid)
    if uid is None:
        return None
    account: dict[str, Any] = {"uid": uid, "type_id": _ACCOUNT_TYPE_ID,
                               "type": ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]}
    upn = text(owner.upn)
    if upn is not None:
        account["name"] = upn
    out: dict[str, Any] = {"uid": uid}
    name = text(owner.name)
    if name is not None:
        out["name"] = name
    out["account"] = account
    return out


def _latest(*moments: int | None) -> int | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _earliest(*moments: int | None) -> int | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


def _device_type(os_type: int | None, os_name: str | None, model: str | None) -> int:
    if model is not None and "virtual machine" in model.lower():
        return _VIRTUAL
    if os_name is not None and "server" in os_name.lower():
        return _SERVER
    return _TYPE_BY_OS.get(os_type, _UNKNOWN_TYPE) if os_type is not None else _UNKNOWN_TYPE


def _status(device: Mapping[str, Any], managed: Mapping[str, Any], facts: DeviceFacts,
            trust: str | None, collected_at_ms: int) -> dict[str, Any]:
    status: dict[str, Any] = {}
    enabled = _bool(device.get("accountEnabled"))
    if enabled is not None:
        status["is_enabled"] = enabled
    if trust is not None:
        status["trust_type"] = trust
        join = _JOIN_TYPES.get(trust.lower())
        if join is not None:
            status["join_type"] = join[0]
    for key, src, source in (("management_type", "managementType", device),
                             ("enrollment_type", "enrollmentType", device),
                             ("compliance_state", "complianceState", managed),
                             ("management_agent", "managementAgent", managed),
                             ("ownership", "managedDeviceOwnerType", managed),
                             ("jail_broken", "jailBroken", managed)):
        value = text(source.get(src))
        if value is not None:
            status[key] = value
    for key, src, source in (("is_encrypted", "isEncrypted", managed),
                             ("is_rooted", "isRooted", device)):
        flag = _bool(source.get(src))
        if flag is not None:
            status[key] = flag
    synced = epoch_ms(managed.get("lastSyncDateTime"))
    if synced is not None:
        status["last_sync_time"] = synced
    enrolled = epoch_ms(managed.get("enrolledDateTime"))
    if enrolled is not None:
        status["enrolled_time"] = enrolled
    if facts.users:
        users = sorted({uid for u in facts.users if (uid := text(u.uid)) is not None})
        if users:
            status["registered_user_uids"] = users
    if facts.deleted is not None:
        deleted_ms = epoch_ms(facts.deleted.time) if facts.deleted.time is not None else None
        status["is_deleted"] = True
        status["deleted_time"] = deleted_ms if deleted_ms is not None else collected_at_ms
    return status


def to_event(
    device: Mapping[str, Any],
    facts: DeviceFacts,
    *,
    collected_at_ms: int,
    tenant_id: str,
    product: Product,
) -> dict[str, Any]:
    """One Entra device (+ facts) -> one OCSF 1.8.0 Device Inventory Info / Collect event.

    Raises MappingError for a record that is not an object or has no usable `deviceId` (the
    join key every consumer needs); the caller counts and skips it.
    """
    if not isinstance(device, Mapping):
        raise MappingError(f"device record is a {type(device).__name__}, not an object")
    managed: Mapping[str, Any] = facts.managed if isinstance(facts.managed, Mapping) else {}
    get = device.get
    device_id = text(get("deviceId")) or text(managed.get("azureADDeviceId"))
    if device_id is None:
        raise MappingError("device record has no usable deviceId")

    out: dict[str, Any] = {"uid": device_id}
    object_id = text(get("id"))
    if object_id is not None:
        out["uid_alt"] = object_id
    name = text(get("displayName")) or text(managed.get("deviceName"))
    if name is not None:
        out["name"] = name

    os_name = text(get("operatingSystem")) or text(managed.get("operatingSystem"))
    os_type = _os_type(os_name) if os_name is not None else None
    model = text(managed.get("model")) or text(get("model"))
    out["type_id"] = _device_type(os_type, os_name, model)
    out["type"] = DEVICE_TYPE_CAPTIONS[out["type_id"]]
    if os_name is not None and os_type is not None:
        os_info: dict[str, Any] = {"name": os_name, "type_id": os_type,
                                   "type": OS_TYPE_CAPTIONS[os_type]}
        version = text(get("operatingSystemVersion")) or text(managed.get("osVersion"))
        if version is not None:
            os_info["version"] = version
        out["os"] = os_info

    compliant = _COMPLIANCE.get(str(managed.get("complianceState") or "").lower())
    if compliant is None:
        compliant = _bool(get("isCompliant"))
    if compliant is not None:
        out["is_compliant"] = compliant
    is_managed = _bool(get("isManaged"))
    if is_managed is None and managed:
        is_managed = True  # enrolled in Intune
    if is_managed is not None:
        out["is_managed"] = is_managed
    trust = text(get("trustType"))
    join = _JOIN_TYPES.get(trust.lower()) if trust is not None else None
    if join is not None:
        out["is_trusted"] = join[1]
    personal = _OWNERSHIP.get(str(managed.get("managedDeviceOwnerType") or "").lower())
    if personal is None:
        personal = _OWNERSHIP.get(str(get("deviceOwnership") or "").lower())
    if personal is not None:
        out["is_personal"] = personal
    supervised = _bool(managed.get("isSupervised"))
    if supervised is not None:
        out["is_supervised"] = supervised

    vendor = text(managed.get("manufacturer")) or text(get("manufacturer"))
    if vendor is not None:
        out["vendor_name"] = vendor
    if model is not None:
        out["model"] = model
    serial = text(managed.get("serialNumber"))
    if serial is not None:
        out["hw_info"] = {"serial_number": serial}
    for key, src in (("imei", "imei"), ("meid", "meid"), ("udid", "udid")):
        value = text(managed.get(src))
        if value is not None:
            out[key] = value

    registered = epoch_ms(get("registrationDateTime"))
    enrolled = epoch_ms(managed.get("enrolledDateTime"))
    if registered is not None:
        out["created_time"] = registered
    first_seen = _earliest(registered, enrolled)
    if first_seen is not None:
        out["first_seen_time"] = first_seen
    last_seen = _latest(epoch_ms(get("approximateLastSignInDateTime")),
                        epoch_ms(managed.get("lastSyncDateTime")))
    if last_seen is not None:
        out["last_seen_time"] = last_seen

    for owner in facts.owners or ():
        built = _owner(owner)
        if built is not None:
            out["owner"] = built
            break

    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": product_json(product),
        "uid": event_uid(tenant_id, device_id, collected_at_ms),
    }
    tenant = text(tenant_id)
    if tenant is not None:
        metadata["tenant_uid"] = tenant
    event: dict[str, Any] = {**_HEADER, "time": collected_at_ms, "metadata": metadata,
                             "device": out}
    status = _status(device, managed, facts, trust, collected_at_ms)
    if status:
        event["enrichments"] = [{
            "name": "device", "value": "status", "type": "device_status",
            "provider": _ENRICHMENT_PROVIDER, "created_time": collected_at_ms, "data": status,
        }]
    return event


# --------------------------------------------------------------------------- the table

def _row(source: str, path: str, rule: str, origin: Origin = "device") -> MappingRow:
    return MappingRow(source, path, rule, origin)


def _status_row(source: str, key: str, rule: str, origin: Origin) -> MappingRow:
    return _row(source, f"enrichments[name=device].data.{key}", rule, origin)


MAPPING: Final[tuple[MappingRow, ...]] = (
    *constant_rows(_HEADER),
    _row("collection time", "time", "when the collection cycle ran, epoch ms", "context"),
    _row("(constant)", "metadata.version", f'`"{OCSF_VERSION}"`', "constant"),
    _row("connector", "metadata.product.name", "the connector's product name", "context"),
    _row("connector", "metadata.product.vendor_name", "the connector's vendor", "context"),
    _row("connector", "metadata.product.version", "the connector's version", "context"),
    _row("tenant id, `deviceId`, collection time", "metadata.uid",
         "uuid5(`EVENT_UID_NAMESPACE`, `{tenant_id}/{deviceId}/{collected_at_ms}`)", "context"),
    _row("tenant id (configuration)", "metadata.tenant_uid", "as configured", "context"),
    _row("`deviceId`", "device.uid",
         "Entra device id, the one sign-ins (`deviceDetail.deviceId`) and Intune "
         "(`azureADDeviceId`) carry; a record without it is skipped"),
    _row("`azureADDeviceId` (Intune)", "device.uid", "fallback when `deviceId` is absent",
         "intune"),
    _row("`id`", "device.uid_alt", "directory object id (what `/devices/{id}` names)"),
    _row("`displayName`", "device.name", "device name"),
    _row("`deviceName` (Intune)", "device.name", "fallback", "intune"),
    _row("`operatingSystem`, `operatingSystemVersion`, `model`", "device.type_id",
         "`4` Tablet for iPadOS, `5` Mobile for iOS, Android and Windows Mobile, `1` Server "
         "for a server OS, `6` Virtual for a `Virtual Machine` model, else `0` Unknown (Graph "
         "v1.0 does not tell a desktop from a laptop); OCSF requires the field"),
    _row("`operatingSystem`", "device.type", "caption of `device.type_id`"),
    _row("`operatingSystem`", "device.os.name", "as reported (`Windows`, `MacMDM`, `iOS`)"),
    _row("`operatingSystem` (Intune)", "device.os.name", "fallback", "intune"),
    _row("`operatingSystem`", "device.os.type_id",
         "by prefix: Windows 100, Windows Mobile/Phone 101, Linux/Ubuntu/RedHat 200, Android "
         "201, macOS/MacMDM 300, iOS/iPhone 301, iPadOS 302, ChromeOS 99, else 0"),
    _row("`operatingSystem`", "device.os.type", "caption of `os.type_id`"),
    _row("`operatingSystemVersion`", "device.os.version", "as reported"),
    _row("`osVersion` (Intune)", "device.os.version", "fallback", "intune"),
    _row("`complianceState` (Intune)", "device.is_compliant",
         "`compliant` true, `noncompliant` false; other states (`unknown`, `inGracePeriod`, "
         "`conflict`, `error`, `configManager`) fall back to Entra's `isCompliant`", "intune"),
    _row("`isCompliant`", "device.is_compliant", "omitted when null"),
    _row("`isManaged`", "device.is_managed",
         "omitted when null, unless Intune has the device (then true)"),
    _row("`trustType`", "device.is_trusted",
         "`AzureAd` (Entra joined) and `ServerAd` (hybrid joined) true, `Workplace` "
         "(registered, BYOD) false, anything else omitted"),
    _row("`managedDeviceOwnerType` (Intune)", "device.is_personal",
         "`personal` true, `company` false, `unknown` omitted", "intune"),
    _row("`deviceOwnership`", "device.is_personal",
         "fallback: `Personal` true, `Company` false", "device"),
    _row("`isSupervised` (Intune)", "device.is_supervised", "Apple supervised mode", "intune"),
    _row("`manufacturer` (Intune, else Entra)", "device.vendor_name", "as reported", "intune"),
    _row("`model` (Intune, else Entra)", "device.model", "as reported", "intune"),
    _row("`serialNumber` (Intune)", "device.hw_info.serial_number", "as reported", "intune"),
    _row("`imei` (Intune)", "device.imei", "mobile devices", "intune"),
    _row("`meid` (Intune)", "device.meid", "CDMA devices", "intune"),
    _row("`udid` (Intune)", "device.udid", "Apple devices", "intune"),
    _row("`registrationDateTime`", "device.created_time", "epoch ms"),
    _row("`registrationDateTime`, `enrolledDateTime` (Intune)", "device.first_seen_time",
         "the earlier of the two, epoch ms"),
    _row("`approximateLastSignInDateTime`, `lastSyncDateTime` (Intune)",
         "device.last_seen_time", "the later of the two, epoch ms"),
    _row("registered owners", "device.owner.uid",
         "the first registered owner's object id: `user.uid` of its user inventory event",
         "facts"),
    _row("registered owners", "device.owner.name", "owner's display name (`user.name`)",
         "facts"),
    _row("registered owners", "device.owner.account.uid", "owner's object id", "facts"),
    _row("registered owners", "device.owner.account.name", "owner's UPN", "facts"),
    _row("(constant)", "device.owner.account.type_id", f"`{_ACCOUNT_TYPE_ID}`", "constant"),
    _row("(constant)", "device.owner.account.type",
         f'`"{ACCOUNT_TYPE_CAPTIONS[_ACCOUNT_TYPE_ID]}"`', "constant"),
    _row("(constant)", "enrichments[name=device]",
         '`"name": "device"`, when any field below is known', "constant"),
    _row("(constant)", "enrichments[name=device].value", '`"status"`', "constant"),
    _row("(constant)", "enrichments[name=device].type", '`"device_status"`', "constant"),
    _row("(constant)", "enrichments[name=device].provider", '`"Microsoft Graph"`', "constant"),
    _row("collection time", "enrichments[name=device].created_time", "epoch ms", "context"),
    _status_row("`accountEnabled`", "is_enabled", "false for a disabled device", "device"),
    _status_row("`trustType`", "trust_type", "verbatim", "device"),
    _status_row("`trustType`", "join_type",
                "Microsoft Entra joined / hybrid joined / registered", "device"),
    _status_row("`managementType`", "management_type", "as reported", "device"),
    _status_row("`enrollmentType`", "enrollment_type", "as reported", "device"),
    _status_row("`isRooted`", "is_rooted", "as reported", "device"),
    _status_row("`complianceState` (Intune)", "compliance_state", "verbatim", "intune"),
    _status_row("`managementAgent` (Intune)", "management_agent", "verbatim", "intune"),
    _status_row("`managedDeviceOwnerType` (Intune)", "ownership", "verbatim", "intune"),
    _status_row("`jailBroken` (Intune)", "jail_broken", "verbatim (`True`, `False`, `Unknown` "
                "is omitted)", "intune"),
    _status_row("`isEncrypted` (Intune)", "is_encrypted", "as reported", "intune"),
    _status_row("`lastSyncDateTime` (Intune)", "last_sync_time", "epoch ms", "intune"),
    _status_row("`enrolledDateTime` (Intune)", "enrolled_time", "epoch ms", "intune"),
    _status_row("registered users", "registered_user_uids", "object ids, sorted", "facts"),
    _status_row("deletion (`devices/delta` `@removed`)", "is_deleted",
                "`true` for a deleted device only", "facts"),
    _status_row("deletion", "deleted_time",
                "epoch ms: when Graph says it was deleted, else the collection time", "facts"),
)


#: Entra device properties the mapping reads (the `$select` of `/devices`).
GRAPH_DEVICE_FIELDS: Final[tuple[str, ...]] = (
    "accountEnabled", "approximateLastSignInDateTime", "deviceId", "deviceOwnership",
    "displayName", "enrollmentType", "id", "isCompliant", "isManaged", "isRooted",
    "managementType", "manufacturer", "model", "operatingSystem", "operatingSystemVersion",
    "registrationDateTime", "trustType",
)
#: Intune managedDevice properties the mapping reads (the `$select` of `managedDevices`).
INTUNE_DEVICE_FIELDS: Final[tuple[str, ...]] = tuple(sorted({
    "azureADDeviceId", "complianceState", "deviceName", "enrolledDateTime", "id", "imei",
    "isEncrypted", "isSupervised", "jailBroken", "lastSyncDateTime", "managedDeviceOwnerType",
    "managementAgent", "manufacturer", "meid", "model", "operatingSystem", "osVersion",
    "serialNumber", "udid",
}))

# --------------------------------------------------------------------------- the document

EXAMPLE_COLLECTED_AT_MS: Final = 1_767_225_600_000  # 2026-01-01T00:00:00Z
EXAMPLE_TENANT_ID: Final = "00000000-0000-4000-8000-0000000000aa"
EXAMPLE_PRODUCT: Final = Product(name="Entra ID device inventory", vendor_name="Microsoft",
                                 version="0.1.0")


def example_device() -> dict[str, Any]:
    """A fully-populated Entra device (every mapped property set); a fresh dict per call."""
    return {
        "id": "6a1f0c2e-3333-4444-8555-666677778888",
        "deviceId": "0f4c5a8e-2222-4333-8444-555566667777",
        "displayName": "LAPTOP-JDOE-01",
        "operatingSystem": "Windows",
        "operatingSystemVersion": "10.0.22631.4460",
        "accountEnabled": True,
        "isCompliant": True,
        "isManaged": True,
        "trustType": "AzureAd",
        "managementType": "MDM",
        "enrollmentType": "AzureDomainJoined",
        "deviceOwnership": "Company",
        "isRooted": False,
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7440",
        "registrationDateTime": "2024-02-12T09:30:00Z",
        "approximateLastSignInDateTime": "2025-12-31T18:20:00Z",
    }


def example_managed_device() -> dict[str, Any]:
    """The Intune record of `example_device()`; a fresh dict per call."""
    return {
        "id": "d1e2f3a4-5555-4666-8777-888899990000",
        "azureADDeviceId": "0f4c5a8e-2222-4333-8444-555566667777",
        "deviceName": "LAPTOP-JDOE-01",
        "operatingSystem": "Windows",
        "osVersion": "10.0.22631.4460",
        "complianceState": "compliant",
        "managedDeviceOwnerType": "company",
        "managementAgent": "mdm",
        "manufacturer": "Dell Inc.",
        "model": "Latitude 7440",
        "serialNumber": "5CG1234XYZ",
        "isEncrypted": True,
        "isSupervised": False,
        "jailBroken": "False",
        "enrolledDateTime": "2024-02-12T09:45:00Z",
        "lastSyncDateTime": "2025-12-31T23:10:00Z",
    }


EXAMPLE_FACTS: Final = DeviceFacts(
    owners=(Owner("3f1c2d4e-1111-4222-8333-444455556666", "Jane Doe", "jane.doe@contoso.com"),),
    users=(Owner("3f1c2d4e-1111-4222-8333-444455556666", "Jane Doe", "jane.doe@contoso.com"),),
)


def _example_facts() -> DeviceFacts:
    return DeviceFacts(managed=example_managed_device(), owners=EXAMPLE_FACTS.owners,
                       users=EXAMPLE_FACTS.users)


_DOC_RULES = """\
Every Entra ID device becomes one **Device Inventory Info: Collect** event (`class_uid` 5001,
`activity_id` 2, `type_uid` 500102, severity Informational), validated against the bundled
profile-free OCSF 1.8.0 schema. The mapping is `connector.ocsf.device_inventory.to_event`, a pure
function of the Entra `device`, its Intune `managedDevice` (joined on `azureADDeviceId`) and its
registered owners and users.

- **Join keys.** `device.uid` is the Entra `deviceId`, the id sign-ins report in
  `deviceDetail.deviceId` (`device.uid` of Authentication events) and Intune in
  `azureADDeviceId`. `device.owner.uid` is the owner's object id, `user.uid` of its User
  Inventory event, with the same `name` (display name) and `account.name` (UPN).
- **Unknown is not false.** Intune fields appear only for a device Intune manages (and when
  Intune was read: it needs an Intune licence and `DeviceManagementManagedDevices.Read.All`).
  `is_personal` is omitted for Intune's `unknown` ownership; `is_compliant` for a compliance
  state Intune cannot decide falls back to Entra's `isCompliant`, else is omitted.
- **Disabled and deleted devices** say so in `enrichments[name=device].data`: `is_enabled`
  false, or `is_deleted` true with `deleted_time` (a deleted device is mapped from its last
  known record).
"""


def render_mapping_section() -> str:
    """The Device Inventory Info section of docs/mapping.md."""
    example = to_event(example_device(), _example_facts(), collected_at_ms=EXAMPLE_COLLECTED_AT_MS,
                       tenant_id=EXAMPLE_TENANT_ID, product=EXAMPLE_PRODUCT)
    lines = [
        "# Graph -> OCSF 1.8.0 mapping (Device Inventory Info, class 5001)",
        "",
        _DOC_RULES,
        "| Graph source | OCSF path | Rule |",
        "| --- | --- | --- |",
        *(f"| {cell(r.source)} | `{r.path}` | {cell(r.rule or 'as reported')} |"
          for r in MAPPING),
        "",
        "Entra device properties read (`$select` of `/devices`): "
        + ", ".join(f"`{name}`" for name in GRAPH_DEVICE_FIELDS) + ".",
        "",
        "Intune properties read (`$select` of `/deviceManagement/managedDevices`): "
        + ", ".join(f"`{name}`" for name in INTUNE_DEVICE_FIELDS) + ".",
        "",
        "## Example",
        "",
        "Entra device:",
        "",
        *json_block(example_device()),
        "Intune managed device:",
        "",
        *json_block(example_managed_device()),
        "Registered owner and user: Jane Doe. Collected at 2026-01-01T00:00:00Z.",
        "",
        "Event:",
        "",
        *json_block(example),
    ]
    return "\n".join(lines)


def owners_from(records: Sequence[Mapping[str, Any]]) -> tuple[Owner, ...]:
    """Owner facts from Graph's `registeredOwners` / `registeredUsers` items (users only)."""
    out: list[Owner] = []
    for record in records:
        if not isinstance(record, Mapping):
            continue
        kind = record.get("@odata.type")
        if kind is not None and kind != "#microsoft.graph.user":
            continue
        uid = text(record.get("id"))
        if uid is not None:
            out.append(Owner(uid, text(record.get("displayName")),
                             text(record.get("userPrincipalName"))))
    return tuple(out)
