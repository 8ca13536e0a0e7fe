"""The directory audit stream: who changed what, as OCSF account, group, privilege and entity
change events (3001, 3006, 3005, 3004), incremental and late-arrival safe.

Audit records appear in Graph minutes (Microsoft) to tens of minutes (practitioners) after
`activityDateTime`, so the stream reads exactly as the sign-in stream does, with the same
window (`connector.streams.log_window`; `connector.streams.sign_ins` has the reasoning): each run lists one window `[since, until]`
newest first (Graph's default order); `until` is the run's start in whole seconds, `since` the
last complete run's `until` minus `overlap_minutes` (first run: `until - lookback_days`, never
older than the tenant's retention: 7 days free, 30 days P1/P2); every `deep_reread_minutes` a
run reaches back to `deep_overlap_minutes` before the previous deep re-read, for stragglers;
the ids delivered inside the next runs' windows are remembered (`seen`), so the re-read parts
yield exactly the late arrivals.

What differs from sign-ins:

- `activityDateTime` takes `ge`/`le` only (no `lt`). A resumed listing asks `le low + 1 s`
  and passes over what is newer than `low` (handled before the interruption), and over the
  ids of second `low` already handled (`edge_ids`).
- The first run's retention depends on the licence, which only a premium-only endpoint tells:
  when the look-back reaches past 7 days, one `GET /auditLogs/signIns?$top=1` (the same
  AuditLog.Read.All) says: 403 non-premium = 7 days, anything else = 30.
- No licence is needed; a 403 (AuditLog.Read.All missing) before the first page, or a token
  known to lack the permission, skips the stream with one warning (`summary.degraded`).
- Each record's activity name is counted when the activity table has no row for it
  (`summary.unmapped`), so activities Microsoft adds show up in the run summary.
- Authentication Methods records (security info registered, deleted, ...) are handed to the
  user inventory's change tracking (`connector.streams.mfa_handoff`): with a state store, the
  batch that delivers such a record also writes a note naming its target users.

Crash safety is the sign-in stream's: each batch's checkpoint carries the resume point
(`low`, `edge_ids`, `recent`), so a process killed between delivering and committing a batch
re-delivers that batch and nothing else; an expired page token restarts the listing from the
resume point.

Checkpoint (under `"directory_audits"` in the state store):
`{"version": 1, "tenant_id", "cursor": "...Z" | null, "deep_until": "...Z" | null,
  "seen": [[id, epoch_s], ...],
  "in_progress": null | {"since", "until", "deep_until", "low": "...Z" | null, "edge_ids": [...],
  "recent": [[id, epoch_s], ...]}}`
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connector.graph.changes import is_mfa_record, mfa_target_users
from connector.graph.client import GraphClient, GraphError
from connector.graph.dates import parse_graph_datetime
from connector.graph.directory_audits import (
    FREE_RETENTION_DAYS,
    PREMIUM_RETENTION_DAYS,
    AuditQuery,
    directory_audit_pages,
    whole_second,
)
from connector.graph.odata import (
    NON_PREMIUM,
    build_url,
    is_refusal,
    odata_datetime,
    refusal_reason,
)
from connector.graph.permissions import Grants
from connector.graph.sign_ins import SIGN_INS_PATH
from connector.ocsf import directory_audit as ocsf
from connector.ocsf.user_inventory import MappingError, Product
from connector.plugin import StreamPlugin, product
from connector.state import StateStore
from connector.streams import mfa_handoff
from connector.streams.base import Restarts, Skips, restarted
from connector.streams.batch import Batch, StoreWrites
from connector.streams.log_window import (
    Cadence,
    Checkpoint,
    Source,
    Window,
    open_window,
    record_key,
)

__all__ = ["PRODUCT", "STREAM", "AuditSummary", "DirectoryAuditCollection",
           "EntraIdDirectoryAudits", "retention_days"]

log = logging.getLogger(__name__)

STREAM = "directory_audits"
SKIPPED_KEPT = 100
UNMAPPED_KEPT = 50
SOURCE = Source("directory audit", "audit records", "activityDateTime")
PRODUCT = product("Microsoft Entra ID directory audits")


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    record_id: str | None
    reason: str


@dataclass(slots=True)
class AuditSummary:
    """What one audit run did, for the CLI's stderr, the runtime's logs and the benchmarks."""

    mode: str = "first"  # first | incremental | resumed | skipped
    deep: bool = False
    since: str | None = None
    until: str | None = None
    retention_days: int | None = None  # the tenant's, when the run had to know it
    listed: int = 0
    events: int = 0
    by_class: Counter[int] = field(default_factory=Counter)
    unmapped: Counter[str] = field(default_factory=Counter)  # activity name -> records
    already_delivered: int = 0
    skipped: Skips[SkippedRecord] = field(default_factory=lambda: Skips(SKIPPED_KEPT))
    mfa_notes: int = 0  # Authentication Methods records handed to change tracking
    pages: int = 0
    listing_restarts: int = 0
    duration_seconds: float = 0.0
    degraded: dict[str, str] = field(default_factory=dict)
    completed: bool = False

    @property
    def skipped_count(self) -> int:
        return self.skipped.total

    def as_dict(self) -> dict[str, Any]:
        unmapped = self.unmapped.most_common(UNMAPPED_KEPT)
        return {
            "mode": self.mode, "deep_reread": self.deep, "since": self.since,
            "until": self.until, "retention_days": self.retention_days, "listed": self.listed,
            "events": self.events,
            "events_by_class": {str(k): v for k, v in sorted(self.by_class.items())},
            "unmapped_activities": sum(self.unmapped.values()),
            "unmapped_activity_names": dict(unmapped),
            "already_delivered": self.already_delivered,
            "skipped_count": self.skipped_count,
            "skipped": [{"record_id": s.record_id, "reason": s.reason} for s in self.skipped],
            "mfa_notes": self.mfa_notes,
            "graph_pages": self.pages, "listing_restarts": self.listing_restarts,
            "duration_seconds": round(self.duration_seconds, 3),
            "degraded": dict(self.degraded), "completed": self.completed,
        }

    def lines(self) -> list[str]:
        """A short human summary (the CLI prints it on stderr)."""
        if self.mode == "skipped":
            return [f"directory audits not collected: {reason}"
                    for reason in self.degraded.values()]
        mode = f"{self.mode}, deep re-read" if self.deep else self.mode
        classes = ", ".join(f"{n} of class {uid}" for uid, n in sorted(self.by_class.items()))
        out = [f"directory audits ({mode}, {self.since} .. {self.until}): {self.events} events "
               f"from {self.listed} listed in {self.pages} Graph pages, "
               f"{self.duration_seconds:.1f} s" + (f" ({classes})" if classes else "")]
        if self.unmapped:
            names = ", ".join(f"{name} ({n})" for name, n in self.unmapped.most_common(5))
            more = len(self.unmapped) - 5
            out.append(f"directory audits: {sum(self.unmapped.values())} records of "
                       f"{len(self.unmapped)} activities without a row of their own (Entity "
                       f"Management): {names}" + (f" and {more} more" if more > 0 else ""))
        if self.already_delivered:
            out.append(f"directory audits not emitted: {self.already_delivered} already "
                       "delivered")
        if self.skipped.total:
            out.append(self.skipped.shown([s.record_id for s in self.skipped], "audit records"))
        return out


async def retention_days(client: GraphClient) -> int:
    """The tenant's audit retention: 7 days without P1/P2, 30 with (module docstring)."""
    try:
        await client.get_json(build_url(SIGN_INS_PATH, {"$top": 1}))
    except GraphError as error:
        if error.code == NON_PREMIUM:
            return FREE_RETENTION_DAYS
        if not is_refusal(error):
            raise
        log.info("could not tell the tenant's licence (%s): assuming 30 days of audit log",
                 error.code or error.status)
    return PREMIUM_RETENTION_DAYS


