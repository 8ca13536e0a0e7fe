"""Every other directory audit record -> OCSF 1.8.0 Entity Management (3004), so none is lost.

The activity comes from Graph's `operationType` (`Add`, `Update`, `Delete`, `Assign`, ...),
not the activity name. `entity` is the first target (id, display name, and its Graph type as
`type`, with User / Group / Device / Policy as OCSF types); `entity_result` carries the new
values of its modified properties in `data`. A record without targets names its Graph category
as the entity, because OCSF requires one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connector.ocsf.audit_common import Target, base_event, class_header, clean, targets
from connector.ocsf.common import MappingRow, Product
from connector.ocsf.common import text as _text

__all__ = ["ACTIVITY_CAPTIONS", "CLASS_CAPTIONS", "CLASS_UID", "ENTITY_TYPE_CAPTIONS",
           "MAPPING", "OPERATIONS", "TYPE_CAPTIONS", "to_event"]

CLASS_UID: Final = 3004
CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "Entity Management"}
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 5: "Move", 6: "Enroll",
    7: "Unenroll", 8: "Enable", 9: "Disable", 10: "Activate", 11: "Deactivate", 12: "Suspend",
    13: "Resume", 99: "Other",
}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + a: f"Entity Management: {c}" for a, c in ACTIVITY_CAPTIONS.items()}
ENTITY_TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Device", 2: "User", 3: "Group", 4: "Organization", 5: "Policy",
    6: "Email", 7: "Network Zone", 99: "Other"}
_OTHER: Final = 99

#: Graph's operationType (lower case) -> activity_id; any other value is 99 (Other) named
#: after the operation, and no operation at all is 0 (Unknown).
OPERATIONS: Final[Mapping[str, int]] = {
    "add": 1, "create": 1, "update": 3, "delete": 4, "enable": 8, "disable": 9,
}
_ENTITY_TYPES: Final[Mapping[str, int]] = {
    "device": 1, "user": 2, "group": 3, "policy": 5, "conditionalaccesspolicy": 5,
}


def _activity(record: Mapping[str, Any]) -> tuple[int, str]:
    operation = _text(record.get("operationType"))
    if operation is None:
        return 0, ACTIVITY_CAPTIONS[0]
    activity_id = OPERATIONS.get(operation.lower(), _OTHER)
    return activity_id, operation if activity_id == _OTHER else ACTIVITY_CAPTIONS[activity_id]


def _entity(target: Target) -> dict[str, Any] | None:
    entity: dict[str, Any] = {k: v for k, v in (("uid", target.uid), ("name", target.name))
                              if v is not None}
    if not entity:
        return None
    kind = target.type
    type_id = _ENTITY_TYPES.get((kind or "").lower(), _OTHER if kind else 0)
    entity["type_id"] = type_id
    entity["type"] = kind if type_id == _OTHER and kind else ENTITY_TYPE_CAPTIONS[type_id]
    return entity


def to_event(record: Mapping[str, Any], *, tenant_id: str, product: Product) -> dict[str, Any]:
    """The 3004 event; raises MappingError only for a record without id or time."""
    activity_id, name = _activity(record)
    event = base_event(record, class_header(CLASS_UID, CLASS_CAPTIONS[CLASS_UID], activity_id,
                                            name, TYPE_CAPTIONS),
                       tenant_id=tenant_id, product=product)
    found = [(t, e) for t in targets(record) if (e := _entity(t)) is not None]
    if found:
        target, entity = found[0]
        event["entity"] = entity
        data = clean({c.name: c.new for c in target.changes})
        if data is not None:
            event["entity_result"] = {**entity, "data": data}
    else:
        label = (_text(record.get("category")) or _text(record.get("loggedByService"))
                 or _text(record.get("activityDisplayName")) or "directory")
        event["entity"] = {"name": label, "type_id": _OTHER, "type": "Other"}
    return event


MAPPING: Final[tuple[MappingRow, ...]] = (
    MappingRow("(constant)", "class_uid", f"`{CLASS_UID}`", "constant"),
    MappingRow("`operationType`", "activity_id",
               "`Add`/`Create` 1, `Update` 3, `Delete` 4, `Enable` 8, `Disable` 9; any other "
               "operation 99 (Other) with `activity_name` the operation (`Assign`, `Restore`); "
               "none 0 (Unknown)"),
    MappingRow("`targetResources[0].id`", "entity.uid", "the first target with an id or name"),
    MappingRow("`targetResources[0].displayName`", "entity.name", ""),
    MappingRow("`targetResources[0].type`", "entity.type_id",
               "User 2, Group 3, Device 1, Policy 5; other types 99 with `type` Graph's type "
               "(`ServicePrincipal`, `Application`, `Role`, ...)"),
    MappingRow("`targetResources[0].modifiedProperties[].newValue`", "entity_result.data",
               "property name -> decoded new value (the old values stay in "
               "`unmapped.targetResources`)"),
    MappingRow("`category`", "entity.name",
               "only for a record without targets (OCSF requires an entity); type Other"),
)
