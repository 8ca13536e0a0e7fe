"""Tenant mutations that exist for the audit log: what an administrator, a user or an
application does that the simulated directory does not otherwise model (passwords, app role
grants, consents), plus nesting groups, and a day of background records for benchmarks.

A mixin of `entrasim.tenant.Tenant`, kept apart so the tenant module carries only small hooks
(`_audit`, `_audit_role`, the `audit_*` attributes). Each method writes the record Graph
writes for the activity (learn.microsoft.com "Microsoft Entra audit log categories and
activities"), with the modified properties Graph logs; see `entrasim.audit`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeGuard

from entrasim import audit as audit_log
from entrasim import catalog
from entrasim.audit import AuditLog, Modified, Target
from entrasim.changelog import ChangeLog

if TYPE_CHECKING:
    from entrasim.tenant import Group, RoleAssignment, ServicePrincipal, User


_GROUP_NAMESPACE = uuid.UUID("a0d17000-0000-4000-8000-0000000a0d1e")


class AuditedActivities:
    if TYPE_CHECKING:
        lock: threading.RLock
        audit: AuditLog
        service_principals: list[ServicePrincipal]
        assignments: list[RoleAssignment]
        groups_list: list[Group]
        _groups_by_id: dict[str, Group]
        _sorted: list[User]
        group_log: ChangeLog

        def _bump(self) -> int: ...

        def _require(self, user_id: str) -> User: ...

        def _member_change(self, group: Group, member: User | Group, added: bool) -> None: ...

        def _audit(self, activity: str, category: str, operation: str, user: User | None,
                   service: str = ..., initiator: User | None = None,
                   details: tuple[tuple[str, str], ...] = (), *,
                   modified: tuple[Modified, ...] = (), also: tuple[Target, ...] = (),
                   result: str = "success", reason: str = "") -> None: ...

    def add_group(self, name: str, *, kind: str = "security") -> Group:
        """A new, empty group: groups/delta reports it, the audit log says who added it."""
        from entrasim.tenant import Group, iso

        with self.lock:
            n = len(self.groups_list) + 1
            g = Group(str(uuid.uuid5(_GROUP_NAMESPACE, f"{n}:{name}:{time.time_ns()}")), name, kind,
                      iso(datetime.now(UTC)))
            self.groups_list.append(g)
            self._groups_by_id[g.id] = g
            self.group_log.record(self._bump(), g.id, ("props", frozenset({"displayName"})))
            self._audit("Add group", "GroupManagement", "Add", None, also=(
                audit_log.group_target(g, (Modified("DisplayName", None, [name]),)),))
            return g

    def add_group_to_group(self, child_id: str, parent_id: str) -> None:
        """Nest a group: groups/delta reports it in the parent's `members@delta`."""
        with self.lock:
            child, parent = self._groups_by_id[child_id], self._groups_by_id[parent_id]
            if child in parent.member_groups:
                return
            parent.member_groups.append(child)
            child.parents.append(parent)
            self._member_change(parent, child, True)
            self._audit("Add member to group", "GroupManagement", "Assign", None, also=(
                audit_log.group_target(child, audit_log.group_props(parent.id, parent.name, added=True)),
                audit_log.group_target(parent)))

    def remove_group_from_group(self, child_id: str, parent_id: str) -> None:
        with self.lock:
            child, parent = self._groups_by_id[child_id], self._groups_by_id[parent_id]
            if child not in parent.member_groups:
                return
            parent.member_groups.remove(child)
            child.parents.remove(parent)
            self._member_change(parent, child, False)
            self._audit("Remove member from group", "GroupManagement", "Unassign", None, also=(
                audit_log.group_target(child, audit_log.group_props(parent.id, parent.name, added=False)),
                audit_log.group_target(parent)))

    def reset_password(self, user_id: str, *, by_admin: bool = True, failed: str | None = None) -> None:
        """An administrator resets (or the user changes) the password; `failed`: the reason of
        a refused attempt (`result` failure). Passwords are not modelled: audit only."""
        with self.lock:
            u = self._require(user_id)
            self._audit("Reset user password" if by_admin else "Change user password", "UserManagement",
                        "Update", u, initiator=None if by_admin else u,
                        result="failure" if failed else "success", reason=failed or "")

    def grant_app_role(self, client_sp_id: str, resource_sp_id: str, value: str, *,
                       revoke: bool = False) -> None:
        """An app role of `resource` granted to (revoked from) the `client` application."""
        with self.lock:
            sps = {sp.id: sp for sp in self.service_principals}
            client, resource = sps[client_sp_id], sps[resource_sp_id]
            activity = ("Remove app role assignment from service principal" if revoke
                        else "Add app role assignment to service principal")
            self._audit(activity, "ApplicationManagement", "Unassign" if revoke else "Assign", None,
                        also=(Target(resource.id, "ServicePrincipal", resource.name, None,
                                     audit_log.app_role_props(value, client.id, client.name, revoke)),))

    def consent_to_application(self, user_id: str, sp_id: str, scopes: Iterable[str]) -> None:
        """The user consents to delegated `scopes` of the application (initiated by the user)."""
        with self.lock:
            u = self._require(user_id)
            sp = next(s for s in self.service_principals if s.id == sp_id)
            self._audit("Consent to application", "ApplicationManagement", "Assign", None, initiator=u,
                        also=(Target(sp.id, "ServicePrincipal", sp.name, None,
                                     audit_log.consent_props(u.id, scopes)),))

    def add_audit_history(self, count: int, *, since: datetime, until: datetime, seed: int = 0) -> int:
        """`count` background audit records over [since, until] (a benchmark's day)."""
        with self.lock:
            users = [Target(u.id, "User", u.display, u.upn) for u in self._sorted]
            admins = [Target(u.id, "User", u.display, u.upn)
                      for u in (a.principal for a in self.assignments) if _is_user(u)]
            roles = [Target(r.template_id, "Role", r.display_name) for r in catalog.ROLE_DEFINITIONS]
            apps = [audit_log.App(sp.app_id, sp.name, sp.id) for sp in self.service_principals]
            return audit_log.history(self.audit, count, since=since, until=until, seed=seed, users=users,
                                     groups=[audit_log.group_target(g) for g in self.groups_list],
                                     roles=roles, admins=admins, apps=apps)

    def release_audits(self) -> int:
        """Every late audit record becomes visible now; returns how many were waiting."""
        with self.lock:
            return self.audit.release()


def _is_user(principal: object) -> TypeGuard[User]:
    from entrasim.tenant import User

    return isinstance(principal, User)
