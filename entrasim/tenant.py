"""The simulated directory: a tenant generated from a `TenantSpec`, its mutations, and the
ground truth tests compare the connector's output with.

Records are compact (`__slots__` classes holding pooled strings and a bitmask of MFA methods,
about 1 kB per user with its memberships) so a 100,000-user tenant generates in about two
seconds; Graph JSON is built from them per page, only for what a request selects.

Users are kept sorted by id, which is the order Graph's directory listings follow, so a user
created today can land on the first page as well as the last, as in a real tenant.

Public API of `Tenant` (thread-safe; a user may be named by id or by UPN):
- queries: `user(id_or_upn)`, `users()`, `group(id)`, `groups()`, `expected(user_id)`,
  `truth()` (`ExpectedUser` per live user), `role_members(role_name)`
- mutations: `add_user(...)`, `update_user(id, **graph_properties)`, `set_manager`,
  `disable_user`, `enable_user`, `delete_user` (soft, or `permanent=True`), `restore_user`,
  `purge_expired_deleted`, `assign_role`, `remove_role`, `add_to_group`, `remove_from_group`,
  `delete_group`, `set_mfa(user_id, methods)`, `register_method`, `remove_method`,
  `set_risk`, `set_sign_in(user_id, when)`, `sign_in_many`, `apply_mixed_changes(n, seed)`,
  `expire_delta_tokens(answer=)`; `truth(include_deleted=True)` / `deleted_truth()`.

Change tracking follows Graph's documented behaviour (learn.microsoft.com "Use delta query to
track changes", "user: delta", "Get incremental changes for groups", "List deletedItems"):
- `users/delta` reports changes to a user's own properties (and `manager` when selected), soft
  deletion (`@removed` reason `changed`), hard deletion (`deleted`) and restoration; it does
  NOT report group membership, roles, authentication methods, risk or `signInActivity`.
  Every such change is logged in `user_log` with the Graph property names it touched, so a
  delta round with `$select` skips changes to properties it does not track, as Graph does.
- `groups/delta` reports member additions/removals (a deleted user leaves its groups) and
  group deletion, from `group_log`.
- MFA registration changes write directory audit records (`audit`), risk changes stamp
  `riskLastUpdatedDateTime`, sign-ins move `signInActivity` only.
- A soft-deleted user stays in deleted items for 30 days (`purge_expired_deleted`), and
  leaves its groups and roles. ASSUMED: restoring brings back its group memberships (the ones
  whose groups still exist) but not its role assignments.
"""

from __future__ import annotations

import base64
import bisect
import gc
import itertools
import random
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from entrasim import audit as audit_log
from entrasim import catalog
from entrasim.audit import AUTH_METHODS_SERVICE, CORE_DIRECTORY, AuditLog, Modified, Target
from entrasim.audit_activities import AuditedActivities
from entrasim.changelog import ChangeLog
from entrasim.devices import LazyDevices
from entrasim.sign_ins import EVENT_TYPES, Actor, SignInLog
from entrasim.spec import TenantSpec
from entrasim.workloads import LazyWorkloads

if TYPE_CHECKING:
    from entrasim.mixed_changes import Change

_ID_NAMESPACE = uuid.UUID("5c1a7a1e-0000-4000-8000-00000000e17a")


