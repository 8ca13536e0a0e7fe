"""Our OCSF 5001 events as the SDK's `DeviceOCSFModel`, the shape Sekoia.io's asset API takes
for devices.

The SDK's model (sekoia-automation-models 1.4, OCSF 1.5 `inventory_info`) is narrower than our
event: pydantic drops what it does not declare, its `device.type_id` knows fewer types, its
`os.type` captions are lower-case, it requires a `hostname`, and its device has no owner. What
it can hold is moved as is; the rest is moved where the model has a place for it or listed in
`DEVICE_DROPPED` (and docs/sekoia.md). Both tables feed the device connector's
`get_mapped_fields()`, so changing either makes the SDK re-collect every device once.

Unknown stays unknown: an entry is written only when our event carries the fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sekoia_automation_models.ocsf.device import DeviceOCSFModel, DeviceTypeId

from entra_sekoia.assets import AssetMappingError, AssetRow

__all__ = ["DEVICE_ASSET_MAPPING", "DEVICE_DROPPED", "device_mapping_markdown",
           "to_device_asset"]

_SDK_TYPES: Final = frozenset(int(t) for t in DeviceTypeId)
_OTHER: Final = 99
# Our device types the SDK's enum lacks, to the nearest it has (a tablet is a mobile device).
_NEAREST_TYPE: Final[Mapping[int, tuple[int, str]]] = {3: (2, "Desktop"), 4: (5, "Mobile")}

DEVICE_ASSET_MAPPING: Final[tuple[AssetRow, ...]] = (
    AssetRow("device.type_id, device.type", "device.type_id, device.type",
             "the SDK's enum has no Laptop (3) or Tablet (4): a laptop goes out as Desktop (2), "
             "a tablet as Mobile (5), any other type it lacks as Other (99)"),
    AssetRow("device.name (or device.uid)", "device.hostname",
             "the model requires a hostname: the device's display name, else its deviceId"),
    AssetRow("device.os.type", "device.os.type", "lower-cased (the SDK's captions are)"),
    AssetRow("device.imei", "device.imei_list", "a list of the one IMEI Intune reports"),
    AssetRow("device.owner.uid, enrichments[name=device].data.registered_user_uids",
             "enrichments[name=device].data.Users",
             "the owner first, then the other registered users (object ids: the `user.uid` of "
             "their user assets); the model's device has no owner"),
)

DEVICE_DROPPED: Final[tuple[tuple[str, str], ...]] = (
    ("metadata.uid, metadata.tenant_uid", "Metadata has product and version only"),
    ("device.owner (name, account)", "Device has no owner; its uid goes to the Users list"),
    ("device.os.version", "OperatingSystem has name and type only"),
    ("device.hw_info.serial_number", "Device has no hardware info"),
    ("enrichments[name=device].data: is_enabled, is_deleted, deleted_time, trust_type, "
     "join_type, management_type, enrollment_type, compliance_state, management_agent, "
     "ownership, jail_broken, is_encrypted, is_rooted, last_sync_time, enrolled_time",
     "DeviceDataObject has Firewall_status, Storage_encryption (per partition), Users and "
     "Full_qualified_domain_name only; is_compliant, is_managed, is_personal, is_supervised and "
     "last_seen_time on `device` keep the gist"),
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _status(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for enrichment in event.get("enrichments") or ():
        if isinstance(enrichment, Mapping) and enrichment.get("name") == "device":
            data = enrichment.get("data")
            return data if isinstance(data, Mapping) else {}
    return {}


def _type(device: Mapping[str, Any]) -> tuple[int, str]:
    type_id = device.get("type_id")
    if isinstance(type_id, int) and type_id in _SDK_TYPES:
        return type_id, str(device.get("type") or "Unknown")
    if isinstance(type_id, int) and type_id in _NEAREST_TYPE:
        return _NEAREST_TYPE[type_id]
    return _OTHER, "Other"


def to_device_asset(event: Mapping[str, Any]) -> DeviceOCSFModel:
    """One of our Device Inventory Info events -> the SDK's `DeviceOCSFModel`."""
    device = event.get("device")
    if not isinstance(device, Mapping) or not _text(device.get("uid")):
        raise AssetMappingError("event has no device.uid")
    uid: str = device["uid"]
    out: dict[str, Any] = dict(device)
    out["type_id"], out["type"] = _type(device)
    out["hostname"] = _text(device.get("name")) or uid
    os_info = device.get("os")
    if isinstance(os_info, Mapping):
        out["os"] = {**os_info, "type": str(os_info.get("type") or "unknown").lower()}
    imei = _text(device.get("imei"))
    if imei is not None:
        out["imei_list"] = [imei]
    owner = device.get("owner")
    owner_uid = _text(owner.get("uid")) if isinstance(owner, Mapping) else None
    registered = _status(event).get("registered_user_uids")
    users = list(dict.fromkeys([*([owner_uid] if owner_uid else []),
                                *(u for u in registered or () if _text(u))]))
    enrichments = [{"name": "device", "value": "users", "data": {"Users": users}}] \
        if users else None
    item = {**event, "device": out, "enrichments": enrichments}
    try:
        return DeviceOCSFModel.model_validate(item)
    except ValueError as exc:
        first = "; ".join(line.strip() for line in str(exc).splitlines()[:3])
        raise AssetMappingError(f"device {uid}: {first}") from None


def device_mapping_markdown() -> str:
    """The device part of docs/sekoia.md's mapping section."""
    return "\n".join([
        "Devices (the device connector): every field of our Device Inventory Info event that the "
        "SDK's `DeviceOCSFModel` declares is pushed unchanged. What changes on the way:",
        "",
        "| from our event | to the pushed item | rule |",
        "| --- | --- | --- |",
        *(f"| `{r.source}` | `{r.target}` | {r.rule} |" for r in DEVICE_ASSET_MAPPING),
        "",
        "What the device model cannot carry:",
        "",
        "| our field | why it is dropped |",
        "| --- | --- |",
        *(f"| `{source}` | {why} |" for source, why in DEVICE_DROPPED),
        "",
    ])
