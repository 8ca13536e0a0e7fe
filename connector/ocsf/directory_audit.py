"""One Graph `directoryAudit` record -> one OCSF 1.8.0 event of the class its activity calls for.

The class is chosen by Microsoft's activity name (`activityDisplayName`, as listed in
learn.microsoft.com "Microsoft Entra audit log categories and activities"): Account Change
(3001), Group Management (3006) or User Access Management (3005) for the names in their
`ACTIVITIES` tables; Entity Management (3004) for every other name, with the activity taken from
`operationType`, so no record is dropped. A record of a mapped name that lacks what its class
requires (a target user for 3001, a group for 3006, a privilege and a principal for 3005) also
falls back to 3004. Only a record without `id` or `activityDateTime` raises `MappingError`.

`MAPPED_ACTIVITIES` is the set of names mapped by name: a run counts the others
(`is_mapped`) to report activities Microsoft added that deserve a row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from connector.ocsf import (
    account_change,
    audit_common,
    entity_management,
    group_management,
    user_access_management,
)
from connector.ocsf.common import (
    SEVERITY_CAPTIONS,
    MappingError,
    MappingRow,
    Product,
    cell,
    json_block,
)
from connector.ocsf.common import text as _text

__all__ = [
    "ACTIVITY_TABLE",
    "CAPTION_CHECKS",
    "CLASSES",
    "EXAMPLE_PRODUCT",
    "EXAMPLE_TENANT_ID",
    "MAPPED_ACTIVITIES",
    "SCHEMA_RESOURCES",
    "MappingError",
    "class_for",
    "example_record",
    "is_mapped",
    "render_mapping_section",
    "to_event",
]

_Mapper = Callable[..., dict[str, Any] | None]
# class module -> its mapper (the 3004 fallback is entity_management.to_event).
_BY_CLASS: Final[tuple[tuple[Any, Mapping[str, int], _Mapper], ...]] = (
    (account_change, account_change.ACTIVITIES, account_change.to_event),
    (group_management, group_management.ACTIVITIES, group_management.to_event),
    (user_access_management, user_access_management.ACTIVITIES, user_access_management.to_event),
)

#: activityDisplayName -> (class_uid, activity_id) for every name mapped by name.
ACTIVITY_TABLE: Final[Mapping[str, tuple[int, int]]] = {
    name: (module.CLASS_UID, activity_id)
    for module, table, _ in _BY_CLASS for name, activity_id in table.items()
}
MAPPED_ACTIVITIES: Final[frozenset[str]] = frozenset(ACTIVITY_TABLE)
#: Every class a directory audit event may have, with its caption.
CLASSES: Final[Mapping[int, str]] = {
    module.CLASS_UID: module.CLASS_CAPTIONS[module.CLASS_UID]
    for module in (account_change, entity_management, user_access_management, group_management)
}
#: The bundled schema of each class, relative to the `connector` package (no profiles: the
#: events carry no profile attribute; see schemas/PROVENANCE.md).
SCHEMA_RESOURCES: Final[Mapping[int, str]] = {
    account_change.CLASS_UID: "schemas/account_change.1.8.0.schema.json",
    entity_management.CLASS_UID: "schemas/entity_management.1.8.0.schema.json",
    user_access_management.CLASS_UID: "schemas/user_access.1.8.0.schema.json",
    group_management.CLASS_UID: "schemas/group_management.1.8.0.schema.json",
}
#: (id key, caption key, captions) that `connector.validation` checks on each class's events.
CAPTION_CHECKS: Final[Mapping[int, tuple[tuple[str, str, Mapping[int, str]], ...]]] = {
    module.CLASS_UID: (
        ("class_uid", "class_name", module.CLASS_CAPTIONS),
        ("category_uid", "category_name", audit_common.CATEGORY_CAPTIONS),
        ("activity_id", "activity_name", module.ACTIVITY_CAPTIONS),
        ("type_uid", "type_name", module.TYPE_CAPTIONS),
        ("severity_id", "severity", SEVERITY_CAPTIONS),
        ("status_id", "status", audit_common.STATUS_CAPTIONS),
    )
    for module in (account_change, entity_management, user_access_management, group_management)
}
_MAPPERS: Final[Mapping[int, _Mapper]] = {module.CLASS_UID: mapper
                                          for module, _, mapper in _BY_CLASS}


def is_mapped(activity_name: Any) -> bool:
    """Whether an activity name has a row of its own (else the record lands in 3004)."""
    return isinstance(activity_name, str) and activity_name.strip() in MAPPED_ACTIVITIES


def class_for(record: Mapping[str, Any]) -> tuple[int, int] | None:
    """(class_uid, activity_id) the activity table gives the record, None if not mapped."""
    name = _text(record.get("activityDisplayName")) if isinstance(record, Mapping) else None
    return ACTIVITY_TABLE.get(name) if name is not None else None


def to_event(record: Mapping[str, Any], *, tenant_id: str, product: Product) -> dict[str, Any]:
    """The OCSF event of one audit record; MappingError only without a usable id or time."""
    if not isinstance(record, Mapping):
        raise MappingError(f"audit record is a {type(record).__name__}, not an object")
    chosen = class_for(record)
    if chosen is not None:
        class_uid, activity_id = chosen
        event = _MAPPERS[class_uid](record, activity_id, tenant_id=tenant_id, product=product)
        if event is not None:
            return event
    return entity_management.to_event(record, tenant_id=tenant_id, product=product)


# --------------------------------------------------------------------------- the document

EXAMPLE_TENANT_ID: Final = "00000000-0000-4000-8000-0000000000aa"
EXAMPLE_PRODUCT: Final = Product(name="Microsoft Entra ID directory audits",
                                 vendor_name="Microsoft", version="0.1.0")


def example_record() -> dict[str, Any]:
    """A Graph `Add member to role` record as Core Directory logs it; a fresh dict per call."""
    return {
        "id": "Directory_4b0f2b7e-4f6a-4d38-9f0e-1c2d3e4f5a6b_ABCDE_12345678",
        "category": "RoleManagement",
        "correlationId": "4b0f2b7e-4f6a-4d38-9f0e-1c2d3e4f5a6b",
        "result": "success",
        "resultReason": "",
        "activityDisplayName": "Add member to role",
        "activityDateTime": "2026-01-01T03:12:44.1234567Z",
        "loggedByService": "Core Directory",
        "operationType": "Assign",
        "initiatedBy": {
            "app": None,
            "user": {"id": "9e1d2c3b-0000-4000-8000-00000000b0b0", "displayName": "Bob Admin",
                     "userPrincipalName": "bob@contoso.com", "ipAddress": "203.0.113.7",
                     "userType": None, "homeTenantId": None, "homeTenantName": None},
        },
        "targetResources": [
            {"id": "3f1c2d4e-1111-4222-8333-444455556666", "displayName": None,
             "type": "User", "userPrincipalName": "alice@contoso.com", "groupType": None,
             "modifiedProperties": [
                 {"displayName": "Role.ObjectID", "oldValue": None,
                  "newValue": "\"5d6b6bb7-de71-4623-b4af-96380a352509\""},
                 {"displayName": "Role.DisplayName", "oldValue": None,
                  "newValue": "\"Global Administrator\""},
                 {"displayName": "Role.TemplateId", "oldValue": None,
                  "newValue": "\"62e90394-69f5-4237-9190-012177145e10\""},
                 {"displayName": "Role.WellKnownObjectName", "oldValue": None,
                  "newValue": "\"CompanyAdministrator\""},
             ]},
        ],
        "additionalDetails": [],
    }


_DOC_RULES: Final = """\
Every record of `GET /auditLogs/directoryAudits` becomes one event of the OCSF Identity & Access
Management category, chosen by Microsoft's activity name (`activityDisplayName`): Account Change
(3001), Group Management (3006) and User Access Management (3005) for the names in the table
below, Entity Management (3004) for every other name, with the activity from `operationType`.
A record of a listed name that lacks what its class requires (a target user, a group, a
privilege and its holder) also becomes a 3004 event: no record is dropped. Only a record
without `id` or `activityDateTime` is skipped (and counted). The events validate against the
bundled OCSF 1.8.0 schemas of their classes, generated without profiles (`schemas/`). The
mapping is `connector.ocsf.directory_audit.to_event`, a pure function of the Graph record.

