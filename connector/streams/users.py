"""One collection cycle: which sources to read, in what order, joined page by page into events.

The strategy is chosen per run so requests grow with pages, not users:

- **bulk** (full runs, and incremental runs that find many new users): role assignments, all
  groups with their members, and the MFA registration report are read once, concurrently, into
  compact lookups; then users stream page by page through the join and out.
- **per user** (an incremental run that finds at most `SMALL_RUN_USERS` new users): the new
  users' groups and MFA are asked through `$batch`, 20 users a request, and no tenant-wide
  listing except the (small) role assignments is read.

Checkpoints: every batch carries the checkpoint to commit once it is delivered. Mid-run ones
hold `in_progress` (the page to resume from, the ids of that page already delivered, the run's
collection time so re-delivered events keep their uid); the last one clears it and moves the
`watermark`. Incremental runs list `createdDateTime ge watermark - overlap` and skip
`recent_ids`, so users that replicate late are caught and none is delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

import orjson

from connector.graph.budget import mfa_lookups_per_run
from connector.graph.client import GraphClient, GraphError, gather_all
from connector.graph.dates import format_graph_datetime, parse_graph_datetime
from connector.graph.odata import Availability, is_refusal, refusal_reason
from connector.graph.permissions import Grants
from connector.graph.sources import (
    NO_RISK,
    Memberships,
    MfaFacts,
    MfaTable,
    RiskTable,
    UserQuery,
    admin_roles,
    group_memberships,
    memberships_of,
    mfa_methods,
    mfa_registration,
    mfa_registration_of,
    risky_users,
)
from connector.ocsf import user_inventory as ocsf
from connector.streams import facts as remembered
from connector.streams.base import Skips, usable_checkpoint
from connector.streams.batch import Batch, StoreWrites
from connector.streams.user_listing import UserListing

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
# At or below this many new users an incremental run asks per user instead of reading
# tenant-wide listings (20 users per `$batch` request).
SMALL_RUN_USERS = 200
# `mfa_fallback: auto` asks per user for at most this many users a run (the default share).
MFA_FALLBACK_AUTO_LIMIT = mfa_lookups_per_run(0.5)
# Per-user registration report entries spend the 5-per-10-s reporting budget one each.
REPORT_PER_USER_LIMIT = 25

MfaFallback = Literal["auto", "always", "never"]
T = TypeVar("T")


class CollectionError(Exception):
    """The run cannot collect at all (e.g. users cannot be listed); the message says why."""


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    user_id: str | None
    reason: str


@dataclass(slots=True)
class Summary:
    """What one run did, for the CLI's stderr, the runtime's logs and the benchmarks."""

    mode: str = "full"
    strategy: str = "bulk"
    users_listed: int = 0
    events: int = 0
    filtered_out: int = 0
    already_delivered: int = 0
    skipped: Skips[SkippedRecord] = field(default_factory=Skips)
    graph_requests: int = 0
    batch_requests: int = 0
    batch_items: int = 0
    throttled: int = 0
    retries: int = 0
    retry_wait_seconds: float = 0.0
    listing_restarts: int = 0
    duration_seconds: float = 0.0
    degraded: dict[str, str] = field(default_factory=dict)
    completed: bool = False
    # Change tracking (with a state store; see streams/changes.py).
    tracking: str = "off: change tracking needs a state store"
    new_users: int = 0
    changed_users: int = 0
    deleted_users: int = 0
    restored_users: int = 0
    # users/delta removals of users the store never held (nothing to emit, counted).
    unknown_removals: int = 0
    change_sources: list[str] = field(default_factory=list)
    full_reason: str | None = None
    cadences: dict[str, str | None] = field(default_factory=dict)
    mfa_unknown: int | None = None
    mfa_learned: int = 0
    bounded_by: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracking": self.tracking, "new_users": self.new_users,
            "changed_users": self.changed_users, "deleted_users": self.deleted_users,
            "restored_users": self.restored_users, "unknown_removals": self.unknown_removals,
            "change_sources": list(self.change_sources),
            "full_reason": self.full_reason, "cadences": dict(self.cadences),
            "mfa_unknown": self.mfa_unknown, "mfa_learned": self.mfa_learned,
            "mode": self.mode, "strategy": self.strategy, "users_listed": self.users_listed,
            "events": self.events, "filtered_out": self.filtered_out,
            "already_delivered": self.already_delivered,
            "skipped": [{"user_id": s.user_id, "reason": s.reason} for s in self.skipped],
            "graph_requests": self.graph_requests, "batch_requests": self.batch_requests,
            "batch_items": self.batch_items, "throttled": self.throttled,
            "retries": self.retries, "retry_wait_seconds": round(self.retry_wait_seconds, 3),
            "listing_restarts": self.listing_restarts,
            "duration_seconds": round(self.duration_seconds, 3),
            "degraded": dict(self.degraded), "completed": self.completed,
            "bounded_by": self.bounded_by,
        }

    def lines(self) -> list[str]:
        """A short human summary (the CLI prints it on stderr)."""
        if self.tracking == "on" and self.mode != "full" and not self.full_reason:
            head = (f"changes: {self.events} events ({self.mode} listing of new users, "
                    f"{self.strategy}: {self.users_listed} listed) in "
                    f"{self.duration_seconds:.1f} s")
        else:
            head = (f"{self.mode} collection ({self.strategy}): {self.events} events from "
                    f"{self.users_listed} users listed in {self.duration_seconds:.1f} s")
        out = [
            head,
            f"Graph: {self.graph_requests} requests ({self.batch_requests} $batch, "
            f"{self.batch_items} items), {self.throttled} throttled, "
            f"{self.retry_wait_seconds:.1f} s waiting to retry",
        ]
        if self.bounded_by:
            out.append(self.bounded_by)
        if self.filtered_out or self.already_delivered:
            out.append(f"not emitted: {self.filtered_out} filtered out (guests/domains), "
                       f"{self.already_delivered} already delivered")
        if self.skipped.total:
            out.append(self.skipped.shown([s.user_id or s.reason for s in self.skipped],
                                          "records"))
        if self.unknown_removals:
            out.append(f"ignored {self.unknown_removals} removals of users never delivered")
        if self.full_reason:
            out.append(f"full collection: {self.full_reason}")
        if self.full_reason or self.mode == "full":
            out.append(f"users: all {self.events - self.deleted_users} listed emitted, "
                       f"{self.deleted_users} found deleted (change tracking {self.tracking})")
        else:
            out.append(f"users: {self.new_users} new, {self.changed_users} changed, "
                       f"{self.deleted_users} deleted, {self.restored_users} restored "
                       f"(change tracking {self.tracking})")
        if self.change_sources:
            out.append("change sources read: " + ", ".join(self.change_sources))
        if self.cadences:
            out.append("last runs: " + ", ".join(
                f"{name} {when or 'never'}" for name, when in self.cadences.items()))
        if self.mfa_unknown is not None:
            out.append(f"MFA still unknown for {self.mfa_unknown} users"
                       + (f" ({self.mfa_learned} learnt this run)" if self.mfa_learned else ""))
        for feature, reason in self.degraded.items():
            out.append(f"not collected: {feature}: {reason}")
        return out


# --- checkpoint ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Progress:
    """Where a run stands, in a form that fits a checkpoint (see module docstring)."""

    collected_at_ms: int
    since: datetime | None
    overlap: timedelta
    started: datetime
    query: dict[str, Any] = field(default_factory=dict)
    max_created: datetime | None = None
    recent: dict[str, datetime] = field(default_factory=dict)
    # Graph happens to list users in id order: while it does, "delivered up to id X" is a
    # compact record of everything this run delivered, used if a resume link has expired.
    upto: str | None = None
    ordered: bool = True
    earlier_upto: str | None = None
    _pruned_size: int = 1024

    def note_emitted(self, user_id: str) -> None:
        if self.ordered:
            if self.upto is not None and user_id <= self.upto:
                self.ordered = False
            else:
                self.upto = user_id

    def delivered_before(self, user_id: str, created: datetime | None) -> bool:
        """Whether an earlier process of this run certainly delivered `user_id`.

        True only for ids up to what was delivered in id order, and for users created before
        that run began minus the overlap (so surely replicated when the listing passed them).
        """
        return (self.earlier_upto is not None and user_id <= self.earlier_upto
                and created is not None and created <= self.started - self.overlap)

    def note_delivered(self, user_id: str, created: datetime | None) -> None:
        if created is None:
            return
        if self.max_created is None or created > self.max_created:
            self.max_created = created
        if created >= self._horizon():
            self.recent[user_id] = created
        if len(self.recent) > 2 * self._pruned_size:
            self._prune()

    def watermark(self) -> datetime | None:
        # Never past the run's start: users created while it ran may not all have been listed.
        if self.max_created is None:
            return None
        return min(self.max_created, self.started)

    def _horizon(self) -> datetime:
        mark = self.watermark()
        return (mark - self.overlap) if mark is not None else datetime.min.replace(tzinfo=UTC)

    def _prune(self) -> None:
        horizon = self._horizon()
        self.recent = {uid: c for uid, c in self.recent.items() if c >= horizon}
        self._pruned_size = max(1024, len(self.recent))

    def recent_ids(self) -> list[str]:
        self._prune()
        return sorted(self.recent)

    def to_json(self, resume_url: str, skip_ids: Sequence[str]) -> dict[str, Any]:
        return {
            "collected_at_ms": self.collected_at_ms,
            "since": format_graph_datetime(self.since) if self.since else None,
            "query": dict(self.query),
            "resume_url": resume_url,
            "skip_ids": list(skip_ids),
            "max_created": format_graph_datetime(self.max_created) if self.max_created else None,
            "recent": [[uid, format_graph_datetime(c)] for uid, c in self.recent.items()],
            "started": format_graph_datetime(self.started),
            "ordered_upto": self.upto if self.ordered else None,
        }


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed checkpoint; anything unreadable in it means "start with a full run"."""

    tenant_id: str
    watermark: datetime | None = None
    recent_ids: frozenset[str] = frozenset()
    in_progress: Mapping[str, Any] | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, tenant_id: str) -> Checkpoint:
        raw = usable_checkpoint(raw, version=CHECKPOINT_VERSION, tenant_id=tenant_id,
                                what="users", instead="starting a full collection")
        if raw is None:
            return cls(tenant_id)
        recent = raw.get("recent_ids")
        progress = raw.get("in_progress")
        return cls(
            tenant_id,
            parse_graph_datetime(raw.get("watermark")),
            frozenset(str(i) for i in recent) if isinstance(recent, list) else frozenset(),
            progress if isinstance(progress, Mapping) and progress.get("resume_url") else None,
        )

    def to_json(self, in_progress: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "tenant_id": self.tenant_id,
            "watermark": format_graph_datetime(self.watermark) if self.watermark else None,
            "recent_ids": sorted(self.recent_ids),
            "in_progress": in_progress,
        }