def iso(moment: datetime) -> str:
    """Graph's timestamp form: UTC, seconds, `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class User:
    """One directory user. Strings from the catalogue are shared, timestamps are ISO strings
    (bulk-imported users share one), MFA methods are a bitmask of `catalog.METHOD_BIT`."""

    __slots__ = (
        "company", "created", "deleted", "department", "display", "employee_id",
        "employee_type", "enabled", "given", "groups", "hidden_listings", "hire_date", "id",
        "is_guest", "job_title", "last_non_interactive", "last_sign_in", "last_success", "mail",
        "mail_nickname", "manager", "methods", "mfa_updated", "office", "on_prem", "org",
        "risk", "saved_groups", "surname", "upn", "version", "visible_at",
    )

    def __init__(self, id: str, upn: str) -> None:
        self.id = id
        self.upn = upn
        self.display: str | None = None
        self.given: str | None = None
        self.surname: str | None = None
        self.mail: str | None = None
        self.mail_nickname: str = upn.split("@", 1)[0]
        self.is_guest = False
        self.enabled = True
        self.created = ""
        self.company: str | None = None
        self.department: str | None = None
        self.job_title: str | None = None
        self.office: str | None = None
        self.employee_id: str | None = None
        self.employee_type: str | None = None
        self.on_prem: bool | None = None
        self.last_sign_in: str | None = None
        self.last_success: str | None = None
        self.last_non_interactive: str | None = None
        self.manager: User | None = None
        self.methods = 0
        self.groups: list[Group] = []
        self.deleted: str | None = None
        self.version = 0
        self.visible_at = 0.0
        self.hidden_listings = 0
        self.risk: tuple[str, str, str] | None = None
        self.hire_date: str | None = None
        self.org: dict[str, str | None] | bool | None = True  # True: derived from department
        self.mfa_updated: str | None = None
        self.saved_groups: list[Group] = []

    def __repr__(self) -> str:
        return f"User({self.id}, {self.upn})"

    @property
    def user_type(self) -> str:
        return "Guest" if self.is_guest else "Member"

    def reported_risk(self) -> tuple[str, str] | None:
        """(riskLevel, riskState) as riskyUsers reports them: closed risk has level "none"."""
        if self.risk is None:
            return None
        level, state, _ = self.risk
        return ("none" if state in ("remediated", "dismissed") else level), state

    def method_names(self) -> tuple[str, ...]:
        return tuple(n for n in catalog.METHOD_NAMES if self.methods & catalog.METHOD_BIT[n])

    def visible(self, now: float) -> bool:
        return self.deleted is None and self.visible_at <= now and self.hidden_listings <= 0


def employee_org_data(u: User) -> dict[str, str | None] | None:
    """Set explicitly (`update_user(employeeOrgData=...)`), else derived from the department."""
    if not isinstance(u.org, bool):
        return u.org
    if u.is_guest or u.department is None:
        return None
    return {"costCenter": f"CC-{sum(map(ord, u.department)) % 90 + 10}", "division": None}


class Group:
    __slots__ = (
        "created", "deleted", "description", "id", "kind", "mail", "member_groups", "members",
        "name", "parents", "role_assignable",
    )

    def __init__(self, id: str, name: str, kind: str, created: str) -> None:
        self.id = id
        self.name = name
        self.kind = kind  # "security" | "m365" | "mailSecurity" | "distribution"
        self.created = created
        self.role_assignable = False
        self.description: str | None = None
        self.mail: str | None = None
        self.members: list[User] = []
        self.member_groups: list[Group] = []
        self.parents: list[Group] = []
        self.deleted: str | None = None

    def __repr__(self) -> str:
        return f"Group({self.id}, {self.name})"


class ServicePrincipal:
    __slots__ = ("app_id", "id", "name")

    def __init__(self, id: str, app_id: str, name: str) -> None:
        self.id, self.app_id, self.name = id, app_id, name


Principal = User | Group | ServicePrincipal


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    id: str
    role: catalog.RoleDefinition
    principal: Principal


@dataclass(frozen=True, slots=True)
class ExpectedUser:
    """What a correct connector reports for one user.

    `roles` holds every directory role assigned to the user directly or through a
    role-assignable group (the default "User"/"Guest User" roles are never assigned, so every
    name here is an administrative role). `mfa_methods` are the registration report's names;
    `strong_mfa_methods` the subset that counts as MFA (Authenticator, FIDO2/passkeys, Windows
    Hello, OATH, phone); email, password and Temporary Access Pass do not.
    `last_sign_in` is `signInActivity.lastSignInDateTime`. `risk_level` / `risk_state` are what
    `/identityProtection/riskyUsers` reports (`"none"` / None for a user it does not list).
    """

    id: str
    upn: str
    display_name: str | None
    mail: str | None
    enabled: bool
    is_guest: bool
    created: datetime
    groups: frozenset[tuple[str, str]]
    roles: frozenset[str]
    mfa_methods: frozenset[str]
    strong_mfa_methods: frozenset[str]
    has_strong_mfa: bool
    last_sign_in: datetime | None
    last_successful_sign_in: datetime | None
    last_non_interactive_sign_in: datetime | None
    manager_id: str | None
    risk_level: str = "none"
    risk_state: str | None = None
    given_name: str | None = None
    surname: str | None = None
    user_type: str = "Member"
    department: str | None = None
    job_title: str | None = None
    company_name: str | None = None
    office_location: str | None = None
    employee_id: str | None = None
    employee_type: str | None = None
    employee_hire_date: datetime | None = None
    employee_org_data: dict[str, str | None] | None = None
    deleted: str | None = None  # "soft" (in deleted items) | "hard" (purged) | None
    deleted_at: datetime | None = None


class Tenant(AuditedActivities):
    """The generated directory plus the mutations tests apply between connector runs."""

    devices = LazyDevices()  # entrasim.devices: Entra devices and their Intune records
    workloads = LazyWorkloads()  # entrasim.workloads: apps, service principals, grants, rosters

    def __init__(self, spec: TenantSpec) -> None:
        self.spec = spec
        self.lock = threading.RLock()
        self._seq = itertools.count(1)
        self._sorted: list[User] = []
        self._ids: list[str] = []
        self._by_id: dict[str, User] = {}
        self._by_upn: dict[str, User] = {}
        self._deleted: dict[str, User] = {}
        self._purged: dict[str, int] = {}
        self._pending: list[User] = []
        self.groups_list: list[Group] = []
        self._groups_by_id: dict[str, Group] = {}
        self.service_principals: list[ServicePrincipal] = []
        self.assignments: list[RoleAssignment] = []
        self.directory_role_ids: dict[str, str] = {}
        self.change_seq = 0
        self.delta_floor = 0
        self.listings = 0
        self.delta_epoch = 0  # bumped by expire_delta_tokens; tokens of an older epoch are refused
        self.delta_reset_answer = "expired"  # or "reset": see expire_delta_tokens
        self.delta_replays = False
        # Gaps Graph is reported to have; off by default, tests switch them on (the connector
        # must survive them). `risky_filter_refused`: riskyUsers answers 400 to `$filter` on
        # riskLastUpdatedDateTime, which is not among the filters learn.microsoft.com/graph/api/
        # riskyuser-list documents (its examples filter riskLevel). `manager_delta_omitted`:
        # users/delta never carries `manager@delta` and a manager-only change does not bring
        # the user back (microsoft-graph-docs #15842, graph-explorer-v4 #4018; the stricter
        # reading of those reports).
        self.risky_filter_refused = False
        self.manager_delta_omitted = False
        self.user_log = ChangeLog()
        self.group_log = ChangeLog()
        self.audit = AuditLog(spec.seed)
        self.audit_on = False  # generation writes no audit records; mutations afterwards do
        self.audit_app: audit_log.App | None = None  # set: mutations are initiated by this app
        self.audit_lag_listings = 0  # set: mutation records stay out of the next N listings
        self.eligible: list[RoleAssignment] = []  # PIM eligible assignments (not active)
        self._purged_users: dict[str, User] = {}
        self._deleted_groups: dict[str, Group] = {}
        self._lagging: list[User] = []
        self._rng = random.Random(f"tenant:{spec.seed}")
        # The collector would re-scan every record on each full pass, during generation and
        # later while pages are built; the records live as long as the tenant, so skip that.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            _Generator(self, self._rng).run()
            self.device_owners = list(self._sorted)  # devices are generated on first use
        finally:
            if was_enabled:
                gc.enable()
        gc.freeze()
        self.audit_on = True
        self.change_seq = next(self._seq)
        self.sign_in_log = self._new_sign_in_log()

    # ---- lookups -----------------------------------------------------------------
    def user(self, key: str) -> User | None:
        with self.lock:
            return self._by_id.get(key) or self._by_upn.get(key.lower())

    def users(self) -> list[User]:
        """Live (not deleted) users in listing order, including not-yet-replicated ones."""
        with self.lock:
            return list(self._sorted)

    def users_from(self, after_id: str | None) -> Iterator[User]:
        """Live users with an id greater than `after_id`, in listing order (hold `lock`)."""
        start = 0 if after_id is None else bisect.bisect_right(self._ids, after_id)
        sorted_users = self._sorted
        for i in range(start, len(sorted_users)):
            yield sorted_users[i]

    def group(self, key: str) -> Group | None:
        return self._groups_by_id.get(key)

    def groups(self) -> list[Group]:
        return list(self.groups_list)

    def role_members(self, role_name: str) -> list[Principal]:
        return [a.principal for a in self.assignments if a.role.display_name == role_name]

    def roles_of(self, user: User) -> frozenset[str]:
        with self.lock:
            names = set()
            for a in self.assignments:
                p = a.principal
                if p is user or (isinstance(p, Group) and user in p.members):
                    names.add(a.role.display_name)
            return frozenset(names)

    def admin_ids(self) -> set[str]:
        with self.lock:
            ids: set[str] = set()
            for a in self.assignments:
                if isinstance(a.principal, User):
                    ids.add(a.principal.id)
                elif isinstance(a.principal, Group):
                    ids.update(m.id for m in a.principal.members)
            return ids

    def expected(self, user_id: str) -> ExpectedUser:
        """Ground truth for a live user (KeyError otherwise; see `truth(include_deleted=True)`)."""
        with self.lock:
            u = self._by_id.get(user_id)
            if u is None:
                raise KeyError(user_id)
            return self._expected(u, None, self.roles_of(u))

    def _role_map(self) -> dict[str, set[str]]:
        """Role names per user id, direct or through groups, in one pass over assignments."""
        out: dict[str, set[str]] = {}
        for a in self.assignments:
            p = a.principal
            holders = [p] if isinstance(p, User) else p.members if isinstance(p, Group) else []
            for u in holders:
                out.setdefault(u.id, set()).add(a.role.display_name)
        return out

    def _expected(self, u: User, deleted: str | None, roles: Iterable[str] = ()) -> ExpectedUser:
        methods = frozenset(u.method_names())
        strong = methods & catalog.STRONG_METHODS
        risk = u.reported_risk()
        org = employee_org_data(u)
        return ExpectedUser(
            id=u.id, upn=u.upn, display_name=u.display, mail=u.mail, enabled=u.enabled,
            is_guest=u.is_guest, created=parse_iso(u.created),
            groups=frozenset((g.id, g.name) for g in u.groups),
            roles=frozenset(roles), mfa_methods=methods, strong_mfa_methods=strong,
            has_strong_mfa=bool(strong),
            last_sign_in=parse_iso(u.last_sign_in) if u.last_sign_in else None,
            last_successful_sign_in=parse_iso(u.last_success) if u.last_success else None,
            last_non_interactive_sign_in=(
                parse_iso(u.last_non_interactive) if u.last_non_interactive else None
            ),
            manager_id=u.manager.id if u.manager and u.manager.deleted is None else None,
            risk_level=risk[0] if risk else "none", risk_state=risk[1] if risk else None,
            given_name=u.given, surname=u.surname, user_type=u.user_type,
            department=u.department, job_title=u.job_title, company_name=u.company,
            office_location=u.office, employee_id=u.employee_id, employee_type=u.employee_type,
            employee_hire_date=parse_iso(u.hire_date) if u.hire_date else None,
            employee_org_data=dict(org) if org is not None else None,
            deleted=deleted, deleted_at=parse_iso(u.deleted) if deleted and u.deleted else None,
        )

    def truth(self, *, include_deleted: bool = False) -> dict[str, ExpectedUser]:
        """`ExpectedUser` per live user; with `include_deleted`, soft- and hard-deleted users
        too (their `deleted` is "soft" / "hard"; a deleted user holds no groups or roles)."""
        with self.lock:
            roles = self._role_map()
            out = {u.id: self._expected(u, None, roles.get(u.id, ())) for u in self._sorted}
            if include_deleted:
                out.update(self.deleted_truth())
            return out

    def deleted_truth(self) -> dict[str, ExpectedUser]:
        with self.lock:
            out = {u.id: self._expected(u, "soft") for u in self._deleted.values()}
            out.update((u.id, self._expected(u, "hard")) for u in self._purged_users.values())
            return out

    def deleted_users(self) -> list[User]:
        """Soft-deleted users (the directory's deleted items), in id order."""
        with self.lock:
            return sorted(self._deleted.values(), key=lambda u: u.id)

    def deleted_user(self, user_id: str) -> User | None:
        return self._deleted.get(user_id)

    def deleted_groups(self) -> list[Group]:
        with self.lock:
            return sorted((g for g in self._deleted_groups.values() if g.kind == "m365"), key=lambda g: g.id)

    def was_purged(self, object_id: str) -> bool:
        return object_id in self._purged or object_id in self._purged_users

    def invisible_ids(self) -> set[str]:
        """Live users not yet replicated (see `add_user`): a delta round leaves them out and
        carries them to the next round, so they are reported once visible."""
        now = time.monotonic()
        with self.lock:
            self._lagging = [u for u in self._lagging if u.deleted is None and not u.visible(now)]
            return {u.id for u in self._lagging}

    # ---- sign-in logs (entrasim.sign_ins) ---------------------------------------------
    def _new_sign_in_log(self) -> SignInLog:
        log = SignInLog(self.spec, self._sorted)
        log.device_of = lambda user_id: self.devices.sign_in_device(user_id)
        principals = [(sp.id, sp.app_id, sp.name) for sp in self.service_principals]
        connector = str(uuid.uuid5(_ID_NAMESPACE, f"{self.spec.seed}:sp:{self.spec.client_id}"))
        log.set_service_principals([*principals, (connector, self.spec.client_id, "OCSF connector")])
        return log

    def sign_in_now(self) -> datetime:
        """The sign-in log's clock (the wall clock unless `TenantSpec.sign_ins_until` was set)."""
        return self.sign_in_log.now()

    def sign_ins(self, since: datetime | None = None, until: datetime | None = None, *,
                 event_types: Iterable[str] = ("interactiveUser",), visible_only: bool = True,
                 version: str = "v1.0") -> list[dict[str, Any]]:
        """Ground truth: the Graph JSON a complete listing returns (no `$select`), newest
        first, within retention; `since` and `until` inclusive."""
        kinds = [EVENT_TYPES.index(t) for t in event_types]
        return [self.sign_in_log.render(r, version) for r in self.sign_in_log.walk(
            kinds, lo=since.timestamp() if since else None, hi=until.timestamp() if until else None,
            visible_only=visible_only)]

    def sign_in(self, sign_in_id: str, version: str = "v1.0") -> dict[str, Any] | None:
        rec = self.sign_in_log.find(sign_in_id)
        return None if rec is None else self.sign_in_log.render(rec, version)

    def add_sign_in(self, user_id: str | None = None, *, created: datetime | None = None,
                    event_type: str = "interactiveUser", error_code: int | None = None,
                    visible_after_seconds: float = 0.0, visible_after_listings: int = 0,
                    **fields: Any) -> dict[str, Any]:
        """One sign-in, realistic from the seed; `fields` override Graph properties. Late
        arrival: hidden for `visible_after_seconds`, and from the next `visible_after_listings`
        listings of the sign-in log. Returns its JSON (v1.0 shape when interactive, else beta)."""
        kind = EVENT_TYPES.index(event_type)
        actor = None
        if user_id is not None:
            u = self.user(user_id) or self._deleted.get(user_id)
            if u is not None:
                if kind > 1:
                    raise ValueError(f"a {event_type} sign-in is not a user's")
                actor = Actor(u.id, u.upn, u.display, u.is_guest, u.enabled)
            else:
                sp = next((s for s in self.service_principals if user_id in (s.id, s.app_id)), None)
                if sp is None:
                    raise KeyError(user_id)
                actor = Actor(sp.id, sp.app_id, sp.name, False, True)
        rec = self.sign_in_log.add(actor, created=created, kind=kind, error_code=error_code,
                                   visible_after_seconds=visible_after_seconds,
                                   visible_after_listings=visible_after_listings, fields=fields)
        return self.sign_in_log.render(rec, "v1.0" if kind == 0 else "beta")

    def add_sign_ins(self, count: int, *, since: datetime, until: datetime | None = None,
                     user_ids: Iterable[str] | None = None, event_type: str = "interactiveUser",
                     visible_after_seconds: float = 0.0, visible_after_listings: int = 0) -> list[dict[str, Any]]:
        """`count` sign-ins spread evenly over [since, until or now] (users drawn from
        `user_ids`, or the tenant's), each late like `add_sign_in`."""
        end = until or self.sign_in_now()
        ids = list(user_ids) if user_ids is not None else [None]
        span = (end - since).total_seconds()
        return [self.add_sign_in(ids[i % len(ids)], event_type=event_type,
                                 created=since + timedelta(seconds=span * (i + 0.5) / max(count, 1)),
                                 visible_after_seconds=visible_after_seconds,
                                 visible_after_listings=visible_after_listings)
                for i in range(count)]

    def release_sign_ins(self) -> int:
        """Late sign-ins still hidden become visible now; returns how many."""
        return self.sign_in_log.release()

    # ---- mutations ---------------------------------------------------------------
    def _bump(self) -> int:
        """Every mutation takes the next sequence number (cache keys, delta horizons)."""
        self.change_seq = next(self._seq)
        return self.change_seq

    def _touch(self, user: User, props: Iterable[str] = ("*",)) -> None:
        """A change `users/delta` reports: logged with the Graph properties it touched."""
        user.version = self._bump()
        self.user_log.record(user.version, user.id, frozenset(props))

    def _member_change(self, group: Group, member: User | Group, added: bool) -> None:
        kind = "user" if isinstance(member, User) else "group"
        self.group_log.record(self._bump(), group.id, ("member", member.id, kind, added))

    def _require(self, user_id: str) -> User:
        u = self.user(user_id)
        if u is None:
            raise KeyError(user_id)
        return u

    def _insert(self, user: User) -> None:
        i = bisect.bisect_left(self._ids, user.id)
        self._ids.insert(i, user.id)
        self._sorted.insert(i, user)
        self._by_id[user.id] = user
        self._by_upn[user.upn.lower()] = user

    def _remove(self, user: User) -> None:
        i = bisect.bisect_left(self._ids, user.id)
        del self._ids[i]
        del self._sorted[i]
        del self._by_id[user.id]
        self._by_upn.pop(user.upn.lower(), None)

    def add_user(
        self, *, display_name: str | None = None, upn: str | None = None,
        created: datetime | None = None, guest: bool = False, enabled: bool = True,
        methods: Iterable[str] = (), visible_after_seconds: float = 0.0,
        visible_after_listings: int = 0, user_id: str | None = None,
    ) -> User:
        """A new user; `created` may be older than existing users (late replication).

        Directory replication lag: the user stays out of listings (and `GET /users/{id}`)
        for `visible_after_seconds`, and out of the next `visible_after_listings` listings of
        `/users` (a listing starts with a request that has no `$skiptoken`), so 1 hides it
        from exactly one listing."""
        with self.lock:
            n = len(self._by_id) + len(self._deleted) + len(self._purged_users) + 1
            uid = user_id or str(uuid.uuid5(_ID_NAMESPACE, f"{self.spec.seed}:added:{n}:{time.time_ns()}"))
            name = display_name or f"New User {n}"
            if upn is None:
                local = "".join(c for c in name.lower().replace(" ", ".") if c.isascii() and (c.isalnum() or c == "."))
                upn = (f"{local}{n}_fabrikam.com#EXT#@{self.spec.domain}" if guest
                       else f"{local}{n}@{self.spec.custom_domains[0] if self.spec.custom_domains else self.spec.domain}")
            u = User(uid, upn)
            u.display = name
            parts = name.split(" ", 1)
            u.given = parts[0]
            u.surname = parts[1] if len(parts) > 1 else None
            u.is_guest = guest
            u.mail = (upn.split("#EXT#")[0].replace("_", "@", 1) if guest else upn)
            u.enabled = enabled
            u.created = iso(created or datetime.now(UTC))
            u.methods = _mask(methods)
            u.visible_at = time.monotonic() + visible_after_seconds
            if visible_after_listings > 0:
                # counted down when a listing starts, so it stays hidden during N whole listings
                u.hidden_listings = visible_after_listings + 1
                self._pending.append(u)
            self._insert(u)
            self._touch(u)
            if visible_after_seconds > 0 or visible_after_listings > 0:
                self._lagging.append(u)
            self._audit("Add user", "UserManagement", "Add", u)
            return u

    def _audit(self, activity: str, category: str, operation: str, user: User | None,
               service: str = CORE_DIRECTORY, initiator: User | None = None,
               details: tuple[tuple[str, str], ...] = (), *, modified: tuple[Modified, ...] = (),
               also: tuple[Target, ...] = (), result: str = "success", reason: str = "") -> None:
        """One audit record: `user` (with `modified`) then `also` as targets; initiated by
        `initiator`, else the acting app (`audit_app`), else an administrator of the tenant."""
        if not self.audit_on:
            return
        app = self.audit_app if initiator is None else None
        if initiator is None and app is None:
            initiator = self._an_admin()
        targets = ((Target(user.id, "User", user.display, user.upn, modified),)
                   if user is not None else ()) + also
        self.audit.write(activity, category, service, operation,
                         Target(initiator.id, "User", initiator.display, initiator.upn)
                         if initiator is not None else None, targets, details, app=app,
                         ip=audit_log.initiator_ip(initiator.id) if initiator is not None else None,
                         result=result, reason=reason,
                         visible_after_listings=self.audit_lag_listings)

    def update_user(self, user_id: str, **props: object) -> None:
        """Change profile or account properties, named as Graph names them (`displayName`,
        `userPrincipalName`, `mail`, `department`, `jobTitle`, `employeeId`, `employeeType`,
        `employeeHireDate` (ISO text or datetime), `employeeOrgData` (dict or None),
        `userType` ("Member"/"Guest"), `officeLocation`, `companyName`, `accountEnabled`...)."""
        with self.lock:
            u = self._require(user_id)
            changed: list[str] = []
            modified: list[Modified] = []
            for name, value in props.items():
                if name not in _PROFILE_ATTRS:
                    raise ValueError(f"not a modelled user property: {name}")
                attr, also = _PROFILE_ATTRS[name]
                if name == "userType":
                    if value not in ("Member", "Guest"):
                        raise ValueError("userType is Member or Guest")
                    value = value == "Guest"
                elif name == "employeeHireDate" and isinstance(value, datetime):
                    value = iso(value)
                elif name == "employeeOrgData" and value is not None:
                    if not isinstance(value, dict):
                        raise ValueError("employeeOrgData is a dict with costCenter and division")
                    value = {"costCenter": value.get("costCenter"), "division": value.get("division")}
                elif name == "userPrincipalName":
                    if not isinstance(value, str) or "@" not in value:
                        raise ValueError("userPrincipalName needs an @")
                    self._by_upn.pop(u.upn.lower(), None)
                    self._by_upn[value.lower()] = u
                modified.append(audit_log.user_property(name, getattr(u, attr), value))
                setattr(u, attr, value)
                changed += (name, *also)
            if not changed:
                return
            self._touch(u, changed)
            if "accountEnabled" in props and len(props) == 1:
                self._audit("Disable account" if not u.enabled else "Enable account", "UserManagement", "Update", u,
                            modified=tuple(modified))
            else:
                self._audit("Update user", "UserManagement", "Update", u,
                            modified=audit_log.with_included(modified))

    def set_profile(self, user_id: str, **props: object) -> None:
        """Same as `update_user`."""
        self.update_user(user_id, **props)

    def set_manager(self, user_id: str, manager_id: str | None) -> None:
        """Graph tracks `manager` in users/delta only when the round selected it; the previous
        manager is remembered so a removal can be reported as such."""
        with self.lock:
            u = self._require(user_id)
            before = u.manager.id if u.manager is not None else None
            u.manager = self._require(manager_id) if manager_id is not None else None
            self._touch(u, ("manager", *((f"manager-was:{before}",) if before else ())))
            self._audit("Set manager" if manager_id else "Remove manager", "UserManagement", "Update", u)

    def disable_user(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=False)

    def enable_user(self, user_id: str) -> None:
        self.update_user(user_id, accountEnabled=True)

    def set_sign_in(self, user_id: str, when: datetime | None) -> None:
        """Moves `signInActivity` only (Graph's delta does not track it)."""
        with self.lock:
            u = self._require(user_id)
            u.last_sign_in = u.last_success = iso(when) if when else None
            self._bump()

    def set_sign_ins(self, user_ids: Iterable[str], when: datetime | None = None) -> None:
        """Bulk `set_sign_in` (fast enough for tens of thousands of users)."""
        stamp = iso(when or datetime.now(UTC))
        with self.lock:
            for uid in user_ids:
                u = self._require(uid)
                u.last_sign_in = u.last_success = stamp
            self._bump()

    def sign_in_many(self, n: int, seed: int, when: datetime | None = None) -> list[str]:
        """`n` live users (drawn from `seed`) sign in at `when` (default now): their ids."""
        stamp = iso(when or datetime.now(UTC))
        with self.lock:
            chosen = random.Random(f"sign-ins:{seed}").sample(self._sorted, min(n, len(self._sorted)))
            for u in chosen:
                u.last_sign_in = u.last_success = stamp
            self._bump()
            return [u.id for u in chosen]

    def set_mfa(self, user_id: str, methods: Iterable[str], *, by_admin: bool = False) -> None:
        """Replace the registered methods; each added or removed method writes its audit record."""
        with self.lock:
            u = self._require(user_id)
            wanted = _mask(methods)
            for name in catalog.METHOD_NAMES:
                bit = catalog.METHOD_BIT[name]
                if wanted & bit and not u.methods & bit:
                    self.register_method(u.id, name, by_admin=by_admin)
                elif u.methods & bit and not wanted & bit:
                    self.remove_method(u.id, name, by_admin=by_admin)

    def register_method(self, user_id: str, method: str, *, by_admin: bool = False) -> None:
        self._method(user_id, method, True, by_admin)

    def remove_method(self, user_id: str, method: str, *, by_admin: bool = False) -> None:
        self._method(user_id, method, False, by_admin)

    def _method(self, user_id: str, method: str, add: bool, by_admin: bool) -> None:
        with self.lock:
            u = self._require(user_id)
            bit = catalog.METHOD_BIT[method]
            if bool(u.methods & bit) == add:
                return
            u.methods = u.methods | bit if add else u.methods & ~bit
            now = datetime.now(UTC)
            u.mfa_updated = iso(now)
            self._bump()
            who = "Admin" if by_admin else "User"
            verb = "registered" if add else "deleted"
            admin = self._an_admin() if by_admin else u
            self._audit(f"{who} {verb} security info", "UserManagement", "Add" if add else "Delete", u,
                        AUTH_METHODS_SERVICE, admin, (("Method", method),),
                        reason=audit_log.security_info_reason(method, by_admin=by_admin, added=add))

    def _an_admin(self) -> User | None:
        for a in self.assignments:
            if isinstance(a.principal, User) and a.role.display_name == "Authentication Administrator":
                return a.principal
        return next((a.principal for a in self.assignments if isinstance(a.principal, User)), None)

    def set_risk(self, user_id: str, level: str, state: str = "atRisk", when: datetime | None = None) -> None:
        """Identity Protection re-evaluates the user: `riskLastUpdatedDateTime` moves to `when`."""
        if level not in ("none", "low", "medium", "high") or state not in (
                "atRisk", "confirmedCompromised", "remediated", "dismissed", "none"):
            raise ValueError(f"bad risk {level}/{state}")
        with self.lock:
            u = self._require(user_id)
            u.risk = (level, state, iso(when or datetime.now(UTC)))
            self._bump()

    def delete_user(self, user_id: str, *, permanent: bool = False, deleted_at: datetime | None = None) -> None:
        """Soft delete (delta reports `@removed: changed`, deleted items list it) or purge
        (`deleted`; gone from deleted items too). The user leaves its groups and roles."""
        with self.lock:
            u = self.user(user_id) or self._deleted.get(user_id)
            if u is None:
                raise KeyError(user_id)
            if u.deleted is None:
                self._remove(u)
                u.deleted = iso(deleted_at or datetime.now(UTC))
                self._deleted[u.id] = u
                self._detach(u)
                self._touch(u)
                self._audit("Delete user", "UserManagement", "Delete", u)
                self._touch_reports(u, removed=True)
            if permanent:
                del self._deleted[u.id]
                self._touch(u)
                self._purged[u.id] = u.version
                self._purged_users[u.id] = u
                u.saved_groups = []
                self._audit("Hard Delete user", "UserManagement", "Delete", u)

    def restore_user(self, user_id: str) -> None:
        with self.lock:
            u = self._deleted.pop(user_id)
            u.deleted = None
            self._insert(u)
            self._touch(u)
            for g in u.saved_groups:
                if g.deleted is None and g not in u.groups:
                    u.groups.append(g)
                    g.members.append(u)
                    self._member_change(g, u, True)
            u.saved_groups = []
            self._audit("Restore user", "UserManagement", "Restore", u)
            self._touch_reports(u, removed=False)

    def _touch_reports(self, manager: User, *, removed: bool) -> None:
        """The direct reports of a deleted (or restored) manager lose (or regain) their
        manager: a `manager` change in users/delta, as the ground truth says."""
        for r in self._sorted:
            if r.manager is manager:
                self._touch(r, ("manager", *((f"manager-was:{manager.id}",) if removed else ())))

    def purge_expired_deleted(self, now: datetime | None = None) -> list[str]:
        """Deleted items keep a user 30 days; after that it is gone for good (hard delete)."""
        limit = (now or datetime.now(UTC)) - timedelta(days=30)
        with self.lock:
            old = [u.id for u in self._deleted.values() if u.deleted and parse_iso(u.deleted) <= limit]
            for uid in old:
                self.delete_user(uid, permanent=True)
            return old

    def _detach(self, user: User) -> None:
        user.saved_groups = list(user.groups)
        for g in user.groups:
            g.members.remove(user)
            self._member_change(g, user, False)
        user.groups = []
        self.assignments = [a for a in self.assignments if a.principal is not user]

    def add_to_group(self, user_id: str, group_id: str) -> None:
        with self.lock:
            u, g = self._require(user_id), self._groups_by_id[group_id]
            if g not in u.groups:
                u.groups.append(g)
                g.members.append(u)
                self._member_change(g, u, True)
                self._audit("Add member to group", "GroupManagement", "Assign", u,
                            modified=audit_log.group_props(g.id, g.name, added=True), also=(audit_log.group_target(g),))

    def remove_from_group(self, user_id: str, group_id: str) -> None:
        with self.lock:
            u, g = self._require(user_id), self._groups_by_id[group_id]
            if g in u.groups:
                u.groups.remove(g)
                g.members.remove(u)
                self._member_change(g, u, False)
                self._audit("Remove member from group", "GroupManagement", "Unassign", u,
                            modified=audit_log.group_props(g.id, g.name, added=False), also=(audit_log.group_target(g),))

    def rename_group(self, group_id: str, name: str) -> None:
        with self.lock:
            g = self._groups_by_id[group_id]
            g.name = name
            self.group_log.record(self._bump(), g.id, ("props", frozenset({"displayName"})))

    def delete_group(self, group_id: str) -> None:
        """Delete a group: its memberships and the roles assigned through it end. groups/delta
        reports it `@removed` (`changed` for a Microsoft 365 group, restorable; `deleted` for
        a security group, which Graph deletes permanently)."""
        with self.lock:
            g = self._groups_by_id.pop(group_id)
            self.groups_list.remove(g)
            g.deleted = iso(datetime.now(UTC))
            self._deleted_groups[g.id] = g
            for u in g.members:
                u.groups.remove(g)
            for parent in g.parents:
                parent.member_groups.remove(g)
            for child in g.member_groups:
                child.parents.remove(g)
            self.assignments = [a for a in self.assignments if a.principal is not g]
            self.group_log.record(self._bump(), g.id, ("removed", "changed" if g.kind == "m365" else "deleted"))
            self._audit("Delete group", "GroupManagement", "Delete", None, also=(audit_log.group_target(g),))

    def assign_role(self, principal_id: str, role_name: str, *, eligible: bool = False) -> RoleAssignment:
        """Assign a built-in role to a user or a role-assignable group; `eligible`: a PIM
        eligible assignment, audited but not active (not in `assignments`)."""
        with self.lock:
            role = catalog.ROLES_BY_NAME[role_name]
            principal: Principal | None = self.user(principal_id) or self._groups_by_id.get(principal_id)
            if principal is None:
                raise KeyError(principal_id)
            if isinstance(principal, Group) and not principal.role_assignable:
                raise ValueError(f"group {principal.name} is not role-assignable")
            a = RoleAssignment(_assignment_id(role, principal.id), role, principal)
            self._audit_role(a, added=True, eligible=eligible)
            if eligible:
                self.eligible.append(a)
                return a
            self.assignments.append(a)
            self.directory_role_ids.setdefault(role.template_id, str(uuid.uuid5(_ID_NAMESPACE, f"{self.spec.seed}:dr:{role.template_id}")))
            self._bump()
            return a

    def remove_role(self, principal_id: str, role_name: str, *, eligible: bool = False) -> None:
        with self.lock:
            held = self.eligible if eligible else self.assignments
            for a in held:
                if a.principal.id == principal_id and a.role.display_name == role_name:
                    self._audit_role(a, added=False, eligible=eligible)
            if eligible:
                self.eligible = [a for a in held if not (a.principal.id == principal_id
                                                         and a.role.display_name == role_name)]
                return
            self.assignments = [
                a for a in self.assignments
                if not (a.principal.id == principal_id and a.role.display_name == role_name)
            ]
            self._bump()

    def _audit_role(self, a: RoleAssignment, *, added: bool, eligible: bool) -> None:
        activity = audit_log.role_activity(added, eligible)
        props = audit_log.role_props(a.role.display_name, a.role.template_id, added=added)
        p = a.principal
        if isinstance(p, User):
            self._audit(activity, "RoleManagement", "Assign" if added else "Unassign", p, modified=props)
        else:
            kind = "Group" if isinstance(p, Group) else "ServicePrincipal"
            self._audit(activity, "RoleManagement", "Assign" if added else "Unassign", None,
                        also=(Target(p.id, kind, p.name, None, props),))

    def expire_delta_tokens(self, answer: str = "expired") -> None:
        """Delta and next links issued so far stop working, for users and groups.

        `answer="expired"`: 400 `syncStateNotFound`, Graph's answer to a token past its 7-day
        lifetime. `answer="reset"`: 410 Gone with a `Location` header naming a new initial
        delta request, Graph's documented "synchronization reset"."""
        if answer not in ("expired", "reset"):
            raise ValueError("answer is 'expired' or 'reset'")
        with self.lock:
            self.delta_reset_answer = answer
            self.delta_epoch += 1
            self.delta_floor = self.change_seq + 1
            self._bump()

    def apply_mixed_changes(self, n: int, seed: int, *, late_listings: int = 1) -> list[Change]:
        """`n` changes cycling through every kind of change the connector must reflect
        (`late_listings`: how many `/users` listings a late new user stays out of)."""
        from entrasim.mixed_changes import apply_mixed_changes

        return apply_mixed_changes(self, n, seed, late_listings)

    def note_listing(self) -> None:
        """A new listing of users began: users waiting for N listings get one step closer."""
        with self.lock:
            self.listings += 1
            for u in self._pending:
                u.hidden_listings -= 1
            self._pending = [u for u in self._pending if u.hidden_listings > 0]


# Graph property -> (User attribute, properties whose value it also changes)
_PROFILE_ATTRS: dict[str, tuple[str, tuple[str, ...]]] = {
    "displayName": ("display", ("onPremisesDistinguishedName",)),
    "givenName": ("given", ()),
    "surname": ("surname", ()),
    "userPrincipalName": ("upn", ()),
    "mail": ("mail", ("proxyAddresses", "otherMails")),
    "department": ("department", ("employeeOrgData",)),
    "jobTitle": ("job_title", ()),
    "companyName": ("company", ()),
    "officeLocation": ("office", ()),
    "employeeId": ("employee_id", ()),
    "employeeType": ("employee_type", ()),
    "employeeHireDate": ("hire_date", ()),
    "employeeOrgData": ("org", ()),
    "userType": ("is_guest", ("creationType", "externalUserState")),
    "accountEnabled": ("enabled", ()),
}


def _mask(methods: Iterable[str]) -> int:
    return sum(catalog.METHOD_BIT[m] for m in set(methods))


_PROFILE_MASKS = [_mask(names) for _, names in catalog.MFA_PROFILES]
_PROFILE_CUMULATIVE = list(itertools.accumulate(w for w, _ in catalog.MFA_PROFILES))


def _iso_ts(ts: int) -> str:
    t = time.gmtime(ts)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"


def _unique(taken: dict[str, int], local: str, suffix: str) -> str:
    """`local`, or `local2`, `local3`... so that local + suffix is unused."""
    key = local + suffix
    n = taken.get(key, 0) + 1
    taken[key] = n
    while n > 1 and (candidate := f"{local}{n}") + suffix in taken:
        n += 1
        taken[key] = n
    if n > 1:
        taken[candidate + suffix] = 1
        return candidate
    return local


def _assignment_id(role: catalog.RoleDefinition, principal_id: str) -> str:
    """Graph's role-assignment ids look like a base64 mix of role and principal ids."""
    raw = uuid.UUID(role.template_id).bytes_le + uuid.UUID(principal_id).bytes_le
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "-1"


class _Generator:
    """Builds the tenant's population; every draw comes from one seeded RNG, in a fixed order."""

    def __init__(self, tenant: Tenant, rng: random.Random) -> None:
        self.t = tenant
        self.rng = rng
        self.spec = tenant.spec

    def run(self) -> None:
        users = self._users()
        users.sort(key=lambda u: u.id)
        t = self.t
        t._sorted = users
        t._ids = [u.id for u in users]
        t._by_id = {u.id: u for u in users}
        t._by_upn = {u.upn.lower(): u for u in users}
        self._groups(users)
        self._roles(users)
        self._risk(users)

    def _users(self) -> list[User]:
        spec, mix, rng = self.spec, self.spec.mix, self.rng
        rand, choice, randrange = rng.random, rng.choice, rng.randrange
        as_of = int(spec.as_of.timestamp())
        start = as_of - 6 * 365 * 86400
        span = as_of - start - 86400
        bulk = [start + randrange(span) for _ in range(8)]
        bulk_iso = {ts: _iso_ts(ts) for ts in bulk}
        member_domains = (*spec.custom_domains, spec.domain) if spec.custom_domains else (spec.domain,)
        taken: dict[str, int] = {}
        out: list[User] = []
        members: list[User] = []
        for i in range(spec.users):
            guest = rand() < mix.guests and i > 0
            unicode_name = rand() < mix.unicode_names
            given, given_ascii = choice(catalog.UNICODE_GIVEN_NAMES if unicode_name else catalog.GIVEN_NAMES)
            sur, sur_ascii = choice(catalog.UNICODE_SURNAMES if unicode_name and rand() < 0.6 else catalog.SURNAMES)
            uid = _uuid(rng)
            if guest:
                ext = choice(catalog.GUEST_DOMAINS)
                local = _unique(taken, f"{given_ascii}.{sur_ascii}".lower(), "_" + ext)
                u = User(uid, f"{local}_{ext}#EXT#@{spec.domain}")
                u.mail = f"{local}@{ext}"
                u.is_guest = True
            else:
                r = rand()
                domain = member_domains[0] if r < 0.85 or len(member_domains) == 1 else (
                    member_domains[-1] if r > 0.95 else member_domains[1 % len(member_domains)])
                local = _unique(taken, f"{given_ascii}.{sur_ascii}".lower(), "@" + domain)
                u = User(uid, f"{local}@{domain}")
                u.mail = u.upn if rand() < 0.95 else None
                u.company = choice(catalog.COMPANIES) if rand() < 0.8 else None
                u.department = choice(catalog.DEPARTMENTS) if rand() < 0.9 else None
                u.job_title = choice(catalog.JOB_TITLES) if rand() < 0.85 else None
                u.office = choice(catalog.OFFICES) if rand() < 0.7 else None
                if rand() < 0.8:
                    u.employee_id = str(100000 + i)
                    u.employee_type = choice(catalog.EMPLOYEE_TYPES)
                u.on_prem = True if rand() < mix.on_premises_synced else None
                if members and rand() < mix.with_manager:
                    u.manager = choice(members)
                members.append(u)
            u.given, u.surname = given, sur
            u.display = f"{given} {sur}" if rand() < 0.97 else None
            u.enabled = not (rand() < mix.disabled)
            if rand() < mix.bulk_imported:
                created = choice(bulk)
                u.created = bulk_iso[created]
            else:
                created = start + randrange(span)
                u.created = _iso_ts(created)
            if rand() >= mix.never_signed_in:
                self._sign_ins(u, created, as_of)
            u.methods = self._methods(u)
            out.append(u)
        return out

    def _sign_ins(self, u: User, created: int, as_of: int) -> None:
        rng = self.rng
        ago = rng.expovariate(1 / (20 * 86400)) if rng.random() < 0.85 else rng.uniform(90, 700) * 86400
        success = as_of - int(min(ago, max(as_of - created - 60, 60)))
        u.last_success = u.last_sign_in = _iso_ts(success)
        if rng.random() < 0.05:
            u.last_sign_in = _iso_ts(success + rng.randrange(60, 86400 * 3))
        if rng.random() < 0.02:
            u.last_success = None
        if rng.random() < 0.7:
            u.last_non_interactive = _iso_ts(success + rng.randrange(0, 86400))

    def _methods(self, u: User) -> int:
        rng = self.rng
        if u.is_guest:
            return catalog.METHOD_BIT["email"] if rng.random() < 0.1 else 0
        mask = _PROFILE_MASKS[bisect.bisect(_PROFILE_CUMULATIVE, rng.random() * _PROFILE_CUMULATIVE[-1])]
        if mask and rng.random() < 0.1:
            mask |= catalog.METHOD_BIT["email"]
        return mask

    def _groups(self, users: list[User]) -> None:
        spec, mix, rng = self.spec, self.spec.mix, self.rng
        t = self.t
        n_groups = max(8, round(spec.users * mix.groups_per_100_users / 100))
        created = iso(spec.as_of - timedelta(days=5 * 365))
        groups: list[Group] = []
        kinds = ("security", "security", "m365", "m365", "mailSecurity", "distribution")
        for i in range(n_groups):
            if i == 0:
                g = Group(_uuid(rng), "All Company", "m365", created)
            elif i <= 3:
                name = ("SG-Helpdesk-Admins", "SG-Security-Operations", "SG-Cloud-Readers")[i - 1]
                g = Group(_uuid(rng), name, "security", created)
                g.role_assignable = True
            else:
                kind = rng.choice(kinds)
                dept = rng.choice(catalog.DEPARTMENTS)
                prefix = {"security": "SG", "m365": "Team", "mailSecurity": "MSG", "distribution": "DL"}[kind]
                g = Group(_uuid(rng), f"{prefix}-{dept}-{i:04d}", kind, iso(
                    spec.as_of - timedelta(days=rng.randrange(30, 5 * 365))))
            if g.kind != "security":
                slug = "".join(c for c in g.name.lower() if c.isalnum() or c == "-")
                g.mail = f"{slug}@{spec.custom_domains[0] if spec.custom_domains else spec.domain}"
            g.description = None if rng.random() < 0.4 else f"{g.name} group"
            groups.append(g)
        t.groups_list = groups
        t._groups_by_id = {g.id: g for g in groups}
        regular = groups[4:]
        weights = list(itertools.accumulate(1 / (k + 1) ** 0.8 for k in range(len(regular))))
        for u in users:
            if u.is_guest:
                k = 0 if rng.random() < 0.6 else rng.randint(1, 2)
            else:
                r = rng.random()
                if r < mix.heavy_group_members:
                    k = rng.randint(21, 60)
                elif r < 0.1:
                    k = 0
                elif r < 0.65:
                    k = rng.randint(1, 4)
                elif r < 0.93:
                    k = rng.randint(5, 12)
                else:
                    k = rng.randint(13, 20)
            chosen: list[Group] = []
            if k and not u.is_guest:
                chosen.append(groups[0])
                k -= 1
            if k and regular:
                if k > len(regular) // 2:
                    chosen.extend(rng.sample(regular, min(k, len(regular))))
                else:
                    chosen.extend(dict.fromkeys(rng.choices(regular, cum_weights=weights, k=k)))
            u.groups = chosen
            for g in chosen:
                g.members.append(u)
        for g in regular:
            if rng.random() < 0.1:
                idx = groups.index(g)
                for child in rng.sample(groups[4:idx], min(rng.randint(1, 3), max(idx - 4, 0))):
                    g.member_groups.append(child)
                    child.parents.append(g)
        enabled_members = [u for u in users if not u.is_guest and u.enabled]
        for g in groups[1:4]:
            for u in rng.sample(enabled_members, min(len(enabled_members), rng.randint(2, 8))):
                if g not in u.groups:
                    u.groups.append(g)
                    g.members.append(u)

    def _roles(self, users: list[User]) -> None:
        t, rng, mix = self.t, self.rng, self.spec.mix
        assignable = [r for r in catalog.ROLE_DEFINITIONS if r.assignable]
        weights = [1 if r.display_name == "Global Administrator" else 3 for r in assignable]
        members = [u for u in users if not u.is_guest]
        n_admins = max(1, round(len(members) * mix.admins))
        admins = rng.sample(members, min(n_admins, len(members)))
        for u in admins:
            for role in dict.fromkeys(rng.choices(assignable, weights=weights, k=rng.choice((1, 1, 1, 2, 3)))):
                t.assign_role(u.id, role.display_name)
        if members:
            t.assign_role(members[0].id, "Global Administrator")
        guests = [u for u in users if u.is_guest]
        if guests:
            t.assign_role(rng.choice(guests).id, "Global Reader")
        by_name = {g.name: g for g in t.groups_list}
        t.assign_role(by_name["SG-Helpdesk-Admins"].id, "Helpdesk Administrator")
        t.assign_role(by_name["SG-Security-Operations"].id, "Security Reader")
        t.assign_role(by_name["SG-Security-Operations"].id, "Security Administrator")
        t.assign_role(by_name["SG-Cloud-Readers"].id, "Global Reader")
        for name in ("Backup Automation", "Provisioning Service"):
            sp = ServicePrincipal(_uuid(rng), _uuid(rng), name)
            t.service_principals.append(sp)
            role = catalog.ROLES_BY_NAME["Directory Readers"]
            t.assignments.append(RoleAssignment(_assignment_id(role, sp.id), role, sp))
            t.directory_role_ids.setdefault(role.template_id, str(uuid.uuid5(_ID_NAMESPACE, f"{self.spec.seed}:dr:{role.template_id}")))

    def _risk(self, users: list[User]) -> None:
        rng = self.rng
        for u in users:
            if rng.random() < 0.02:
                level = rng.choice(("low", "low", "medium", "high"))
                state = rng.choice(("atRisk", "atRisk", "confirmedCompromised", "remediated", "dismissed"))
                when = iso(self.spec.as_of - timedelta(seconds=rng.randrange(86400 * 60)))
                u.risk = (level, state, when)