- **Who**: `actor.user` has the inventory's `uid`, `name` and `account`; an application
  initiator is `actor.app_uid` / `actor.app_name` with its service principal as `actor.user`.
- **Whom**: targets carry the inventory's ids (user object id, group object id, role display
  name as in `admin_roles`).
- **What changed**: `modifiedProperties` values are JSON-encoded strings in Graph; they are
  decoded into the OCSF fields that exist for them (`user_result`, `entity_result.data`,
  `privileges`, `group`) and kept verbatim in `unmapped.targetResources`.
"""


def _rows(rows: tuple[MappingRow, ...]) -> list[str]:
    return [f"| {cell(r.source)} | `{r.path}` | {cell(r.rule or 'as reported')} |" for r in rows]


def render_mapping_section() -> str:
    """The directory-audit section of docs/mapping.md, from the tables and the example."""
    example = to_event(example_record(), tenant_id=EXAMPLE_TENANT_ID, product=EXAMPLE_PRODUCT)
    lines = ["# Graph -> OCSF 1.8.0 mapping (directory audits: classes 3001, 3004, 3005, 3006)",
             "", _DOC_RULES, "## Activity table", "",
             "| Microsoft activity (`activityDisplayName`) | OCSF class | activity_id |",
             "| --- | --- | --- |"]
    for module, table, _ in _BY_CLASS:
        caption = module.CLASS_CAPTIONS[module.CLASS_UID]
        lines += [f"| {cell(name)} | {caption} ({module.CLASS_UID}) | {activity_id} "
                  f"({module.ACTIVITY_CAPTIONS[activity_id]}) |"
                  for name, activity_id in table.items()]
    lines += ["| any other name | Entity Management (3004) | from `operationType` |", ""]
    header = ["| Graph source | OCSF path | Rule |", "| --- | --- | --- |"]
    lines += ["## Fields every class carries", "", *header, *_rows(audit_common.COMMON_MAPPING),
              ""]
    for module in (account_change, group_management, user_access_management, entity_management):
        caption = module.CLASS_CAPTIONS[module.CLASS_UID]
        lines += [f"## {caption} ({module.CLASS_UID})", "", *header, *_rows(module.MAPPING), ""]
    lines += ["## Example", "", "Graph directory audit record:", "",
              *json_block(example_record()), "Event:", "", *json_block(example)]
    return "\n".join(lines)