# --- record filters ---------------------------------------------------------------------------

def _domain_of(address: Any) -> str | None:
    if not isinstance(address, str) or "@" not in address:
        return None
    return address.rpartition("@")[2].strip().lower() or None


def make_filter(include_guests: bool, domains: Iterable[str]
                ) -> Callable[[Mapping[str, Any]], bool]:
    """The settings' user filters, applied to every record whatever Graph already filtered."""
    wanted = frozenset(d.lower() for d in domains)

    def keep(user: Mapping[str, Any]) -> bool:
        if not include_guests and str(user.get("userType", "")).lower() != "member":
            return False
        if wanted:
            return _domain_of(user.get("userPrincipalName")) in wanted \
                or _domain_of(user.get("mail")) in wanted
        return True

    return keep


# --- MFA: which source, for whom ----------------------------------------------------------------

class MfaPlan:
    """Where each user's MFA comes from, and an honest account of who is left unknown.

    The registration report (P1/P2, AuditLog.Read.All) covers enabled users in bulk. Per-user
    methods (UserAuthenticationMethod.Read.All; not in the China cloud) fill the rest, within
    `budget` users a run (`mfa_fallback`). Whoever neither covers stays unknown, never "no MFA",
    and the summary says how many and why.
    """

    def __init__(self, client: GraphClient, availability: Availability, grants: Grants, *,
                 fallback: MfaFallback, cloud_name: str,
                 auto_limit: int = MFA_FALLBACK_AUTO_LIMIT) -> None:
        self.client = client
        self.availability = availability
        self.grants = grants
        self.fallback = fallback
        self.budget = {"auto": auto_limit, "always": 1 << 62, "never": 0}[fallback]
        self.table: MfaTable | None = MfaTable()
        self.report_refused: str | None = None
        self.per_user_refused: str | None = None
        if fallback == "never":
            self.per_user_refused = "the per-user fallback is off (mfa_fallback: never)"
        elif cloud_name == "china":
            self.per_user_refused = "per-user methods do not exist in the China cloud"
        else:
            self.per_user_refused = grants.missing("mfa_methods")
        self.asked = 0
        self.unknown = 0
        self.disabled_skipped = 0
        self.report_read = False

    @property
    def per_user(self) -> bool:
        return self.per_user_refused is None and self.asked < self.budget

    def wants(self, user: Mapping[str, Any]) -> bool:
        """Whether a listed user is worth a lookup in this run. `auto` spends the reports budget
        on enabled users: a disabled account cannot sign in. It stays MFA-unknown, and the
        tracked runs' fallback (longest-unknown first) reaches it later."""
        if self.fallback == "auto" and user.get("accountEnabled") is False:
            self.disabled_skipped += 1
            return False
        return True

    async def read_report(self, user_ids: Sequence[str] | None = None) -> None:
        """The bulk report, or just the entries of `user_ids` when they are few."""
        refused = self.grants.missing("mfa_report")
        if refused is None:
            assert self.table is not None
            try:
                if user_ids is not None and len(user_ids) <= REPORT_PER_USER_LIMIT:
                    await mfa_registration_of(self.client, user_ids, self.table)
                else:
                    await mfa_registration(self.client, self.table)
                self.report_read = True
                return
            except GraphError as error:
                if not is_refusal(error):
                    raise
                refused = refusal_reason(error)
        self.report_refused = refused
        if self.per_user_refused is not None:
            self.table = None
            self.availability.degrade(
                "mfa", f"registration report: {refused}; per-user methods: "
                f"{self.per_user_refused}")

    async def fill(self, user_ids: Sequence[str],
                   remembered: Callable[[str], bool] | None = None) -> None:
        """Ask per user for those not known yet, while the budget lasts; users whose MFA the
        store still remembers (`remembered(uid)`) are not asked again."""
        if self.table is None:
            return
        missing = [uid for uid in user_ids
                   if self.table.get(uid) is None
                   and not (remembered is not None and remembered(uid))]
        if not missing:
            return
        allowed = missing[: max(0, self.budget - self.asked)] if self.per_user else []
        if allowed:
            self.asked += len(allowed)
            try:
                await mfa_methods(self.client, allowed, self.table)
            except GraphError as error:
                if not is_refusal(error):
                    raise
                self.per_user_refused = refusal_reason(error)
        self.unknown += sum(1 for uid in missing if self.table.get(uid) is None)

    def finish(self) -> None:
        if self.table is None or not self.unknown:
            return
        if self.report_read:
            why = "not in the registration report (it leaves out disabled users)"
        elif self.report_refused:
            why = f"registration report: {self.report_refused}"
        else:
            why = "the registration report was not read"
        if self.per_user_refused is not None:
            extra = f"per-user methods: {self.per_user_refused}"
        else:
            extra = (f"the per-user fallback stops at {self.budget} users a run "
                     f"(mfa_fallback_share of the reports budget; mfa_fallback: always asks "
                     f"for everyone)")
        self.availability.degrade("mfa", f"unknown for {self.unknown} users: {why}; {extra}")


