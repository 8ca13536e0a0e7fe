"""Directory audit records about a group -> OCSF 1.8.0 Group Management (3006).

`group` is the group (object id and display name, as `user.groups[]` of the inventory). For a
member added or removed, the member is `user` (Add User / Remove User) or, when the member is
itself a group, `subgroup` (Add Subgroup / Remove Subgroup). Graph names the group either as a
target of type Group or, on the member's target, in the `Group.ObjectID` / `Group.DisplayName`
modified properties (new value on an add, old value on a remove); both are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from connector.ocsf.audit_common import (
    Target,
    base_event,
    class_header,
    group_object,
    target_user,
    targets,
)
from connector.ocsf.common import MappingRow, Product

__all__ = ["ACTIVITIES", "ACTIVITY_CAPTIONS", "CLASS_CAPTIONS", "CLASS_UID", "MAPPING",
           "TYPE_CAPTIONS", "to_event"]

CLASS_UID: Final = 3006
CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "Group Management"}
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Assign Privileges", 2: "Revoke Privileges", 3: "Add User",
    4: "Remove User", 5: "Delete", 6: "Create", 7: "Add Subgroup", 8: "Remove Subgroup",
    99: "Other",
}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + a: f"Group Management: {c}" for a, c in ACTIVITY_CAPTIONS.items()}
_ADD_USER, _REMOVE_USER, _ADD_SUBGROUP, _REMOVE_SUBGROUP = 3, 4, 7, 8

#: Microsoft's activityDisplayName -> activity_id (member ones switch to the subgroup
#: activities when the member is a group).
ACTIVITIES: Final[Mapping[str, int]] = {
    "Add member to group": _ADD_USER,
    "Remove member from group": _REMOVE_USER,
    "Add group": 6,
    "Delete group": 5,
    "Hard Delete group": 5,
}
_SUBGROUP: Final = {_ADD_USER: _ADD_SUBGROUP, _REMOVE_USER: _REMOVE_SUBGROUP}


def _kind(target: Target) -> str:
    return (target.type or "").lower()


def _group(found: tuple[Target, ...], member: Target | None,
           adding: bool) -> dict[str, Any] | None:
    groups = [t for t in found if _kind(t) == "group" and t is not member]
    if groups:
        return group_object(groups[0].uid, groups[0].name)
    if member is None:
        return None
    values = [(c.new_text if adding else c.old_text) if c is not None else None
              for c in (member.change("Group.ObjectID"), member.change("Group.DisplayName"))]
    return group_object(values[0], values[1])


def to_event(record: Mapping[str, Any], activity_id: int, *, tenant_id: str,
             product: Product) -> dict[str, Any] | None:
    """The 3006 event, or None when no group can be named (Entity Management then)."""
    found = targets(record)
    member: Target | None = None
    if activity_id in _SUBGROUP:
        # The member is the target carrying Group.* properties, else the first non-group one.
        member = next((t for t in found if t.change("Group.ObjectID", "Group.DisplayName")),
                      None) or next((t for t in found if _kind(t) != "group"), None)
        if member is None and len(found) > 1:
            member = found[0]
        if member is not None and _kind(member) == "group":
            activity_id = _SUBGROUP[activity_id]
    group = _group(found, member, activity_id in (_ADD_USER, _ADD_SUBGROUP))
    if group is None:
        return None
    event = base_event(record, class_header(CLASS_UID, CLASS_CAPTIONS[CLASS_UID], activity_id,
                                            ACTIVITY_CAPTIONS[activity_id], TYPE_CAPTIONS),
                       tenant_id=tenant_id, product=product)
    event["group"] = group
    if member is not None:
        if _kind(member) == "group":
            subgroup = group_object(member.uid, member.name)
            if subgroup is not None:
                event["subgroup"] = subgroup
        elif (user := target_user(member)) is not None:
            event["user"] = user
    return event


MAPPING: Final[tuple[MappingRow, ...]] = (
    MappingRow("(constant)", "class_uid", f"`{CLASS_UID}`", "constant"),
    MappingRow("`activityDisplayName`", "activity_id",
               "by the activity table below; a member that is a group makes Add User / Remove "
               "User into Add Subgroup (7) / Remove Subgroup (8)"),
    MappingRow("`targetResources[type=Group].id`", "group.uid",
               "else `modifiedProperties[Group.ObjectID]` of the member (new value on an add, "
               "old on a remove); the inventory's `user.groups[].uid`"),
    MappingRow("`targetResources[type=Group].displayName`", "group.name",
               "else `modifiedProperties[Group.DisplayName]`"),
    MappingRow("member `targetResources[type=User]`", "user",
               "`uid`, `name`, `account` as in the inventory (a service principal member: "
               "`type` Service)"),
    MappingRow("member `targetResources[type=Group]`", "subgroup", "`uid` and `name`"),
)
