"""Change tracking: every run after the first emits, besides the new users, one event with the
full current state of each user whose inventory facts changed since their last delivered event.

A tracked run (`TrackedRun`, used when the plugin has a state store) is one of:

- **full**: the first run, a forced one (`run --full`), a periodic resync (`full_resync_hours`)
  or the fallback when Graph refuses a stored delta link. It starts tracking *before* listing:
  `$deltatoken=latest` links for users and groups are kept as `pending.*` cursors (the first
  batch commits them), then the users collection runs in full, remembering each user's document;
  its last batch promotes the pending cursors. Changes made while it ran are read again by the
  next run, where the fingerprints drop those already delivered.
- **changes**: the `createdDateTime` incremental runs first, as it always has (new users, with
  their facts; its listing also lets late-replicated users show, so the delta rounds read next
  are not held back by them); then the change sources are read (an expired link turns the rest
  of the run into a full collection) and every other changed user is emitted from the stored
  document merged with what changed. Cursors move in the last batch only, after every event
  they cover; the documents of each batch's users move with that batch, so a run killed between
  two batches re-reads the same changes and emits only the users not yet delivered.

User risk: `riskyUsers` documents no filter on `riskLastUpdatedDateTime` (Graph may refuse it),
so Identity Protection's whole list is read (`risk_refresh_minutes`; pages of 500, one request
after another: it allows 1 request a second per tenant) and diffed against the list read last
time, kept in the store: users whose risk changed, and users it no longer lists (back to no
risk), are emitted. The list also gives this run's new users their risk, so no per-user
`riskyUsers/{id}` lookups are made; between two reads they get the last list's answer.

Managers: `users/delta` reports a manager change as `manager@delta`, but Graph's trackers report
it missing (microsoft-graph-docs #15842, graph-explorer-v4 #4018), and then a manager-only
change may not bring the user back at all. So on its cadence (`manager_refresh_hours`) a run
also lists every user's manager (`$select=id&$expand=manager`, 999 users a request) and compares
it, page by page, with the stored documents; users whose manager differs are emitted
(`manager@delta`, when Graph sends it, still wins and works at every run).

Cadences: last sign-in (`sign_in_refresh_hours`) lists only users whose
`signInActivity/lastSignInDateTime` moved since the previous refresh; the per-user MFA fallback
asks as many users as `mfa_fallback_share` of the reports budget allows per `mfa_fallback_hours`, longest-unknown first, then
the oldest learnt once older than `mfa_refresh_days` (users the audit log names are read at
every run, whatever the cadence).

MFA registrations, one read for two streams: while the directory audit stream is enabled and
has read further than this stream's MFA cursor, the users it saw registering or deleting
security info come from its notes in the store (`connector.streams.mfa_handoff`), not from a
second read of the audit log; otherwise (disabled, not run yet, not run since) the audit log is
read here as before. Notes are taken whichever way, and removed in the last batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connector.graph.budget import mfa_lookups_per_run
from connector.graph.changes import (
    GROUPS_DELTA,
    GroupChanges,
    UserChanges,
    deleted_since,
    group_changes,
    manager_pages,
    mfa_changed_users,
    sign_ins_of,
    sign_ins_since,
    user_changes,
    users_latest_link,
)
from connector.graph.client import EXPIRED_PAGE_TOKEN, GraphClient, GraphError, gather_all
from connector.graph.dates import format_graph_datetime, parse_graph_datetime
from connector.graph.odata import (
    Availability,
    DeltaExpired,
    is_refusal,
    latest_link,
    refusal_reason,
)
from connector.graph.permissions import Grants
from connector.graph.sources import (
    NO_RISK,
    MfaTable,
    RiskTable,
    admin_roles,
    memberships_of,
    mfa_methods,
    risky_users,
)
from connector.ocsf import user_inventory as ocsf
from connector.state import StateStore
from connector.streams import facts as remembered
from connector.streams import mfa_handoff
from connector.streams.batch import Batch, StoreWrites
from connector.streams.users import (
    Checkpoint,
    Collection,
    Memory,
    SkippedRecord,
    Summary,
    make_filter,
)

log = logging.getLogger(__name__)

USERS = "users_delta"
GROUPS = "groups_delta"
MFA_AUDIT = "mfa_audit_since"
MFA_AUDIT_SEEN = "mfa_audit_seen"  # ids of audit records inside the look-behind, already read
RISK = "risk_since"  # when Identity Protection's list was last read whole
RISK_LISTED = "risk_listed"  # that list ({id: [level, state, updated]}), to diff the next against
SIGN_INS = "sign_ins_since"
MFA_FALLBACK = "mfa_fallback_at"
MANAGERS = "managers_at"  # the last manager sweep
LAST_FULL = "last_full"
PENDING = "pending."
# Audit records can reach Graph minutes after the fact: read a little behind.
LOOK_BEHIND = timedelta(minutes=15)



def _hours_since(cursor: str | None, now: datetime) -> float | None:
    when = parse_graph_datetime(cursor)
    return None if when is None else (now - when).total_seconds() / 3600


class TrackedRun:
    """One run with a state store: full or changes (see the module docstring)."""

    def __init__(self, settings: Any, client: GraphClient, store: StateStore, *,
                 product: ocsf.Product, cloud_name: str, summary: Summary,
                 full: bool = False, clock: Callable[[], float] | None = None,
                 audit_feed: Callable[[], Awaitable[mfa_handoff.Shared]] | None = None) -> None:
        self.settings = settings
        self.audit_feed = audit_feed  # the audit stream of the same run (mfa_handoff)
        self.client = client
        self.store = store
        self.product = product
        self.cloud_name = cloud_name
        self.summary = summary
        self.force_full = full
        self.now = datetime.fromtimestamp(clock(), UTC) if clock else datetime.now(UTC)
        self.now_iso = format_graph_datetime(self.now)
        self.collection: Collection | None = None

    def _memory(self) -> Memory:
        stale = self.now - timedelta(days=int(self.settings.mfa_refresh_days))
        return Memory(self.store, self.now_iso, format_graph_datetime(stale))

    def _collection(self, checkpoint: Mapping[str, Any] | None, memory: Memory,
                    full: bool = False) -> Collection:
        self.collection = Collection(self.settings, checkpoint, self.client,
                                     product=self.product, cloud_name=self.cloud_name,
                                     memory=memory, full=full, summary=self.summary)
        return self.collection

    @property
    def availability(self) -> Availability:
        return self.collection.availability if self.collection else Availability()

    def _full_reason(self, cursors: Mapping[str, str]) -> str | None:
        if self.force_full:
            return "forced (run --full)"
        if not cursors.get(USERS):
            return "change tracking starts with a full collection"
        every = int(self.settings.full_resync_hours)
        age = _hours_since(cursors.get(LAST_FULL), self.now)
        if every and (age is None or age >= every):
            return (f"periodic resync (the last full collection was {age or 0:.0f} h ago; "
                    f"full_resync_hours is {every})")
        return None

    async def batches(self) -> AsyncIterator[Batch]:
        """The run's batches; once the caller committed the last one, the summary counts the
        users whose MFA is still unknown and Graph's figures cover the whole run."""
        started = time.monotonic()
        try:
            async for batch in self._batches():
                yield batch
            self.summary.completed = True
            self.summary.mfa_unknown = self.store.counts()["mfa_unknown"]
        finally:
            if self.collection is not None:
                self.collection.finish_summary(started)
                self.summary.degraded = {**self.summary.degraded,
                                         **self.availability.reasons}

    async def _batches(self) -> AsyncIterator[Batch]:
        summary = self.summary
        summary.tracking = "on"
        cursors = self.store.cursors()
        checkpoint = self.store.load("users")
        resuming = bool(Checkpoint.parse(checkpoint, str(self.settings.tenant_id)).in_progress)
        summary.cadences = {"full_resync": cursors.get(LAST_FULL),
                            "sign_in_refresh": cursors.get(SIGN_INS),
                            "mfa_fallback": cursors.get(MFA_FALLBACK)}
        if resuming and cursors.get(PENDING + USERS):
            summary.full_reason = "resuming an interrupted full collection"
            async for batch in self._full(checkpoint, cursors, start=False):
                yield batch
            return
        reason = None if resuming else self._full_reason(cursors)
        if reason is not None:
            summary.full_reason = reason
            async for batch in self._full(checkpoint, cursors, start=True):
                yield batch
            return
        # New users first: the listing also lets late-replicated users show, so the change
        # sources read next are not held back by them.
        memory = self._memory()
        last = checkpoint or {}
        emitted: set[str] = set()
        reader = ChangeReader(self, cursors)
        collection = self._collection(checkpoint, memory)
        risk_read = asyncio.ensure_future(reader.read_risk())
        collection.recent_risk = risk_read
        try:
            async for batch in collection.batches():
                last = batch.checkpoint
                if batch.writes:
                    emitted.update(batch.writes.users)
                yield batch
            await risk_read
        finally:
            if not risk_read.done():
                risk_read.cancel()
                await asyncio.gather(risk_read, return_exceptions=True)
        if not cursors.get(USERS):
            return
        summary.completed = False
        try:
            await reader.read()
        except DeltaExpired as expired:
            summary.full_reason = f"{expired}; falling back to a full collection"
            log.warning("%s", summary.full_reason)
            async for batch in self._full(last, cursors, start=True):
                yield batch
            return
        async for batch in reader.batches(last, emitted):
            yield batch

    async def _full(self, checkpoint: Mapping[str, Any] | None, cursors: Mapping[str, str],
                    *, start: bool) -> AsyncIterator[Batch]:
        """A full collection that starts (or resumes) change tracking."""
        memory = self._memory()
        memory.keep_listed = True
        if start:
            pending = await self._start_tracking()
            pending.clear_listed = True
            cursors = {**cursors, **{k: v for k, v in pending.cursors.items() if v}}
            memory.first_writes = pending
        else:  # what the interrupted part listed counts for the sweep
            memory.listed = self.store.listed_ids()
        promoted: dict[str, str | None] = {
            name: cursors.get(PENDING + name)
            for name in (USERS, GROUPS, MFA_AUDIT, RISK, SIGN_INS, LAST_FULL, MFA_FALLBACK,
                         MANAGERS)}
        promoted.update({PENDING + name: None for name in list(promoted)})
        last: Mapping[str, Any] = checkpoint or {}
        async for batch in self._collection(None if start else checkpoint, memory,
                                            full=True).batches():
            last = batch.checkpoint
            yield batch
        # Tracking starts in the very last batch, after the sweep's events: a run killed before
        # it resumes the full collection, whose sweep covers what every part of it listed.
        sweep = StoreWrites()
        events: list[bytes] = []
        # A listing restarted after an expired page token lists from the start again, so what
        # every pass showed (`memory.listed`) still covers the whole directory.
        if self.collection is not None:
            events, sweep = await self._sweep(memory.listed)
        sweep.clear_listed = True
        sweep.cursors.update(promoted)
        risk = self.collection.risk if self.collection is not None else None
        sweep.cursors[RISK_LISTED] = risk.to_json() if risk is not None else None
        yield Batch(events, dict(last), writes=sweep)
        self.summary.cadences = {"full_resync": cursors.get(PENDING + LAST_FULL),
                                 "sign_in_refresh": cursors.get(PENDING + SIGN_INS),
                                 "mfa_fallback": cursors.get(PENDING + MFA_FALLBACK)}

    async def _sweep(self, listed: set[str]) -> tuple[list[bytes], StoreWrites]:
        """After a complete full listing: stored users it no longer shows were deleted while
        no delta told us (a refused delta link, a first run over an older state); each is
        emitted once as deleted, soft when deleted items still hold them, else hard."""
        writes = StoreWrites()
        events: list[bytes] = []
        missing = sorted(self.store.present_ids() - listed)
        if not missing:
            return events, writes
        found = await deleted_since(self.client, missing)
        docs = self.store.user_docs(missing)
        collected_at_ms = int(self.now.timestamp() * 1000)
        claims = await self.client.token_claims() or {}
        tenant = str(claims.get("tid") or self.settings.tenant_id)
        keep = make_filter(bool(self.settings.include_guests), self.settings.domains or ())
        for uid in missing:
            doc = docs.get(uid)
            if doc is None or not keep(doc.get("user") or {}):
                continue
            kind = "soft" if uid in found else "hard"
            gone = remembered.with_changes(
                doc, deleted={"kind": kind, "at": found.get(uid) or self.now_iso})
            events.append(orjson.dumps(ocsf.to_event(
                gone["user"], remembered.facts_of(gone), collected_at_ms=collected_at_ms,
                tenant_id=tenant, product=self.product)))
            writes.users[uid] = gone
        self.summary.deleted_users += len(events)
        self.summary.events += len(events)
        self.summary.change_sources.append("full listing vs store (deletions)")
        return events, writes

    async def _start_tracking(self) -> StoreWrites:
        """Delta links meaning "from now", taken before the users are listed."""
        from connector.ocsf.user_inventory import GRAPH_USER_FIELDS

        grants = Grants.from_claims(await self.client.token_claims() or {})
        writes = StoreWrites()
        writes.cursors[PENDING + USERS] = await users_latest_link(self.client, GRAPH_USER_FIELDS)
        if grants.allows("groups"):
            try:
                writes.cursors[PENDING + GROUPS] = await latest_link(self.client, GROUPS_DELTA)
            except GraphError as error:
                if not is_refusal(error):
                    raise
                log.warning("group membership changes will not be tracked: %s",
                            refusal_reason(error))
        for name in (MFA_AUDIT, RISK, SIGN_INS, LAST_FULL, MFA_FALLBACK, MANAGERS):
            writes.cursors[PENDING + name] = self.now_iso
        return writes