class DirectoryAuditCollection:
    """One audit run against one tenant (see module docstring).

    `handoff`: the MFA notes in the state store when the run has a store (this run's notes go
    into the batches' writes, stale ones are dropped); None without a store.
    """

    def __init__(self, settings: Any, checkpoint: Mapping[str, Any] | None, client: GraphClient,
                 *, product: Product, clock: Any = time.time,
                 handoff: mfa_handoff.Notes | None = None) -> None:
        self.settings = settings
        self.client = client
        self.product = product
        self.summary = AuditSummary()
        self._raw_checkpoint = checkpoint
        self._clock = clock
        self._handoff = handoff
        self.notes: dict[str, dict[str, Any]] = {}  # the notes this run wrote (Shared)
        options = settings.directory_audits
        self.query = AuditQuery(page_size=int(options.page_size))
        self.cadence = Cadence.of(options)

    def _degrade(self, reason: str) -> None:
        self.summary.mode = "skipped"
        self.summary.degraded[STREAM] = reason
        log.warning("directory audit logs not collected: %s", reason)

    def _skip(self, record_id: str | None, reason: str) -> None:
        self.summary.skipped.add(SkippedRecord(record_id, reason), record_id, reason,
                                 "audit record")

    async def batches(self) -> AsyncGenerator[Batch, None]:
        started = time.monotonic()
        try:
            async for batch in self._run():
                yield batch
            self.summary.completed = True
        finally:
            self.summary.duration_seconds = time.monotonic() - started

    def shared(self) -> mfa_handoff.Shared:
        """This run's notes and, once it completed, how far it read."""
        covered = parse_graph_datetime(self.summary.until) if self.summary.completed else None
        return mfa_handoff.Shared(dict(self.notes), covered)

    async def _oldest(self, now: datetime, wanted: datetime) -> datetime:
        """The oldest instant Graph still lists, asking the licence only when it matters."""
        if wanted >= now - timedelta(days=FREE_RETENTION_DAYS):
            return now - timedelta(days=PREMIUM_RETENTION_DAYS)
        days = await retention_days(self.client)
        self.summary.retention_days = days
        return now - timedelta(days=days)

    async def _window(self, previous: Checkpoint) -> Window:
        now = whole_second(datetime.fromtimestamp(self._clock(), UTC))
        opening = open_window(previous, now, self.cadence, SOURCE)
        self.summary.mode, self.summary.deep = opening.mode, opening.deep
        window = opening.window
        if opening.mode == "resumed":
            return window
        oldest = await self._oldest(now, window.since)
        if previous.cursor is not None and window.since < oldest:  # incremental
            log.warning("the last directory audit run ended at %s, beyond the tenant's "
                        "retention: records between then and %s are no longer available",
                        odata_datetime(previous.cursor), odata_datetime(oldest))
        window.since = max(window.since, oldest)
        return window

    async def _run(self) -> AsyncIterator[Batch]:
        claims = await self.client.token_claims() or {}
        missing = Grants.from_claims(claims).missing(STREAM)
        if missing:
            self._degrade(missing)
            return
        tenant_uid = str(claims.get("tid") or self.settings.tenant_id)
        previous = Checkpoint.parse(self._raw_checkpoint, str(self.settings.tenant_id),
                                    what=SOURCE.what)
        try:
            window = await self._window(previous)
        except GraphError as error:
            if not is_refusal(error):
                raise
            self._degrade(refusal_reason(error))
            return
        self.summary.since = odata_datetime(window.since)
        self.summary.until = odata_datetime(window.until)
        restarts = Restarts("directory audits")
        try:
            async for batch in restarted(lambda: self._list(window, previous, tenant_uid),
                                         restarts, "listing again from the resume point"):
                yield batch
        except GraphError as error:
            if is_refusal(error) and self.summary.pages == 0:
                self._degrade(refusal_reason(error))
                return
            raise
        finally:
            self.summary.listing_restarts = restarts.count
        writes = None
        if self._handoff is not None:
            writes = StoreWrites(cursors={mfa_handoff.COVERED: odata_datetime(window.until)})
            stale = mfa_handoff.stale_ids(self._handoff, window.until)
            if stale:
                writes.entities[mfa_handoff.KIND] = dict.fromkeys(stale)
        yield Batch([], previous.after(window), stream=STREAM, writes=writes)

    def _flush(self, events: list[bytes], notes: dict[str, dict[str, Any] | None], window: Window,
               previous: Checkpoint) -> Batch:
        self.summary.events += len(events)
        writes = StoreWrites(entities={mfa_handoff.KIND: notes}) if notes else None
        return Batch(events, previous.during(window), stream=STREAM, writes=writes)

    async def _list(self, window: Window, previous: Checkpoint, tenant_uid: str
                    ) -> AsyncIterator[Batch]:
        batch_size = max(1, int(self.settings.batch_size))  # at most; a page ends a batch
        summary = self.summary
        upto, ceiling = window.resume_bound()
        events: list[bytes] = []
        notes: dict[str, dict[str, Any] | None] = {}
        handing_off = self._handoff is not None
        dumps = orjson.dumps
        to_event = ocsf.to_event
        is_mapped = ocsf.is_mapped
        async for page in directory_audit_pages(self.client, self.query, window.since, upto):
            summary.pages += 1
            for item in page.items:
                summary.listed += 1
                record_id, second = record_key(item, SOURCE.time_field)
                if record_id is None or second is None:
                    self._skip(record_id, "no id or no usable activityDateTime")
                    continue
                if ceiling is not None and second > ceiling:
                    summary.already_delivered += 1  # newer than the resume point: handled
                    continue
                if not window.take(record_id, second):
                    summary.already_delivered += 1
                    continue
                try:
                    event = to_event(item, tenant_id=tenant_uid, product=self.product)
                except MappingError as error:
                    self._skip(record_id, str(error))
                    continue
                events.append(dumps(event))
                summary.by_class[event["class_uid"]] += 1
                name = item.get("activityDisplayName")
                if not is_mapped(name):
                    summary.unmapped[name if isinstance(name, str) and name else "(none)"] += 1
                if handing_off and is_mfa_record(item):
                    users = mfa_target_users(item)
                    if users:
                        key, value = mfa_handoff.note(record_id, item["activityDateTime"], users)
                        notes[key] = value
                        self.notes[key] = value
                        summary.mfa_notes += 1
                window.note_delivered(record_id, second)
                if len(events) >= batch_size:
                    yield self._flush(events, notes, window, previous)
                    events, notes = [], {}
            # Flushed at the end of every page: the window already counts these events as
            # delivered, so a listing restarted after this page must not find them buffered.
            if events or notes:
                yield self._flush(events, notes, window, previous)
                events, notes = [], {}


