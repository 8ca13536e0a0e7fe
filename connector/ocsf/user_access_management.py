"""Directory audit records that grant or take away privileges -> OCSF 1.8.0 User Access
Management (3005): directory role assignments (direct, eligible and PIM), app role assignments
and consents to applications.

`privileges` lists what was granted or revoked: the role's display name (as the inventory's
`admin_roles`), the app role's value, or the consented scopes. `user` is who received or lost
them: the user (inventory `uid`), or a service principal (`type` Service) for an app role
granted to an application. `resource` is the role (template id, name) or the application.

Which value Graph puts where (learn.microsoft.com "Microsoft Entra audit log categories and
activities", RoleManagement and ApplicationManagement): a role target of type Role, else the
`Role.DisplayName` / `Role.TemplateId` modified properties; `AppRole.Value`,
`AppRole.DisplayName`, `ServicePrincipal.ObjectID`, `User.ObjectID` on app role assignments;
`DelegatedPermissionGrant.Scope` and `ConsentAction.Permissions` (`... Scope: a b, ...`) on
grants and consents. New values for an assignment, old ones for a removal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from connector.ocsf.audit_common import (
    Change,
    Target,
    actor_fields,
    base_event,
    class_header,
    target_user,
    targets,
    user_object,
)
from connector.ocsf.common import MappingRow, Product

__all__ = ["ACTIVITIES", "ACTIVITY_CAPTIONS", "CLASS_CAPTIONS", "CLASS_UID", "MAPPING",
           "TYPE_CAPTIONS", "to_event"]

CLASS_UID: Final = 3005
CLASS_CAPTIONS: Final[Mapping[int, str]] = {CLASS_UID: "User Access Management"}
ACTIVITY_CAPTIONS: Final[Mapping[int, str]] = {
    0: "Unknown", 1: "Assign Privileges", 2: "Revoke Privileges", 99: "Other"}
TYPE_CAPTIONS: Final[Mapping[int, str]] = {
    CLASS_UID * 100 + a: f"User Access Management: {c}" for a, c in ACTIVITY_CAPTIONS.items()}
_ASSIGN, _REVOKE = 1, 2

#: Microsoft's activityDisplayName -> activity_id.
ACTIVITIES: Final[Mapping[str, int]] = {
    # Core Directory, RoleManagement
    "Add member to role": _ASSIGN,
    "Remove member from role": _REVOKE,
    "Add eligible member to role": _ASSIGN,
    "Remove eligible member from role": _REVOKE,
    "Add scoped member to role": _ASSIGN,
    "Remove scoped member from role": _REVOKE,
    # PIM, RoleManagement (names checked against learn.microsoft.com "Microsoft Entra audit
    # log categories and activities", Privileged Identity Management section)
    "Add member to role completed (PIM activation)": _ASSIGN,
    "Add member to role in PIM completed (permanent)": _ASSIGN,
    "Add member to role in PIM completed (timebound)": _ASSIGN,
    "Add eligible member to role in PIM completed (permanent)": _ASSIGN,
    "Add eligible member to role in PIM completed (timebound)": _ASSIGN,
    "Remove member from role in PIM completed (permanent)": _REVOKE,
    "Remove member from role in PIM completed (timebound)": _REVOKE,
    "Remove eligible member from role in PIM completed (permanent)": _REVOKE,
    "Remove eligible member from role in PIM completed (timebound)": _REVOKE,
    "Remove member from role completed (PIM deactivate)": _REVOKE,
    "Remove member from role (PIM activation expired)": _REVOKE,
    "Add member to role outside of PIM (permanent)": _ASSIGN,
    "Remove permanent direct role assignment": _REVOKE,
    "Remove permanent eligible role assignment": _REVOKE,
    # Core Directory, roles scoped over a restricted management administrative unit
    "Add member to role scoped over Restricted Management Administrative Unit": _ASSIGN,
    "Remove member from role scoped over Restricted Management Administrative Unit": _REVOKE,
    # Core Directory, ApplicationManagement / UserManagement
    "Add app role assignment to service principal": _ASSIGN,
    "Remove app role assignment from service principal": _REVOKE,
    "Add app role assignment grant to user": _ASSIGN,
    "Remove app role assignment from user": _REVOKE,
    "Add delegated permission grant": _ASSIGN,
    "Remove delegated permission grant": _REVOKE,
    "Consent to application": _ASSIGN,
    "Revoke consent": _REVOKE,
}

_SCOPE: Final = re.compile(r"Scope:\s*([^,\]]*)")


def _kind(target: Target) -> str:
    return (target.type or "").lower()


def _pick(revoke: bool) -> Callable[[Change], str | None]:
    return (lambda c: c.old_text) if revoke else (lambda c: c.new_text)


def _first(found: tuple[Target, ...], names: tuple[str, ...],
           pick: Callable[[Change], str | None]) -> str | None:
    for target in found:
        change = target.change(*names)
        if change is not None and (value := pick(change) or change.new_text or change.old_text):
            return value
    return None


def _scopes(found: tuple[Target, ...], revoke: bool) -> list[str]:
    """Delegated scopes, from the grant's Scope property or the consent's Permissions text."""
    out: list[str] = []
    for target in found:
        for change in target.changes:
            name = change.name.lower()
            raw = (change.old if revoke else change.new) or change.new or change.old
            if not isinstance(raw, str):
                continue
            if name == "delegatedpermissiongrant.scope":
                out += raw.split()
            elif name == "consentaction.permissions":
                for match in _SCOPE.finditer(raw):
                    out += match.group(1).split()
    return list(dict.fromkeys(out))


def _role(found: tuple[Target, ...], revoke: bool) -> tuple[list[str], dict[str, Any] | None]:
    """(privileges, resource) of a directory role assignment."""
    pick = _pick(revoke)
    roles = [t for t in found if _kind(t) == "role"]
    name = roles[0].name if roles else None
    uid = roles[0].uid if roles else None
    name = name or _first(found, ("Role.DisplayName",), pick)
    uid = _first(found, ("Role.TemplateId",), pick) or uid or \
        _first(found, ("Role.ObjectID",), pick)
    resource = {key: value for key, value in (("uid", uid), ("name", name)) if value}
    if resource:
        resource["type"] = "Role"
    privileges = [name] if name else ([uid] if uid else [])
    return privileges, resource or None


def _app(found: tuple[Target, ...], revoke: bool) -> tuple[list[str], dict[str, Any] | None]:
    """(privileges, resource) of an app role assignment, grant or consent."""
    pick = _pick(revoke)
    # The role's value, else its name, else its id (all zeros: the app's default access).
    value = (_first(found, ("AppRole.Value",), pick) or _first(found, ("AppRole.DisplayName",), pick)
             or _first(found, ("AppRole.Id",), pick))
    privileges = [value] if value else _scopes(found, revoke)
    apps = [t for t in found if _kind(t) in ("serviceprincipal", "application")]
    resource = None
    if apps:
        resource = {key: val for key, val in (("uid", apps[0].uid), ("name", apps[0].name))
                    if val}
        if resource:
            resource["type"] = apps[0].type or "ServicePrincipal"
    return privileges, resource or None


def _principal(record: Mapping[str, Any], found: tuple[Target, ...],
               revoke: bool, app: bool) -> dict[str, Any] | None:
    """Who received or lost the privileges."""
    users = [t for t in found if _kind(t) == "user"]
    if users and (user := target_user(users[0])) is not None:
        return user
    pick = _pick(revoke)
    uid = _first(found, ("User.ObjectID",), pick)
    if uid is not None:
        return user_object(uid, None, _first(found, ("User.UPN",), pick))
    if app:
        sp_uid = _first(found, ("ServicePrincipal.ObjectID",), pick)
        sp_name = _first(found, ("ServicePrincipal.DisplayName",), pick)
        if sp_uid or sp_name:
            return user_object(sp_uid, sp_name, None, service=True)
        # A consent is given by the user who initiated it.
        fields, _ = actor_fields(record)
        consenting = fields.get("user") if fields else None
        return consenting if consenting is not None and "account" in consenting else None
    principals = [t for t in found if _kind(t) in ("serviceprincipal", "group")]
    if not principals:
        return None
    if _kind(principals[0]) == "serviceprincipal":
        return target_user(principals[0])
    # A role-assignable group: its members hold the role. A user of type Other named Group.
    group = {key: value for key, value in (("uid", principals[0].uid),
                                           ("name", principals[0].name)) if value}
    return {**group, "type_id": 99, "type": "Group"} if group else None


def to_event(record: Mapping[str, Any], activity_id: int, *, tenant_id: str,
             product: Product) -> dict[str, Any] | None:
    """The 3005 event, or None when no privilege or no principal can be named (Entity
    Management then)."""
    found = targets(record)
    revoke = activity_id == _REVOKE
    activity = str(record.get("activityDisplayName") or "")
    app = "role" not in activity.lower() or "app role" in activity.lower()
    privileges, resource = (_app if app else _role)(found, revoke)
    user = _principal(record, found, revoke, app)
    if not privileges or user is None:
        return None
    event = base_event(record, class_header(CLASS_UID, CLASS_CAPTIONS[CLASS_UID], activity_id,
                                            ACTIVITY_CAPTIONS[activity_id], TYPE_CAPTIONS),
                       tenant_id=tenant_id, product=product)
    event["privileges"] = privileges
    event["user"] = user
    if resource is not None:
        event["resource"] = resource
    return event


MAPPING: Final[tuple[MappingRow, ...]] = (
    MappingRow("(constant)", "class_uid", f"`{CLASS_UID}`", "constant"),
    MappingRow("`activityDisplayName`", "activity_id",
               "by the activity table below: 1 (Assign Privileges) or 2 (Revoke Privileges)"),
    MappingRow("`targetResources[type=Role].displayName`", "privileges",
               "the role's display name (else `modifiedProperties[Role.DisplayName]`), as the "
               "inventory's `admin_roles`; app roles: `AppRole.Value` (else "
               "`AppRole.DisplayName`, else `AppRole.Id`, all zeros for default access); grants and consents: the scopes of "
               "`DelegatedPermissionGrant.Scope` / `ConsentAction.Permissions`. New values on "
               "an assignment, old ones on a removal"),
    MappingRow("`modifiedProperties[Role.TemplateId]`", "resource.uid",
               "the role's template id (else the Role target's id); app assignments: the "
               "application's service principal id"),
    MappingRow("`targetResources[type=Role].displayName`", "resource.name", ""),
    MappingRow("(constant)", "resource.type", "`Role`, or the application target's type",
               "constant"),
    MappingRow("`targetResources[type=User]`", "user",
               "the principal: `uid`, `name`, `account` as in the inventory; else "
               "`User.ObjectID`; for an app role granted to an application its service "
               "principal (`ServicePrincipal.ObjectID`, `type` Service); for a consent without "
               "either, the consenting user (the initiator)"),
)