class ChangeReader:
    """Reads every change source once, then turns the changes into batches."""

    def __init__(self, run: TrackedRun, cursors: Mapping[str, str]) -> None:
        self.run = run
        self.client = run.client
        self.store = run.store
        self.settings = run.settings
        self.summary = run.summary
        self.cursors = cursors
        self.now = run.now
        self.now_iso = run.now_iso
        self.users = UserChanges()
        self.groups = GroupChanges()
        self.roles: dict[str, tuple[str, ...]] | None = None
        self.mfa_audited: set[str] = set()
        self.audit_seen: list[str] = []
        self.handoff = mfa_handoff.Handoff((), frozenset(), None)
        self.mfa_shared = False  # MFA changes from the audit stream's read, not our own
        self.fallback_due = False
        self.risk: RiskTable | None = None  # users whose risk changed since the last read
        self.risk_listed: RiskTable | None = None  # the whole list, when read this run
        self.sign_ins: dict[str, dict[str, Any]] | None = None
        self.managers: dict[str, dict[str, Any] | None] = {}  # the sweep's finds
        self.managers_swept = False
        self.degraded: dict[str, str] = {}
        self.strangers: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}
        self.grants = Grants.from_claims({})
        self.tenant_uid = str(self.settings.tenant_id)

    def _source(self, name: str) -> None:
        if name not in self.summary.change_sources:
            self.summary.change_sources.append(name)

    async def _optional(self, feature: str, source: str, work: Any) -> Any:
        try:
            result = await work
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.degraded[feature] = refusal_reason(error)
            log.warning("%s not read: %s", source, refusal_reason(error))
            return None
        self._source(source)
        return result

    def _since(self, name: str) -> datetime:
        when = parse_graph_datetime(self.cursors.get(name)) or self.now
        return when - LOOK_BEHIND

    async def read(self) -> None:
        claims = await self.client.token_claims() or {}
        self.grants = Grants.from_claims(claims)
        self.tenant_uid = str(claims.get("tid") or self.settings.tenant_id)
        self.users = await user_changes(self.client, self.cursors[USERS])
        self._source("users/delta")
        if self.cursors.get(GROUPS):
            self.groups = await group_changes(self.client, self.cursors[GROUPS])
            self._source("groups/delta")
        for reason in (*self.users.dropped, *self.groups.dropped):
            self.summary.skipped.add(SkippedRecord(None, reason), None, reason, "change")
        sign_in_due = self._sign_in_due()
        known_roles = self.run.collection.roles if self.run.collection else None
        if known_roles is not None:
            self._source("role assignments (re-read)")
        shared = await self.run.audit_feed() if self.run.audit_feed is not None else None
        notes, covered = mfa_handoff.with_shared(*mfa_handoff.stored(self.store), shared)
        self.handoff = mfa_handoff.notes_of(notes, covered)
        self.mfa_shared = mfa_handoff.use_shared(
            bool(self.settings.directory_audits.enabled), self.handoff,
            parse_graph_datetime(self.cursors.get(MFA_AUDIT)))
        if self.mfa_shared:
            self._source(f"directory audit stream's read (MFA registrations: "
                         f"{len(self.handoff.ids)} records)")
        roles, audits, sign_ins = await gather_all(
            self._optional("roles", "role assignments (re-read)", admin_roles(self.client))
            if self.grants.allows("roles") and known_roles is None else _none(),
            self._optional("mfa", "directoryAudits (MFA registrations)",
                           mfa_changed_users(self.client, self._since(MFA_AUDIT)))
            if self.grants.allows("mfa_report") and not self.mfa_shared else _none(),
            self._optional("last_sign_in", "signInActivity (sign-in refresh)",
                           sign_ins_since(self.client, self._since(SIGN_INS)))
            if sign_in_due and self.grants.allows("last_sign_in") else _none(),
        )
        self.roles = known_roles if known_roles is not None else roles
        self.sign_ins = sign_ins
        if self._managers_due():
            await self._sweep_managers()
        seen = set(orjson.loads(self.cursors.get(MFA_AUDIT_SEEN) or "[]"))
        horizon = format_graph_datetime(self.now - LOOK_BEHIND)
        self.audit_seen = sorted({r.id for r in audits or () if r.when >= horizon})
        self.mfa_audited = {r.user_id for r in audits or () if r.id not in seen}
        self.mfa_audited |= self.handoff.users

    async def read_risk(self) -> RiskTable | None:
        """Identity Protection's whole list when its cadence is due (else the list read last
        time), for this run's new users; what changed since the last read goes to `risk`."""
        claims = await self.client.token_claims() or {}
        if not Grants.from_claims(claims).allows("risk"):
            return None
        previous = RiskTable.from_json(self.cursors.get(RISK_LISTED))
        if not self._risk_due():
            return previous
        listed: RiskTable | None = await self._optional(
            "risk", "riskyUsers (whole list, diffed with the last)", risky_users(self.client))
        if listed is None:
            return None
        self.risk_listed = listed
        self.risk = listed.changes_since(previous)
        return listed

    def _risk_due(self) -> bool:
        every = int(getattr(self.settings, "risk_refresh_minutes", 0))
        age = _hours_since(self.cursors.get(RISK), self.now)
        return every == 0 or age is None or age * 60 >= every

    def _managers_due(self) -> bool:
        every = int(getattr(self.settings, "manager_refresh_hours", 24))
        age = _hours_since(self.cursors.get(MANAGERS), self.now)
        return every == 0 or age is None or age >= every

    async def _sweep_managers(self) -> None:
        """Users whose manager differs from their stored one; only they are kept in memory."""
        try:
            async for page in manager_pages(self.client):
                docs = self.store.user_docs(list(page))
                for uid, manager in page.items():
                    doc = docs.get(uid)
                    if doc is None or doc.get("deleted"):
                        continue
                    stored = (doc.get("manager") or {}).get("id")
                    if stored != (manager or {}).get("id"):
                        self.managers[uid] = manager
        except GraphError as error:
            if error.code != EXPIRED_PAGE_TOKEN and not is_refusal(error):
                raise
            log.warning("manager sweep not completed (%s): the next run sweeps again",
                        error.code or error.status)
            self.managers = {}
            return
        self.managers_swept = True
        self._source(f"manager sweep ({len(self.managers)} changed)")

    def _sign_in_due(self) -> bool:
        every = int(self.settings.sign_in_refresh_hours)
        age = _hours_since(self.cursors.get(SIGN_INS), self.now)
        return age is None or age >= every

    # --- merging ----------------------------------------------------------------------------

    async def batches(self, checkpoint: Mapping[str, Any], exclude: set[str]
                      ) -> AsyncIterator[Batch]:
        docs, new_docs, affected = await self._merge(exclude)
        batch_size = max(1, int(self.settings.batch_size))
        events: list[bytes] = []
        writes = StoreWrites()
        collected_at_ms = int(self.now.timestamp() * 1000)
        for uid in sorted(affected):
            doc = new_docs.get(uid)
            if doc is None:
                continue
            before = docs.get(uid)
            if before is not None and before.get("fp") == doc.get("fp"):
                writes_later = doc != before
                if writes_later:
                    self._pending[uid] = doc
                continue
            try:
                event = ocsf.to_event(doc["user"], remembered.facts_of(doc),
                                      collected_at_ms=collected_at_ms,
                                      tenant_id=self.tenant_uid, product=self.run.product)
            except Exception as exc:  # one bad record never ends the run
                log.warning("skipped user %s: %s", uid, exc)
                continue
            self._count(before, doc)
            events.append(orjson.dumps(event))
            writes.users[uid] = doc
            if len(events) >= batch_size:
                self.summary.events += len(events)
                yield Batch(events, dict(checkpoint), writes=writes)
                events, writes = [], StoreWrites()
        writes.users.update(self._pending)
        writes.cursors.update(self._next_cursors())
        if self.handoff.ids:  # the notes taken (connector.streams.mfa_handoff)
            writes.entities.setdefault(mfa_handoff.KIND, {}).update(
                dict.fromkeys(self.handoff.ids))
        self.summary.events += len(events)
        for feature, reason in self.degraded.items():
            self.run.availability.degrade(feature, reason)
        self.summary.degraded = self.run.availability.reasons
        yield Batch(events, dict(checkpoint), writes=writes)

    def _count(self, before: Mapping[str, Any] | None, doc: Mapping[str, Any]) -> None:
        deleted = doc.get("deleted")
        was = before.get("deleted") if before else None
        if deleted and (not was or was.get("kind") != deleted.get("kind")):
            self.summary.deleted_users += 1
        elif was and not deleted:
            self.summary.restored_users += 1
        elif before is None or doc.get("user", {}).get("id") in self.strangers:
            self.summary.new_users += 1
        else:
            self.summary.changed_users += 1

    def _next_cursors(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {USERS: self.users.link}
        if self.groups.link:
            out[GROUPS] = self.groups.link
        if self.mfa_shared and self.handoff.covered is not None:
            out[MFA_AUDIT] = format_graph_datetime(self.handoff.covered)
            out[MFA_AUDIT_SEEN] = "[]"
        elif "mfa" not in self.degraded:
            out[MFA_AUDIT] = self.now_iso
            out[MFA_AUDIT_SEEN] = orjson.dumps(self.audit_seen).decode()
        if self.risk_listed is not None:
            out[RISK] = self.now_iso
            out[RISK_LISTED] = self.risk_listed.to_json()
        if self.sign_ins is not None:
            out[SIGN_INS] = self.now_iso
        if self.fallback_due:
            out[MFA_FALLBACK] = self.now_iso
        if self.managers_swept:
            out[MANAGERS] = self.now_iso
        self.summary.cadences = {
            "full_resync": self.cursors.get(LAST_FULL),
            "sign_in_refresh": out.get(SIGN_INS) or self.cursors.get(SIGN_INS),
            "mfa_fallback": out.get(MFA_FALLBACK) or self.cursors.get(MFA_FALLBACK)}
        return out

    async def _merge(self, exclude: set[str]) -> tuple[
            dict[str, dict[str, Any]], dict[str, dict[str, Any]], set[str]]:
        """Stored documents of every affected user, and their documents after the changes."""
        users, groups = self.users, self.groups
        keep = make_filter(bool(self.settings.include_guests), self.settings.domains or ())
        affected: set[str] = set(users.present) | set(users.removed) | groups.users()
        renamed: dict[str, str | None] = {}
        if groups.names or groups.deleted:
            stored_names = self.store.group_names([*groups.names, *groups.deleted])
            renamed = {gid: name for gid, name in groups.names.items()
                       if gid in stored_names and stored_names[gid] != name}
            touched = [*renamed, *(g for g in groups.deleted if g in stored_names)]
            for members in self.store.members_of(touched).values():
                affected.update(members)
        role_changes: dict[str, tuple[str, ...]] = {}
        if self.roles is not None:
            role_changes = remembered.changed_roles(self.store.admins(), self.roles)
            affected.update(role_changes)
        if self.risk is not None:
            affected.update(self.risk.by_user)
        if self.sign_ins is not None:
            affected.update(self.sign_ins)
        mfa_table, asked = await self._mfa(exclude)
        affected.update(asked)
        affected.update(self.managers)
        affected -= exclude

        managers = {m for m in users.managers.values() if m}
        docs = self.store.user_docs([*affected, *managers])
        strangers = [uid for uid in affected
                     if uid not in docs and uid in users.present and keep(users.present[uid])]
        docs.update(await self._strangers(strangers, mfa_table))
        self.strangers.update(strangers)
        unknown = [uid for uid in users.removed if uid not in docs and uid not in exclude]
        if unknown:  # deleted before any run delivered them, or never in scope
            self.summary.unknown_removals += len(unknown)
            log.info("%d users/delta removals of users never delivered: nothing to emit",
                     len(unknown))
        soft = [uid for uid, reason in users.removed.items()
                if reason == "changed" and uid in docs and uid not in exclude]
        deleted_at = await deleted_since(self.client, soft) if soft else {}
        if soft:
            self._source("directory/deletedItems")
        gone_managers = self._gone_managers(docs)

        out: dict[str, dict[str, Any]] = {}
        for uid in affected:
            doc = docs.get(uid)
            if doc is None:
                continue
            change: dict[str, Any] = {}
            record = users.present.get(uid)
            if record is not None:
                if not keep(record):
                    continue
                change["user"] = record
            if uid in users.managers:
                mid = users.managers[uid]
                change["manager"] = _manager_ref(mid, docs.get(mid) if mid else None)
            elif uid in self.managers:
                change["manager"] = self.managers[uid]
            manager = change["manager"] if "manager" in change else doc.get("manager")
            if isinstance(manager, Mapping) and manager.get("id") in gone_managers:
                change["manager"] = None
            reason = users.removed.get(uid)
            if reason is not None:
                kind = "soft" if reason == "changed" and uid in deleted_at else "hard"
                previous = doc.get("deleted") or {}
                when = deleted_at.get(uid) if kind == "soft" else (
                    previous.get("at") if previous.get("kind") == "hard" else self.now_iso)
                change["deleted"] = {"kind": kind, "at": when or self.now_iso}
            if doc.get("groups") is not None:
                added = {gid: groups.names.get(gid, (self._name(gid)))
                         for gid, members in groups.added.items() if uid in members}
                gone = [gid for gid, members in groups.removed.items() if uid in members]
                change["groups"] = remembered.apply_group_changes(
                    doc["groups"], added=added, removed=[*gone, *groups.deleted],
                    renamed=renamed)
            if uid in role_changes:
                change["roles"] = list(role_changes[uid])
            found = mfa_table.get(uid)
            if found is not None:
                change["mfa"] = {"registered": found.registered, "methods": list(found.methods)}
                change["mfa_at"] = self.now_iso
            elif uid in asked and doc.get("mfa") is None:
                change["mfa_at"] = self.now_iso  # asked, no answer: to the back of the queue
            if self.risk is not None and uid in self.risk.by_user:
                r = self.risk.get(uid)
                change["risk"] = {"level": r.level, "state": r.state, "updated": r.updated}
            if self.sign_ins is not None and uid in self.sign_ins:
                change["sign_in"] = self.sign_ins[uid]
            out[uid] = remembered.with_changes(doc, **change)
        return docs, out, affected

    def _gone_managers(self, docs: dict[str, dict[str, Any]]) -> set[str]:
        """Ids of managers deleted in this run or before it, among those of the affected users:
        Entra ID drops a deleted manager from their reports, and a report deleted at the time
        (restored since) was not told (users/delta brings no `manager@delta` for it)."""
        gone = set(self.users.removed)
        wanted = {str(m["id"]) for doc in docs.values()
                  if isinstance(m := doc.get("manager"), Mapping) and m.get("id")}
        unknown = [mid for mid in wanted - gone if mid not in docs]
        stored = {**docs, **(self.store.user_docs(unknown) if unknown else {})}
        gone.update(mid for mid in wanted if mid not in self.users.present
                    and (stored.get(mid) or {}).get("deleted"))
        return gone & wanted

    def _name(self, gid: str) -> str | None:
        return self.store.group_names([gid]).get(gid)

    async def _mfa(self, exclude: set[str]) -> tuple[MfaTable, set[str]]:
        """Per-user MFA for users the audit log names, then the fallback's share."""
        table = MfaTable()
        settings = self.settings
        budget = {"auto": mfa_lookups_per_run(float(getattr(settings, "mfa_fallback_share", 0.5)),
                                              getattr(settings, "mfa_fallback_per_run", None)),
                  "always": 1 << 30, "never": 0}[settings.mfa_fallback]
        audited = [u for u in sorted(self.mfa_audited) if u not in exclude]
        audited += self._enabled_without_mfa(exclude)
        if not self.grants.allows("mfa_methods") or self.run.cloud_name == "china":
            return table, set()
        stale = format_graph_datetime(self.now - timedelta(days=int(settings.mfa_refresh_days)))
        age = _hours_since(self.cursors.get(MFA_FALLBACK), self.now)
        self.fallback_due = age is None or age >= int(settings.mfa_fallback_hours)
        room = max(0, budget - len(audited)) if self.fallback_due else 0
        fallback = [u for u in self.store.mfa_candidates(room + len(exclude), stale)
                    if u not in exclude and u not in self.mfa_audited][:room]
        ask = [*audited, *fallback]
        if not ask:
            return table, set()
        try:
            await mfa_methods(self.client, ask, table)
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.degraded["mfa"] = refusal_reason(error)
            return MfaTable(), set()
        self._source(f"per-user MFA methods ({len(audited)} audited, {len(fallback)} fallback)")
        self.summary.mfa_learned += len(table)
        return table, set(ask)

    def _enabled_without_mfa(self, exclude: set[str]) -> list[str]:
        """Users `users/delta` reports enabled whose stored MFA is unknown: a full collection
        spends no lookup on a disabled account, so one enabled again is asked now (issue 14)."""
        enabled = [uid for uid, record in self.users.present.items()
                   if record.get("accountEnabled") is True and uid not in exclude
                   and uid not in self.mfa_audited]
        if not enabled:
            return []
        docs = self.store.user_docs(enabled)
        return sorted(uid for uid, doc in docs.items() if doc.get("mfa") is None)

    async def _strangers(self, ids: Sequence[str], mfa_table: MfaTable
                         ) -> dict[str, dict[str, Any]]:
        """Documents for changed users the store never saw, from per-user lookups."""
        if not ids:
            return {}
        memberships = await memberships_of(self.client, ids) \
            if self.grants.allows("groups") else None
        risk = self.risk
        await mfa_methods(self.client, [u for u in ids if mfa_table.get(u) is None], mfa_table) \
            if self.grants.allows("mfa_methods") else None
        sign_ins = await self._optional(
            "last_sign_in", "signInActivity (users not stored)", sign_ins_of(self.client, ids)) \
            if self.grants.allows("last_sign_in") else None
        out: dict[str, dict[str, Any]] = {}
        for uid in ids:
            found = mfa_table.get(uid)
            r = risk.get(uid) if risk is not None else None
            facts = ocsf.UserFacts(
                groups=tuple(ocsf.Group(g, n) for g, n in memberships.groups_of(uid))
                if memberships is not None else None,
                roles=tuple((self.roles or {}).get(uid, ())) if self.roles is not None else None,
                mfa=ocsf.Mfa(found.registered, found.methods) if found is not None else None,
                risk=None if r is None else ocsf.Risk(
                    NO_RISK.level if r is NO_RISK else r.level, r.state, r.updated),
            )
            # An empty document: everything the user is now comes in as a change.
            user: dict[str, Any] = {"id": uid}
            if sign_ins and uid in sign_ins:  # delta cannot bring it: kept by `with_changes`
                user["signInActivity"] = sign_ins[uid]
            doc = remembered.make_doc(user, facts, mfa_at=self.now_iso)
            doc["fp"] = ""
            out[uid] = doc
        return out


def _manager_ref(manager_id: str | None, doc: Mapping[str, Any] | None
                 ) -> dict[str, Any] | None:
    if manager_id is None:
        return None
    ref: dict[str, Any] = {"id": manager_id}
    user = doc.get("user") if doc else None
    if isinstance(user, Mapping):
        for key in ("displayName", "userPrincipalName"):
            if user.get(key) is not None:
                ref[key] = user[key]
    return ref


async def _none() -> None:
    return None
