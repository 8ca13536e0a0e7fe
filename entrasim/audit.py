"""The directory audit log the simulated tenant writes as it is changed
(`/auditLogs/directoryAudits` serves it; see `directory_audits.py`).

Graph (learn.microsoft.com "directoryAudit resource type", "Microsoft Entra audit log
categories and activities"): one record per activity with `activityDateTime` (UTC, filterable
with eq/ge/le), `activityDisplayName` (eq/startswith), `category`, `loggedByService`,
`operationType`, `result`, `initiatedBy` and `targetResources`. Registering or deleting
security info (MFA methods) is logged by the "Authentication Methods" service in the
UserManagement category as "User registered security info" / "User deleted security info"
(self-service) or "Admin registered security info" / "Admin deleted security info".
Graph's records name the method in `resultReason`'s text ("User registered Authenticator App
with Notification and Code", "Admin registered temporary access pass method for user", "User
deleted Mobile Phone SMS": `security_info_reason`, as practitioners quote them; the activity
reference lists only the activity names). ASSUMED besides: the registration-report name also
travels in `additionalDetails` as `{"key": "Method", "value": <name>}` (the simulator's records
carry both; the connector reads either). Records are returned newest first.

Targets carry `modifiedProperties` as Graph writes them: `oldValue` / `newValue` are
JSON-encoded strings (`"\"Jane\""`, `"[\"a\"]"`), null when there is no old or new value.
A record may fail (`result` `failure` with a `resultReason`), be initiated by a user (with the
`ipAddress` Graph reports) or by an application (`appId`, `displayName`, `servicePrincipalId`),
and may arrive late: hidden from the next N listings (`visible_after_listings`), as the audit
log's documented latency makes records appear minutes after `activityDateTime`.
"""

from __future__ import annotations

import bisect
import json
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from entrasim.odata import Prop

Json = dict[str, Any]

AUTH_METHODS_SERVICE = "Authentication Methods"
CORE_DIRECTORY = "Core Directory"
_NAMESPACE = uuid.UUID("a0d17000-0000-4000-8000-00000000a0d1")


@dataclass(frozen=True, slots=True)
class Modified:
    """One modified property; values are Python values, JSON-encoded when served."""

    name: str
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    type: str  # "User" | "Group" | "Role" | "ServicePrincipal" | "Device" | "Policy" | ...
    display_name: str | None
    user_principal_name: str | None = None
    modified: tuple[Modified, ...] = ()


@dataclass(frozen=True, slots=True)
class App:
    """An initiating application (a service principal acting with its own identity)."""

    app_id: str
    display_name: str
    service_principal_id: str


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    when: datetime
    activity: str
    category: str
    service: str
    operation: str
    initiator: Target | None  # None: the system ("Microsoft Substrate Management"-like)
    targets: tuple[Target, ...]
    details: tuple[tuple[str, str], ...] = ()
    app: App | None = None  # the initiating application, when no user initiated it
    ip: str | None = None  # the initiating user's address
    result: str = "success"  # success | failure | timeout
    reason: str = ""
    correlation: str | None = None
    hidden: list[int] = field(default_factory=lambda: [0], compare=False)  # listings to skip

    @property
    def stamp(self) -> str:
        return self.when.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def key(self) -> tuple[datetime, str]:
        return self.when, self.id


