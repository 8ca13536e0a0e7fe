"""A seeded batch of directory changes of every kind the connector must reflect, for tests and
the refresh benchmark ("100 mixed changes on a 100,000-user tenant").

A "late" new user is late directory replication: its `createdDateTime` is 2 hours older than
its appearance (a `createdDateTime` cursor with a shorter overlap misses it; `users/delta`
reports it), and it stays out of the next `late_listings` listings of `/users` (default 1, so
it arrives with the run after next); `late_listings=0` makes it visible at once, so one
refresh run can reflect a whole batch.

Kinds cycle in a fixed order, so any `n >= len(KINDS)` covers each at least once; targets are
drawn from `random.Random(seed)` over the tenant's current state, so one tenant plus one seed
gives one batch. Every change goes through the tenant's public mutations: delta logs, audit
records and ground truth move exactly as they would for a test's own mutation.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from entrasim import catalog

if TYPE_CHECKING:
    from entrasim.tenant import Group, Tenant, User

KINDS: tuple[str, ...] = (
    "profile", "disable", "group_add", "role_grant", "mfa_add", "soft_delete", "manager",
    "enable", "group_remove", "role_remove", "mfa_remove", "hard_delete", "risk",
    "role_via_group", "group_delete", "restore", "new_user", "new_user_late",
)

_NAMESPACE = uuid.UUID("3c4a9e5d-0000-4000-8000-0000000c4a9e")
_PROFILE_FIELDS = (
    "displayName", "jobTitle", "department", "userPrincipalName", "mail", "employeeId",
    "employeeType", "employeeHireDate", "employeeOrgData", "officeLocation", "companyName",
    "userType",
)


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # one of KINDS
    object_id: str  # the user changed (the group, for group_delete)
    detail: str  # what changed, for messages
    users: tuple[str, ...]  # ids of the users whose inventory facts changed


class _Batch:
    def __init__(self, tenant: Tenant, seed: int, late_listings: int) -> None:
        self.t = tenant
        self.late_listings = late_listings
        self.rng = random.Random(f"mixed:{seed}")
        self.seed = seed
        self.touched: set[str] = set()
        self.deleted_here: set[str] = set()

    def pick(self, users: list[User]) -> User:
        """A user not yet changed in this batch when there is one (so kinds don't cancel out)."""
        fresh = [u for u in users if u.id not in self.touched]
        u = self.rng.choice(fresh or users)
        self.touched.add(u.id)
        return u

    def members(self, **conditions: bool) -> list[User]:
        """Members (not guests) matching `conditions`, from a random sample of the tenant so a
        100,000-user tenant costs no more than a small one."""
        everyone = self.t.users()
        out = []
        for u in self.rng.sample(everyone, min(600, len(everyone))):
            if u.is_guest or u.deleted is not None:
                continue
            if "enabled" in conditions and u.enabled != conditions["enabled"]:
                continue
            out.append(u)
        return out

    def regular_groups(self) -> list[Group]:
        return [g for g in self.t.groups() if not g.role_assignable and g.name != "All Company"]

    def run(self, kind: str, i: int) -> Change:
        t, rng = self.t, self.rng
        if kind == "profile":
            u = self.pick(self.members())
            name = _PROFILE_FIELDS[(i // len(KINDS)) % len(_PROFILE_FIELDS)]
            value: object = {
                "displayName": f"{u.given or 'Renamed'} Changed{i}",
                "jobTitle": rng.choice(catalog.JOB_TITLES),
                "department": rng.choice(catalog.DEPARTMENTS),
                "userPrincipalName": f"changed{i}.{self.seed}.{u.upn}",
                "mail": f"changed{i}.{self.seed}@{u.upn.split('@', 1)[1]}",
                "employeeId": str(900000 + i),
                "employeeType": rng.choice(catalog.EMPLOYEE_TYPES),
                "employeeHireDate": datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i),
                "employeeOrgData": {"costCenter": f"CC-{i}", "division": "Changed"},
                "officeLocation": rng.choice(catalog.OFFICES),
                "companyName": rng.choice(catalog.COMPANIES),
                "userType": "Guest",
            }[name]
            t.update_user(u.id, **{name: value})
            return Change(kind, u.id, f"{name}={value}", (u.id,))
        if kind == "manager":
            u = self.pick(self.members())
            boss = rng.choice([m for m in self.members() if m is not u])
            t.set_manager(u.id, boss.id)
            return Change(kind, u.id, f"manager={boss.id}", (u.id,))
        if kind in ("disable", "enable"):
            pool = self.members(enabled=kind == "disable") or self.members()
            u = self.pick(pool)
            (t.enable_user if kind == "enable" else t.disable_user)(u.id)
            return Change(kind, u.id, kind + "d", (u.id,))
        if kind == "group_add":
            u = self.pick(self.members())
            g = rng.choice([g for g in self.regular_groups() if g not in u.groups])
            t.add_to_group(u.id, g.id)
            return Change(kind, u.id, f"+group {g.name}", (u.id,))
        if kind == "group_remove":
            u = self.pick([m for m in self.members() if any(not g.role_assignable for g in m.groups)])
            g = rng.choice([g for g in u.groups if not g.role_assignable])
            t.remove_from_group(u.id, g.id)
            return Change(kind, u.id, f"-group {g.name}", (u.id,))
        if kind == "group_delete":
            candidates = [g for g in self.regular_groups() if g.members and not g.member_groups and not g.parents]
            g = min(rng.sample(candidates, min(20, len(candidates))), key=lambda x: (len(x.members), x.id))
            users = tuple(u.id for u in g.members)
            t.delete_group(g.id)
            self.touched.update(users)
            return Change(kind, g.id, f"deleted group {g.name}", users)
        if kind == "role_grant":
            admins = t.admin_ids()
            u = self.pick([m for m in self.members(enabled=True) if m.id not in admins])
            role = rng.choice(("Global Administrator", "User Administrator", "Security Administrator"))
            t.assign_role(u.id, role)
            return Change(kind, u.id, f"+role {role}", (u.id,))
        if kind == "role_remove":
            first = t.users()[0]
            direct = [a for a in t.assignments if a.principal.__class__.__name__ == "User"
                      and a.principal.id not in self.touched and a.principal is not first]
            a = rng.choice(direct)
            self.touched.add(a.principal.id)
            t.remove_role(a.principal.id, a.role.display_name)
            return Change(kind, a.principal.id, f"-role {a.role.display_name}", (a.principal.id,))
        if kind == "role_via_group":
            g = next(g for g in t.groups() if g.role_assignable)
            u = self.pick([m for m in self.members(enabled=True) if g not in m.groups])
            t.add_to_group(u.id, g.id)
            return Change(kind, u.id, f"+group {g.name} (role-assignable)", (u.id,))
        if kind == "mfa_add":
            u = self.pick([m for m in self.members() if "fido2SecurityKey" not in m.method_names()])
            t.register_method(u.id, "fido2SecurityKey")
            return Change(kind, u.id, "+fido2SecurityKey", (u.id,))
        if kind == "mfa_remove":
            u = self.pick([m for m in self.members() if m.methods & catalog.STRONG_MASK])
            method = next(n for n in u.method_names() if n in catalog.STRONG_METHODS)
            t.remove_method(u.id, method, by_admin=True)
            return Change(kind, u.id, f"-{method}", (u.id,))
        if kind == "risk":
            u = self.pick(self.members())
            t.set_risk(u.id, "high")
            return Change(kind, u.id, "risk=high", (u.id,))
        if kind in ("soft_delete", "hard_delete"):
            u = self.pick(self.members())
            t.delete_user(u.id, permanent=kind == "hard_delete")
            self.deleted_here.add(u.id)
            return Change(kind, u.id, kind.replace("_", " "), (u.id,))
        if kind == "restore":
            waiting = [u for u in t.deleted_users() if u.id not in self.deleted_here]
            if not waiting:
                victim = self.pick(self.members())
                t.delete_user(victim.id)
                waiting = [victim]
            u = rng.choice(waiting)
            self.touched.add(u.id)
            t.restore_user(u.id)
            return Change(kind, u.id, "restored", (u.id,))
        late = kind == "new_user_late"
        uid = str(uuid.uuid5(_NAMESPACE, f"{t.spec.seed}:{self.seed}:{i}:{len(t.users())}"))
        u = t.add_user(display_name=f"Mixed Newcomer {self.seed}-{i}", user_id=uid,
                       visible_after_listings=self.late_listings if late else 0,
                       created=datetime.now(UTC) - timedelta(hours=2) if late else None)
        self.touched.add(u.id)
        return Change(kind, u.id, "late new user" if late else "new user", (u.id,))


def apply_mixed_changes(tenant: Tenant, n: int, seed: int, late_listings: int = 1) -> list[Change]:
    batch = _Batch(tenant, seed, late_listings)
    return [batch.run(KINDS[i % len(KINDS)], i) for i in range(n)]
