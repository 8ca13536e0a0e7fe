"""The directory audit log the simulated tenant writes as it is changed
(`/auditLogs/directoryAudits` serves it; see `directory_audits.py`).

Graph (learn.microsoft.com "directoryAudit resource type", "Microsoft Entra audit log
categories and activities"): one record per activity with `activityDateTime` (UTC, filterable
with eq/ge/le), `activityDisplayName` (eq/startswith), `category`, `loggedByService`,
`operationType`, `result`, `initiatedBy` and `targetResources`. Registering or deleting
security info (MFA methods) is logged by the "Authentication Methods" service in the
UserManagement category as "User registered security info" / "User deleted security info"
(self-service) or "Admin registered security info" / "Admin deleted security info".
ASSUMED (not documented field by field): the method's registration-report name travels in
`additionalDetails` as `{"key": "Method", "value": <name>}`; records are returned newest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from entrasim.odata import Prop

Json = dict[str, Any]

AUTH_METHODS_SERVICE = "Authentication Methods"
CORE_DIRECTORY = "Core Directory"
_NAMESPACE = uuid.UUID("a0d17000-0000-4000-8000-00000000a0d1")


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    type: str  # "User" | "Group" | "Role"
    display_name: str | None
    user_principal_name: str | None = None


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

    @property
    def stamp(self) -> str:
        return self.when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _target_json(t: Target) -> Json:
    return {"id": t.id, "displayName": t.display_name, "type": t.type,
            "userPrincipalName": t.user_principal_name, "groupType": None, "modifiedProperties": []}


def record_json(r: AuditRecord) -> Json:
    initiated: Json = {"app": None, "user": None}
    if r.initiator is not None:
        initiated["user"] = {"id": r.initiator.id, "displayName": r.initiator.display_name,
                             "userPrincipalName": r.initiator.user_principal_name,
                             "ipAddress": "", "userType": None, "homeTenantId": None, "homeTenantName": None}
    else:
        initiated["app"] = {"appId": None, "displayName": "Microsoft Entra ID", "servicePrincipalId": None,
                            "servicePrincipalName": None}
    return {
        "id": r.id,
        "category": r.category,
        "correlationId": str(uuid.uuid5(_NAMESPACE, "corr:" + r.id)),
        "result": "success",
        "resultReason": "",
        "activityDisplayName": r.activity,
        "activityDateTime": r.when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{r.when.microsecond:06d}0Z",
        "loggedByService": r.service,
        "operationType": r.operation,
        "initiatedBy": initiated,
        "targetResources": [_target_json(t) for t in r.targets],
        "additionalDetails": [{"key": k, "value": v} for k, v in r.details],
    }


AUDIT_FILTER: dict[str, Prop] = {
    "activityDateTime": Prop(lambda r: r.stamp, "datetime"),
    "activityDisplayName": Prop(lambda r: r.activity, "str"),
    "category": Prop(lambda r: r.category, "str"),
    "loggedByService": Prop(lambda r: r.service, "str"),
    "operationType": Prop(lambda r: r.operation, "str"),
    "id": Prop(lambda r: r.id, "str"),
}


class AuditLog:
    """Records in the order they were written (callers hold the tenant lock)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self.records: list[AuditRecord] = []

    def write(self, activity: str, category: str, service: str, operation: str,
              initiator: Target | None, targets: tuple[Target, ...],
              details: tuple[tuple[str, str], ...] = (), when: datetime | None = None) -> AuditRecord:
        n = len(self.records)
        rec = AuditRecord(str(uuid.uuid5(_NAMESPACE, f"{self._seed}:{n}:{activity}")),
                          when or datetime.now(UTC), activity, category, service, operation,
                          initiator, targets, details)
        self.records.append(rec)
        return rec