# --- the run ----------------------------------------------------------------------------------

class FactReader(Protocol):
    def user_docs(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...


@dataclass(slots=True)
class Memory:
    """The state store's side of a run: what it remembers of users, and what to add to it.

    With a memory, every emitted user's document goes into the batch that carries its event,
    MFA the store still remembers (learnt no earlier than `stale_before`) fills in for MFA this
    run did not learn and is not asked again, and the last batch carries `final_writes`.
    """

    store: FactReader
    now: str
    stale_before: str
    final_writes: StoreWrites = field(default_factory=StoreWrites)
    # Carried by the first batch (e.g. where change tracking starts, for a resumed full run).
    first_writes: StoreWrites | None = None
    prior: dict[str, dict[str, Any]] = field(default_factory=dict)
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every id the listing showed (a full run's sweep marks the others deleted); with
    # `keep_listed`, the ids each batch's pages showed are committed with it (`StoreWrites.listed`).
    listed: set[str] = field(default_factory=set)
    keep_listed: bool = False
    _unsaved_listed: set[str] = field(default_factory=set)

    def note_listed(self, ids: Iterable[str]) -> None:
        fresh = set(ids) - self.listed
        self.listed |= fresh
        if self.keep_listed:
            self._unsaved_listed |= fresh

    def load(self, user_ids: Iterable[str]) -> None:
        self.prior = self.store.user_docs(user_ids)

    def remembers_mfa(self, user_id: str) -> bool:
        doc = self.prior.get(user_id)
        return bool(doc and doc.get("mfa") is not None
                    and str(doc.get("mfa_at") or "") >= self.stale_before)

    def take(self) -> StoreWrites | None:
        writes, self.first_writes = self.first_writes, None
        if self.docs:
            writes = writes or StoreWrites()
            writes.users.update(self.docs)
            self.docs = {}
        if self._unsaved_listed:
            writes = writes or StoreWrites()
            writes.listed |= self._unsaved_listed
            self._unsaved_listed = set()
        return writes

@dataclass(slots=True)
class Lookups:
    """What the bulk or per-user sources learnt; None = that fact is unknown for everyone."""

    memberships: Memberships | None = None
    roles: dict[str, tuple[str, ...]] | None = None
    risk: RiskTable | None = None
    # principal id -> SSO applications assigned (workload_identities.user_sso_apps)
    sso_apps: dict[str, tuple[tuple[str, str | None], ...]] | None = None


class PageJoin:
    """The per-page step, pure and synchronous: filter, join with the lookups, map to OCSF.

    Every listed item ends as exactly one of: an event, a skip (counted, logged with the user
    id), a user filtered out, or a user already delivered.
    """

    def __init__(self, *, lookups: Lookups, keep: Callable[[Mapping[str, Any]], bool],
                 summary: Summary, tenant_uid: str, product: ocsf.Product,
                 collected_at_ms: int, memory: Memory | None = None) -> None:
        self.memory = memory
        self.lookups = lookups
        self.keep = keep
        self.summary = summary
        self.tenant_uid = tenant_uid
        self.product = product
        self.collected_at_ms = collected_at_ms
        self._groups: dict[int, ocsf.Group] = {}
        self._mfa: dict[MfaFacts, ocsf.Mfa] = {}
        self._no_risk = ocsf.Risk(NO_RISK.level, NO_RISK.state)

    def _skip(self, user_id: str | None, reason: str) -> None:
        self.summary.skipped.add(SkippedRecord(user_id, reason), user_id, reason, "user")

    def fresh(self, items: Sequence[Any], seen: set[str], progress: Progress, *,
              restarted: bool = False) -> list[dict[str, Any]]:
        """The page's users this run must emit: with an id, wanted, not delivered before."""
        summary = self.summary
        out: list[dict[str, Any]] = []
        for user in items:
            summary.users_listed += 1
            uid = user.get("id") if isinstance(user, dict) else None
            if not isinstance(uid, str) or not uid.strip():
                self._skip(None, "record without a usable id")
                continue
            if not self.keep(user):
                summary.filtered_out += 1
                continue
            created = parse_graph_datetime(user.get("createdDateTime"))
            if uid in seen or (restarted and progress.delivered_before(uid, created)):
                summary.already_delivered += 1
                progress.note_delivered(uid, created)
            else:
                out.append(user)
        return out

    def facts(self, user: Mapping[str, Any], mfa_table: MfaTable | None) -> ocsf.UserFacts:
        uid = user["id"]
        lookups = self.lookups
        groups: tuple[ocsf.Group, ...] | None = None
        if lookups.memberships is not None:
            names = lookups.memberships.groups
            found_groups = []
            for index in lookups.memberships.indexes_of(uid):
                group = self._groups.get(index)
                if group is None:
                    gid, name = names[index]
                    group = self._groups[index] = ocsf.Group(gid, name)
                found_groups.append(group)
            groups = tuple(found_groups)
        roles = lookups.roles.get(uid, ()) if lookups.roles is not None else None
        mfa: ocsf.Mfa | None = None
        found = mfa_table.get(uid) if mfa_table is not None else None
        if found is not None:
            mfa = self._mfa.get(found)
            if mfa is None:
                mfa = self._mfa[found] = ocsf.Mfa(found.registered, found.methods)
        risk: ocsf.Risk | None = None
        if lookups.risk is not None:
            found_risk = lookups.risk.get(uid)
            risk = self._no_risk if found_risk is NO_RISK else ocsf.Risk(
                found_risk.level, found_risk.state, found_risk.updated)
        if mfa is None and self.memory is not None:
            mfa = remembered.mfa_of(self.memory.prior.get(uid))
        manager = user.get("manager")
        sso_apps: tuple[ocsf.Group, ...] | None = None
        if lookups.sso_apps is not None and groups is not None:
            assigned = dict.fromkeys(lookups.sso_apps.get(uid, ()))
            for group in groups:
                assigned.update(dict.fromkeys(lookups.sso_apps.get(group.uid, ())))
            sso_apps = tuple(ocsf.Group(app_uid, name) for app_uid, name in assigned)
        return ocsf.UserFacts(groups=groups, roles=roles, mfa=mfa,
                              manager=manager if isinstance(manager, Mapping) else None,
                              risk=risk, sso_apps=sso_apps)

    def _remember(self, user: Mapping[str, Any], facts: ocsf.UserFacts,
                  mfa_table: MfaTable | None) -> None:
        memory = self.memory
        assert memory is not None
        uid = user["id"]
        prior = memory.prior.get(uid)
        fresh_mfa = mfa_table is not None and mfa_table.get(uid) is not None
        if fresh_mfa or prior is None:
            mfa_at = memory.now
        elif facts.mfa is not None or prior.get("mfa") is None:
            mfa_at = str(prior.get("mfa_at") or memory.now)  # still known, or still unknown
        else:
            mfa_at = memory.now
        memory.docs[uid] = remembered.make_doc(user, facts, mfa_at=mfa_at)

    def events(self, fresh: Sequence[dict[str, Any]], mfa_table: MfaTable | None,
               seen: set[str], progress: Progress) -> Iterator[tuple[str, bytes]]:
        """(user id, serialised event) for each fresh user; bookkeeping before each yield."""
        for user in fresh:
            uid: str = user["id"]
            if uid in seen:  # listed twice in one page
                self.summary.already_delivered += 1
                continue
            try:
                facts = self.facts(user, mfa_table)
                data = orjson.dumps(ocsf.to_event(
                    user, facts, collected_at_ms=self.collected_at_ms,
                    tenant_id=self.tenant_uid, product=self.product))
            except Exception as exc:  # one bad record never ends the run
                self._skip(uid, f"{type(exc).__name__}: {exc}")
                continue
            if self.memory is not None:
                self._remember(user, facts, mfa_table)
            seen.add(uid)
            progress.note_emitted(uid)
            progress.note_delivered(uid, parse_graph_datetime(user.get("createdDateTime")))
            yield uid, data


class Collection:
    """One collection cycle against one tenant (see module docstring)."""

    def __init__(self, settings: Any, checkpoint: Mapping[str, Any] | None, client: GraphClient,
                 *, product: ocsf.Product, cloud_name: str = "global",
                 clock: Any = time.time, memory: Memory | None = None,
                 full: bool = False, summary: Summary | None = None) -> None:
        self.memory = memory
        self.full = full
        # Identity Protection's whole list as change tracking reads it (or read it last): it
        # serves new users too, so a run asks Identity Protection (1 request/s per tenant)
        # nothing more. An awaitable, so the read runs while the new users are listed.
        self.recent_risk: Awaitable[RiskTable | None] | None = None
        # The risk table this run used (change tracking keeps it to diff the next read against).
        self.risk: RiskTable | None = None
        # The admin role map this run read (change tracking diffs it instead of re-reading).
        self.roles: dict[str, tuple[str, ...]] | None = None
        self.settings = settings
        self.client = client
        self.product = product
        self.cloud_name = cloud_name
        self.summary = summary if summary is not None else Summary()
        self.availability = Availability()
        self._clock = clock
        self._raw_checkpoint = checkpoint
        self._keep = make_filter(bool(settings.include_guests), settings.domains or ())
        self._fallback: MfaFallback = settings.mfa_fallback

    async def _risk(self) -> RiskTable | None:
        """Identity Protection's whole list (a few requests of 500, never one per user: it
        allows 1 request a second per tenant and throttles without Retry-After)."""
        if self.recent_risk is not None:
            table = await self.recent_risk
            if table is not None:
                return table
        return await self._optional("risk", risky_users(self.client), licence="P2")

    async def _sso_apps(self) -> dict[str, tuple[tuple[str, str | None], ...]] | None:
        """The applications' rosters, when `workload_identities.user_sso_apps` asks for them."""
        if not self.settings.workload_identities.user_sso_apps:
            return None
        from connector.graph.workloads import sso_rosters

        return await self._optional("sso_apps", sso_rosters(self.client))

    async def _optional(self, feature: str, work: Awaitable[T], *,
                        licence: str = "P1/P2") -> T | None:
        """A source the run can do without: a refusal degrades it, an outage still fails."""
        if not self.availability.available(feature):
            close = getattr(work, "close", None)
            if close is not None:
                close()
            return None
        try:
            return await work
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.availability.degrade(feature, refusal_reason(error, licence))
            return None

    def finish_summary(self, started: float) -> None:
        """Graph figures and duration since `started` (a tracked run calls it for its whole
        length, after the change phase)."""
        stats = self.client.stats
        s = self.summary
        s.graph_requests = stats.requests
        s.batch_requests = stats.batch_requests
        s.batch_items = stats.batch_items
        s.throttled = stats.throttled
        s.retries = stats.retries
        s.retry_wait_seconds = stats.retry_wait_seconds
        s.bounded_by = self.client.budget_summary()
        s.duration_seconds = time.monotonic() - started
        s.degraded = self.availability.reasons

    async def batches(self) -> AsyncGenerator[Batch, None]:
        started = time.monotonic()
        try:
            # aclosing: a caller that stops early stops the listing's reader at once.
            async with contextlib.aclosing(self._run()) as run:
                async for batch in run:
                    yield batch
            self.summary.completed = True
        finally:
            self.finish_summary(started)

    async def _run(self) -> AsyncGenerator[Batch, None]:
        settings = self.settings
        claims = await self.client.token_claims() or {}
        grants = Grants.from_claims(claims)
        if not grants.allows("users"):
            raise CollectionError(f"cannot list users: {grants.missing('users')}")
        tenant_uid = str(claims.get("tid") or settings.tenant_id)
        previous = Checkpoint.parse(self._raw_checkpoint, str(settings.tenant_id))
        overlap = timedelta(minutes=int(settings.incremental_overlap_minutes))
        resume = previous.in_progress
        now = datetime.fromtimestamp(self._clock(), UTC)

        if resume is not None:
            since = parse_graph_datetime(resume.get("since"))
            collected_at_ms = int(resume.get("collected_at_ms") or now.timestamp() * 1000)
            self.summary.mode = "resumed"
        else:
            since = previous.watermark - overlap if previous.watermark and not self.full else None
            collected_at_ms = int(now.timestamp() * 1000)
            self.summary.mode = "incremental" if since else "full"
        progress = Progress(collected_at_ms, since, overlap, now)
        if resume is not None:
            _restore(progress, resume)

        for feature in ("groups", "roles", "last_sign_in", "risk"):
            reason = grants.missing(feature)
            if reason:
                self.availability.degrade(feature, reason)
        flags = resume.get("query", {}) if resume is not None else {}
        stored_fields = flags.get("fields")
        query = UserQuery(
            fields=tuple(f for f in ocsf.GRAPH_USER_FIELDS
                         if not isinstance(stored_fields, list) or f in stored_fields),
            page_size=int(settings.page_size),
            since=since,
            members_only=not settings.include_guests,
            domains=tuple(settings.domains or ()),
            sign_in=self.availability.available("last_sign_in") and bool(flags.get("sign_in", True)),
            manager=bool(flags.get("manager", True)),
            advanced=bool(flags.get("advanced", True)),
        )
        seen: set[str] = set(previous.recent_ids)
        if resume is not None:
            seen.update(str(i) for i in resume.get("skip_ids") or ())
        listing = UserListing(self.client, self.availability, query,
                              resume.get("resume_url") if resume else None)
        mfa = MfaPlan(self.client, self.availability, grants, fallback=self._fallback,
                      cloud_name=self.cloud_name,
                      auto_limit=mfa_lookups_per_run(
                          float(getattr(settings, "mfa_fallback_share", 0.5)),
                          getattr(settings, "mfa_fallback_per_run", None)))

        roles = asyncio.ensure_future(self._optional("roles", admin_roles(self.client)))
        try:
            lookups = Lookups()
            if since is not None:
                await listing.peek(SMALL_RUN_USERS)
            if since is not None and listing.ended and listing.buffered_users <= SMALL_RUN_USERS:
                self.summary.strategy = "per-user"
                ids = [u["id"] for p in listing.buffer for u in p.page.items
                       if isinstance(u.get("id"), str) and u["id"] not in seen and self._keep(u)]
                lookups.memberships, _, lookups.risk = await gather_all(
                    self._optional("groups", memberships_of(self.client, ids)),
                    mfa.fill(ids) if mfa.per_user else mfa.read_report(ids),
                    self._risk(),
                )
            else:
                self.summary.strategy = "bulk"
                # The listing asks first and goes on while the lookups load: with
                # signInActivity it is the scarcest limit (user_listing.py).
                listing.read_ahead()
                lookups.memberships, _, lookups.risk = await gather_all(
                    self._optional("groups", group_memberships(self.client)),
                    mfa.read_report(),
                    self._risk(),
                )
            lookups.roles = self.roles = await roles
            self.risk = lookups.risk
            lookups.sso_apps = await self._sso_apps()
        except BaseException:
            await listing.aclose()
            raise
        finally:
            # Also when another source failed first: the roles task's own error must be
            # collected here, or asyncio prints its traceback when the task is collected.
            roles.cancel()
            await asyncio.gather(roles, return_exceptions=True)

        join = PageJoin(lookups=lookups, keep=self._keep, summary=self.summary,
                        tenant_uid=tenant_uid, product=self.product,
                        collected_at_ms=progress.collected_at_ms, memory=self.memory)
        try:
            async for batch in self._join(listing, join, mfa, progress, previous, seen):
                yield batch
        finally:
            await listing.aclose()

    async def _join(self, listing: UserListing, join: PageJoin, mfa: MfaPlan, progress: Progress,
                    previous: Checkpoint, seen: set[str]) -> AsyncIterator[Batch]:
        """Users page by page -> events; a batch every `batch_size` events and at the end."""
        batch_size = max(1, int(self.settings.batch_size))
        buffer: list[bytes] = []
        memory = self.memory
        async for listed in listing.pages():
            page = listed.page
            page_ids: list[str] = []
            progress.query = listed.flags
            fresh = join.fresh(page.items, seen, progress, restarted=listed.restarted)
            if memory is not None:
                memory.note_listed(u["id"] for u in page.items
                                   if isinstance(u, dict) and isinstance(u.get("id"), str))
                memory.load(u["id"] for u in fresh)
            await mfa.fill([u["id"] for u in fresh if mfa.wants(u)],
                           memory.remembers_mfa if memory is not None else None)
            for uid, data in join.events(fresh, mfa.table, seen, progress):
                buffer.append(data)
                page_ids.append(uid)
                if len(buffer) >= batch_size:
                    self.summary.events += len(buffer)
                    yield Batch(buffer, previous.to_json(progress.to_json(page.url, page_ids)),
                                writes=memory.take() if memory is not None else None)
                    buffer = []
        mfa.finish()
        self.summary.events += len(buffer)
        self.summary.listing_restarts = listing.restarts
        if self.summary.mode != "full":
            self.summary.new_users = self.summary.events
        self.summary.mfa_learned += mfa.asked
        writes = None
        if memory is not None:
            writes = memory.take() or StoreWrites()
            writes.merge(memory.final_writes)
        yield Batch(buffer, self._final_checkpoint(previous, progress), writes=writes)

    def _final_checkpoint(self, previous: Checkpoint, progress: Progress) -> dict[str, Any]:
        mark = progress.watermark()
        if mark is None:
            # Nothing with a creation time was seen: keep the old mark, or start from now.
            done = Checkpoint(previous.tenant_id, previous.watermark or progress.started,
                              previous.recent_ids)
        else:
            done = Checkpoint(previous.tenant_id, mark, frozenset(progress.recent_ids()))
        return done.to_json(None)



def _restore(progress: Progress, resume: Mapping[str, Any]) -> None:
    """Carry an interrupted run's bookkeeping into the process that resumes it."""
    progress.max_created = parse_graph_datetime(resume.get("max_created"))
    progress.started = parse_graph_datetime(resume.get("started")) or progress.started
    upto = resume.get("ordered_upto")
    progress.upto = progress.earlier_upto = upto if isinstance(upto, str) else None
    progress.ordered = progress.upto is not None
    for pair in resume.get("recent") or ():
        if isinstance(pair, list) and len(pair) == 2:
            created = parse_graph_datetime(pair[1])
            if created is not None:
                progress.recent[str(pair[0])] = created