class EntraIdDirectoryAudits(StreamPlugin):
    """One directory audit run per instance: the audit log since the checkpoint, as account,
    group, privilege and entity change events (3001, 3006, 3005, 3004).

    The same contract as `EntraIdSignIns`. An app without AuditLog.Read.All yields no batch:
    `summary.degraded["directory_audits"]` says why (logged once). With a `store`, batches also
    carry the MFA registrations they deliver for the inventory's change tracking
    (`connector.streams.mfa_handoff`), committed with them by `store.commit(batch)`;
    `shared_read()` gives the inventory of the same run this run's notes once it is over.
    """

    STREAM = STREAM

    def __init__(self, settings: Any, checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        super().__init__(settings, checkpoint, store=store, full=full)
        self.summary: AuditSummary = AuditSummary()
        self._collection: DirectoryAuditCollection | None = None
        self._finished = asyncio.Event()

    def _listed(self) -> dict[str, float]:
        return {"audits_listed": self.summary.listed}

    async def prepare(self, client: GraphClient) -> None:
        await self._explain_login(client)

    async def shared_read(self) -> mfa_handoff.Shared:
        """This run's MFA notes, once the run is over (for the inventory of the same run)."""
        await self._finished.wait()
        if self._collection is None:
            return mfa_handoff.Shared({}, None)
        return self._collection.shared()

    async def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        """The batches, through a client (and its throttle) shared with other streams."""
        self._client = client
        try:
            collection = self._collection = DirectoryAuditCollection(
                self.settings, self.checkpoint, client, product=PRODUCT,
                handoff=mfa_handoff.stored(self.store)[0] if self.store is not None else None)
            self.summary = collection.summary
            async for batch in collection.batches():
                yield batch
        finally:
            self._finished.set()