def _encoded(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _target_json(t: Target) -> Json:
    return {"id": t.id, "displayName": t.display_name, "type": t.type,
            "userPrincipalName": t.user_principal_name, "groupType": None,
            "modifiedProperties": [{"displayName": m.name, "oldValue": _encoded(m.old),
                                    "newValue": _encoded(m.new)} for m in t.modified]}


def record_json(r: AuditRecord) -> Json:
    initiated: Json = {"app": None, "user": None}
    if r.initiator is not None:
        initiated["user"] = {"id": r.initiator.id, "displayName": r.initiator.display_name,
                             "userPrincipalName": r.initiator.user_principal_name,
                             "ipAddress": r.ip or "", "userType": None, "homeTenantId": None,
                             "homeTenantName": None}
    elif r.app is not None:
        initiated["app"] = {"appId": r.app.app_id, "displayName": r.app.display_name,
                            "servicePrincipalId": r.app.service_principal_id,
                            "servicePrincipalName": None}
    else:
        initiated["app"] = {"appId": None, "displayName": "Microsoft Entra ID", "servicePrincipalId": None,
                            "servicePrincipalName": None}
    return {
        "id": r.id,
        "category": r.category,
        "correlationId": r.correlation or str(uuid.uuid5(_NAMESPACE, "corr:" + r.id)),
        "result": r.result,
        "resultReason": r.reason,
        "activityDisplayName": r.activity,
        "activityDateTime": r.when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{r.when.microsecond:06d}0Z",
        "loggedByService": r.service,
        "operationType": r.operation,
        "initiatedBy": initiated,
        "targetResources": [_target_json(t) for t in r.targets],
        "additionalDetails": [{"key": k, "value": v} for k, v in r.details],
    }


class Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...


# Registration-report method name -> the words Graph's `resultReason` uses for it.
_REASON_WORDS: dict[str, str] = {
    "microsoftAuthenticatorPush": "Authenticator App with Notification and Code",
    "microsoftAuthenticatorPasswordless": "Authenticator App",
    "fido2SecurityKey": "Fido",
    "passKeyDeviceBound": "Passkey",
    "passKeyDeviceBoundAuthenticator": "Passkey in Authenticator",
    "windowsHelloForBusiness": "Windows Hello for Business",
    "softwareOneTimePasscode": "Authenticator App with Code",
    "hardwareOneTimePasscode": "Hardware OATH token",
    "mobilePhone": "Mobile Phone SMS",
    "alternateMobilePhone": "Alternate Mobile Phone",
    "officePhone": "Office Phone",
    "email": "Email",
    "temporaryAccessPass": "temporary access pass method",
}


def security_info_reason(method: str, *, by_admin: bool, added: bool) -> str:
    """`resultReason` of a security-info record: "User registered Mobile Phone SMS",
    "Admin deleted temporary access pass method for user"."""
    words = _REASON_WORDS.get(method, method)
    who, verb = ("Admin" if by_admin else "User"), ("registered" if added else "deleted")
    return f"{who} {verb} {words}" + (" for user" if by_admin else "")


def initiator_ip(user_id: str) -> str:
    """The address an administrator works from (TEST-NET-2, stable per user)."""
    return f"198.51.100.{uuid.UUID(user_id).int % 250 + 1}" if _is_uuid(user_id) else "198.51.100.1"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def user_property(name: str, old: Any, new: Any) -> Modified:
    """A changed user property as Graph logs it: PascalCase name, each value in a list."""
    if name == "userType":
        old, new = ("Guest" if old else "Member"), ("Guest" if new else "Member")
    return Modified(name[:1].upper() + name[1:], None if old is None else [old],
                    None if new is None else [new])


def with_included(modified: Sequence[Modified]) -> tuple[Modified, ...]:
    """`Update user` also lists the changed property names ("Included Updated Properties")."""
    names = ", ".join(m.name for m in modified)
    return (*modified, Modified("Included Updated Properties", None, names))


def group_target(group: Named, modified: tuple[Modified, ...] = ()) -> Target:
    return Target(group.id, "Group", group.name, None, modified)


def group_props(group_id: str, name: str, *, added: bool) -> tuple[Modified, ...]:
    """The member target of `Add/Remove member from group` names the group (new or old value)."""
    if added:
        return Modified("Group.ObjectID", None, group_id), Modified("Group.DisplayName", None, name)
    return Modified("Group.ObjectID", group_id, None), Modified("Group.DisplayName", name, None)


def role_activity(added: bool, eligible: bool) -> str:
    if eligible:
        return "Add eligible member to role" if added else "Remove eligible member from role"
    return "Add member to role" if added else "Remove member from role"


def role_props(name: str, template_id: str, *, added: bool) -> tuple[Modified, ...]:
    pairs = (("Role.DisplayName", name), ("Role.TemplateId", template_id))
    return tuple(Modified(k, None, v) if added else Modified(k, v, None) for k, v in pairs)


def app_role_props(value: str, client_id: str, client_name: str,
                   revoke: bool) -> tuple[Modified, ...]:
    pairs = (("AppRole.Value", value), ("ServicePrincipal.ObjectID", client_id),
             ("ServicePrincipal.DisplayName", client_name))
    return tuple(Modified(k, v, None) if revoke else Modified(k, None, v) for k, v in pairs)


def consent_props(user_id: str, scopes: Iterable[str]) -> tuple[Modified, ...]:
    """`Consent to application`: Graph's text form of the grant, scopes after `Scope:`."""
    grant = (f"[] => [[Id: {uuid.uuid5(_NAMESPACE, user_id)}, ConsentType: Principal, "
             f"PrincipalId: {user_id}, Scope: {' '.join(scopes)}, CreatedDateTime: , "
             "LastModifiedDateTime ]]; ")
    return (Modified("ConsentContext.IsAdminConsent", None, "False"),
            Modified("ConsentAction.Permissions", None, grant))


AUDIT_FILTER: dict[str, Prop] = {
    "activityDateTime": Prop(lambda r: r.stamp, "datetime"),
    "activityDisplayName": Prop(lambda r: r.activity, "str"),
    "category": Prop(lambda r: r.category, "str"),
    "loggedByService": Prop(lambda r: r.service, "str"),
    "operationType": Prop(lambda r: r.operation, "str"),
    "id": Prop(lambda r: r.id, "str"),
    "correlationId": Prop(lambda r: r.correlation or str(uuid.uuid5(_NAMESPACE, "corr:" + r.id)),
                          "str"),
    "initiatedBy/user/id": Prop(lambda r: r.initiator.id if r.initiator else None, "str"),
    "initiatedBy/app/appId": Prop(lambda r: r.app.app_id if r.app else None, "str"),
}


class AuditLog:
    """Records ordered by (activityDateTime, id) (callers hold the tenant lock)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._written = 0
        self.records: list[AuditRecord] = []
        self._pending: list[AuditRecord] = []
        self.listings = 0

    def write(self, activity: str, category: str, service: str, operation: str,
              initiator: Target | None, targets: tuple[Target, ...],
              details: tuple[tuple[str, str], ...] = (), when: datetime | None = None, *,
              app: App | None = None, ip: str | None = None, result: str = "success",
              reason: str = "", correlation: str | None = None,
              visible_after_listings: int = 0) -> AuditRecord:
        n = self._written
        self._written += 1
        rec = AuditRecord(str(uuid.uuid5(_NAMESPACE, f"{self._seed}:{n}:{activity}")),
                          when or datetime.now(UTC), activity, category, service, operation,
                          initiator, targets, details, app, ip, result, reason, correlation)
        if visible_after_listings > 0:
            rec.hidden[0] = visible_after_listings + 1  # counted down as a listing starts
            self._pending.append(rec)
        if not self.records or self.records[-1].key <= rec.key:
            self.records.append(rec)
        else:
            bisect.insort(self.records, rec, key=lambda r: r.key)
        return rec

    def note_listing(self) -> None:
        """A listing (a request without `$skiptoken`) began: late records count down."""
        self.listings += 1
        for rec in self._pending:
            rec.hidden[0] -= 1
        self._pending = [r for r in self._pending if r.hidden[0] > 0]

    def release(self) -> int:
        """Every late record becomes visible now; returns how many were waiting."""
        waiting = len(self._pending)
        for rec in self._pending:
            rec.hidden[0] = 0
        self._pending = []
        return waiting

    def visible(self, oldest: datetime | None) -> list[AuditRecord]:
        """Listed records, oldest first: neither late nor older than the retention."""
        start = 0 if oldest is None else bisect.bisect_left(
            self.records, oldest, key=lambda r: r.when)
        return [r for r in self.records[start:] if r.hidden[0] <= 0]


# ---------------------------------------------------------------- a day of background activity

_HISTORY_ACTIVITIES: tuple[tuple[str, str, str, str], ...] = (
    # (activity, category, service, operation), weighted by repetition below
    ("Update user", "UserManagement", CORE_DIRECTORY, "Update"),
    ("Add member to group", "GroupManagement", CORE_DIRECTORY, "Assign"),
    ("Remove member from group", "GroupManagement", CORE_DIRECTORY, "Unassign"),
    ("Reset user password", "UserManagement", CORE_DIRECTORY, "Reset"),
    ("Change user password", "UserManagement", CORE_DIRECTORY, "Update"),
    ("User registered security info", "UserManagement", AUTH_METHODS_SERVICE, "Add"),
    ("Add member to role", "RoleManagement", CORE_DIRECTORY, "Assign"),
    ("Add app role assignment grant to user", "UserManagement", CORE_DIRECTORY, "Assign"),
    ("Update device", "Device", CORE_DIRECTORY, "Update"),
    ("Update policy", "Policy", CORE_DIRECTORY, "Update"),
)
_WEIGHTS = (30, 20, 8, 6, 6, 6, 2, 6, 10, 6)


def history(log: AuditLog, count: int, *, since: datetime, until: datetime, seed: int,
            users: Sequence[Target], groups: Sequence[Target], roles: Sequence[Target],
            admins: Sequence[Target], apps: Sequence[App], failure_rate: float = 0.02) -> int:
    """Write `count` background records spread over [since, until] (a benchmark's day of audit
    log): the tenant's own users, groups and roles as targets, admins or apps as initiators,
    about `failure_rate` of them failed. Nothing in the directory changes."""
    rng = random.Random(f"audit-history:{seed}")
    span = max((until - since).total_seconds(), 1.0)
    picks = rng.choices(range(len(_HISTORY_ACTIVITIES)), weights=_WEIGHTS, k=count)
    written = 0
    for n, pick in enumerate(picks):
        activity, category, service, operation = _HISTORY_ACTIVITIES[pick]
        when = since + timedelta(seconds=rng.random() * span)
        user = rng.choice(users) if users else None
        if user is None:
            break
        targets = _history_targets(rng, activity, user, groups, roles, apps)
        app = rng.choice(apps) if apps and rng.random() < 0.2 else None
        admin = None if app is not None or not admins else rng.choice(admins)
        if activity == "User registered security info":
            admin, app = user, None
        failed = rng.random() < failure_rate
        mfa = service == AUTH_METHODS_SERVICE
        reason = ("Directory quota exceeded" if failed else
                  security_info_reason("microsoftAuthenticatorPush", by_admin=False, added=True)
                  if mfa else "")
        log.write(activity, category, service, operation, admin, targets,
                  (("Method", "microsoftAuthenticatorPush"),) if mfa else (), when, app=app,
                  ip=f"203.0.113.{n % 250 + 1}" if admin is not None else None,
                  result="failure" if failed else "success", reason=reason)
        written += 1
    return written


def _history_targets(rng: random.Random, activity: str, user: Target, groups: Sequence[Target],
                     roles: Sequence[Target], apps: Sequence[App] = ()) -> tuple[Target, ...]:
    if activity.endswith("group") and groups:
        group = rng.choice(groups)
        adding = activity.startswith("Add")
        props = (Modified("Group.ObjectID", None if adding else group.id, group.id if adding else None),
                 Modified("Group.DisplayName", None if adding else group.display_name,
                          group.display_name if adding else None))
        return (Target(user.id, "User", user.display_name, user.user_principal_name, props), group)
    if activity == "Add member to role" and roles:
        role = rng.choice(roles)
        return (Target(user.id, "User", user.display_name, user.user_principal_name,
                       (Modified("Role.DisplayName", None, role.display_name),
                        Modified("Role.TemplateId", None, role.id))),)
    if activity == "Add app role assignment grant to user" and apps:
        app = rng.choice(apps)
        # As Graph logs it: the resource application as a target, the role and the user in
        # its modified properties, and the user as a target of its own.
        return (Target(user.id, "User", user.display_name, user.user_principal_name),
                Target(app.service_principal_id, "ServicePrincipal", app.display_name, None,
                       (Modified("AppRole.Id", None, "00000000-0000-0000-0000-000000000000"),
                        Modified("AppRole.Value", None, "User.Access"),
                        Modified("User.ObjectID", None, user.id),
                        Modified("User.UPN", None, user.user_principal_name))))
    if activity == "Update user":
        return (Target(user.id, "User", user.display_name, user.user_principal_name,
                       (Modified("JobTitle", ["Analyst"], ["Senior Analyst"]),
                        Modified("Included Updated Properties", None, "JobTitle"))),)
    if activity == "Update device":
        return (Target(str(uuid.uuid5(_NAMESPACE, f"device:{user.id}")), "Device",
                       f"PC-{user.id[:6]}"),)
    if activity == "Update policy":
        return (Target(str(uuid.uuid5(_NAMESPACE, "policy")), "Policy", "Default policy",
                       modified=(Modified("State", "enabled", "enabled"),)),)
    return (user,)
