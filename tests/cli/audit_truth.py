"""Compare emitted directory audit events with the simulated tenant's own audit records.

The expectation is derived from the simulator's record (`entrasim.audit.AuditRecord`) and the
issue's activity table written out here, independently of the mapping modules, so a wrong rule
in the mapping shows up as a mismatch rather than being copied into the test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.validation import EventValidator
from entrasim.audit import AuditRecord, Target

# The table, for every activity the simulated tenant writes: (class_uid, activity_id).
TABLE: dict[str, tuple[int, int]] = {
    "Add user": (3001, 1),
    "Enable account": (3001, 2),
    "Disable account": (3001, 5),
    "Change user password": (3001, 3),
    "Reset user password": (3001, 4),
    "Delete user": (3001, 6),
    "Hard Delete user": (3001, 6),
    "User registered security info": (3001, 10),
    "Admin registered security info": (3001, 10),
    "User deleted security info": (3001, 11),
    "Admin deleted security info": (3001, 11),
    "Update user": (3001, 99),
    "Add member to group": (3006, 3),  # 7 when the member is a group
    "Remove member from group": (3006, 4),  # 8 when the member is a group
    "Add group": (3006, 6),
    "Delete group": (3006, 5),
    "Add member to role": (3005, 1),
    "Remove member from role": (3005, 2),
    "Add eligible member to role": (3005, 1),
    "Remove eligible member from role": (3005, 2),
    "Add app role assignment to service principal": (3005, 1),
    "Remove app role assignment from service principal": (3005, 2),
    "Add app role assignment grant to user": (3005, 1),
    "Consent to application": (3005, 1),
}
STATUS = {"success": 1, "failure": 2}
_VALIDATOR = EventValidator()


def _ms(record: AuditRecord) -> int:
    return int(record.when.timestamp() * 1000)


def _prop(targets: Sequence[Target], name: str) -> Any:
    for target in targets:
        for change in target.modified:
            if change.name == name:
                return change.new if change.new is not None else change.old
    return None


def expected_class(record: AuditRecord) -> tuple[int, int | None]:
    """(class_uid, activity_id) the table gives; 3004 with Graph's operation otherwise."""
    if record.activity not in TABLE:
        return 3004, None
    class_uid, activity_id = TABLE[record.activity]
    if class_uid == 3006 and activity_id in (3, 4) and record.targets[0].type == "Group" \
            and len(record.targets) > 1:
        activity_id += 4  # Add / Remove Subgroup
    return class_uid, activity_id


def _principal(record: AuditRecord) -> str | None:
    users = [t for t in record.targets if t.type == "User"]
    if users:
        return users[0].id
    client = _prop(record.targets, "ServicePrincipal.ObjectID")
    if client is not None:
        return str(client)
    return record.initiator.id if record.initiator is not None else None


def audit_mismatches(event: Mapping[str, Any], record: AuditRecord) -> list[str]:
    """Every way `event` disagrees with the tenant's record it came from."""
    out: list[str] = []

    def check(name: str, got: Any, want: Any) -> None:
        if got != want:
            out.append(f"{record.id} ({record.activity}) {name}: got {got!r}, want {want!r}")

    class_uid, activity_id = expected_class(record)
    check("class_uid", event.get("class_uid"), class_uid)
    if activity_id is not None:
        check("activity_id", event.get("activity_id"), activity_id)
    check("time", event.get("time"), _ms(record))
    check("metadata.uid", event["metadata"].get("uid"), record.id)
    check("status_id", event.get("status_id"), STATUS[record.result])
    check("status_detail", event.get("status_detail"), record.reason or None)
    actor = event.get("actor") or {}
    if record.initiator is not None:
        check("actor.user.uid", (actor.get("user") or {}).get("uid"), record.initiator.id)
        check("src_endpoint.ip", (event.get("src_endpoint") or {}).get("ip"), record.ip)
    elif record.app is not None:
        check("actor.app_uid", actor.get("app_uid"), record.app.app_id)
        check("actor.user.uid", (actor.get("user") or {}).get("uid"),
              record.app.service_principal_id)
    first = record.targets[0].id if record.targets else None
    if class_uid == 3001:
        check("user.uid", (event.get("user") or {}).get("uid"), first)
    elif class_uid == 3006:
        groups = [t for t in record.targets if t.type == "Group"]
        check("group.uid", (event.get("group") or {}).get("uid"), groups[-1].id)
        if activity_id in (3, 4):
            check("user.uid", (event.get("user") or {}).get("uid"), first)
        elif activity_id in (7, 8):
            check("subgroup.uid", (event.get("subgroup") or {}).get("uid"), first)
    elif class_uid == 3005:
        check("user.uid", (event.get("user") or {}).get("uid"), _principal(record))
        role = _prop(record.targets, "Role.DisplayName")
        if role is not None:
            check("privileges", event.get("privileges"), [role])
    else:
        check("entity.uid", (event.get("entity") or {}).get("uid"), first)
    return out


def assert_audits_match(events: Iterable[Mapping[str, Any]],
                        records: Iterable[AuditRecord]) -> None:
    """Each record exactly once, each event valid against its class and equal to its record."""
    events = list(events)
    uids = Counter(e["metadata"]["uid"] for e in events)
    repeated = sorted(uid for uid, n in uids.items() if n > 1)
    assert not repeated, f"delivered more than once: {repeated[:5]}"
    by_id = {r.id: r for r in records}
    assert set(uids) == set(by_id), (
        f"missing {sorted(set(by_id) - set(uids))[:5]}, "
        f"unexpected {sorted(set(uids) - set(by_id))[:5]}")
    problems = [p for e in events for p in audit_mismatches(e, by_id[e["metadata"]["uid"]])]
    problems += [f"{e['metadata']['uid']}: {path}: {msg}" for e in events
                 for path, msg in _VALIDATOR.errors(e)]
    assert not problems, "\n".join(problems[:20])
