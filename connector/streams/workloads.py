"""The workload identities stream: every service principal as a non-human User Inventory Info
event, then only the ones that changed.

A **full** run (the first, `full=True`, a refused delta link, no AuditLog.Read.All, or the last
full run older than `workload_identities.full_resync_hours`) takes `$deltatoken=latest` links
first, reads everything (`graph.workloads.read_all`) and emits every service principal, then the
ones the store knew that are gone, as deleted. A **changes** run reads both delta rounds and the
audit log since the previous run (less `audit_overlap_minutes`), re-reads the service
principals they name through `$batch` and emits those whose fingerprint changed (and the deleted
ones): its cost grows with the changes, not the tenant (docs/changes.md).

The checkpoint (stream `workload_identities`) holds the links, the audit cursor, names needed
to map a re-read, and per service principal: fingerprint, app registration id, last sign-in,
credential end dates and high-impact grant count (so the summary's expiry and grant counts cover
the whole inventory in a changes run). Every batch but the last carries the previous checkpoint:
nothing advances until the run's events are all delivered.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from connector.config.settings import Settings
from connector.graph.client import GraphClient, GraphError
from connector.graph.dates import parse_graph_datetime
from connector.graph.odata import Availability, is_refusal, odata_datetime
from connector.graph.permissions import Grants
from connector.graph.workloads import (
    LABELS,
    SIGN_INS_FEATURE,
    WORKLOADS_FEATURE,
    DeltaExpired,
    Snapshot,
    audit_touched,
    facts_for,
    latest_links,
    missing_permission,
    read_all,
    read_some,
    workload_changes,
)
from connector.ocsf import workload_identity as ocsf
from connector.ocsf.user_inventory import Deletion, MappingError, Product
from connector.plugin import StreamPlugin, product
from connector.state import StateStore
from connector.streams.batch import Batch

__all__ = ["STREAM", "EntraIdWorkloadIdentities", "WorkloadCollection", "WorkloadSummary",
           "inventory_counts"]

log = logging.getLogger(__name__)

STREAM = "workload_identities"
VERSION = 1
DAY_MS = 86_400_000


class AuditRefused(Exception):
    """The audit log cannot be read: relation changes are only seen by a full run."""


@dataclass(slots=True)
class WorkloadSummary:
    mode: str = "full"  # full | changes | skipped
    full_reason: str | None = None
    service_principals: int = 0  # read (listed or re-read)
    events: int = 0
    deleted: int = 0
    skipped: list[str] = field(default_factory=list)  # ids of records that could not be mapped
    inventory: int = 0  # service principals the store knows after the run
    expired: int = 0
    expiring_30_days: int = 0
    expiring_90_days: int = 0
    high_impact_grants: int = 0
    degraded: dict[str, str] = field(default_factory=dict)
    duration_seconds: float = 0.0
    completed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "full_reason": self.full_reason,
                "service_principals_read": self.service_principals, "events": self.events,
                "deleted": self.deleted, "skipped_count": len(self.skipped), "skipped": list(self.skipped),
                "inventory": self.inventory, "credentials_expired": self.expired,
                "credentials_expiring_30_days": self.expiring_30_days,
                "credentials_expiring_90_days": self.expiring_90_days,
                "high_impact_grants": self.high_impact_grants, "degraded": dict(self.degraded),
                "duration_seconds": round(self.duration_seconds, 3), "completed": self.completed}

    def lines(self) -> list[str]:
        if self.mode == "skipped":
            return [f"workload identities not collected: {reason}" for reason in self.degraded.values()]
        why = f", {self.full_reason}" if self.full_reason else ""
        out = [f"workload identities ({self.mode}{why}): {self.events} events ({self.deleted} deleted) "
               f"from {self.service_principals} service principals read, {self.duration_seconds:.1f} s",
               f"workload credentials: {self.expired} expired, {self.expiring_30_days} expiring within "
               f"30 days, {self.expiring_90_days} within 90; high-impact grants: {self.high_impact_grants} "
               f"(over {self.inventory} service principals)"]
        out += [f"workload identities without {key}: {reason}" for key, reason in self.degraded.items()]
        if self.skipped:
            out.append(f"workload identities skipped (unmappable): {', '.join(self.skipped[:10])}")
        return out


def fingerprint(sp: Mapping[str, Any], facts: ocsf.WorkloadFacts) -> str:
    """A digest of what an event is made of (not the collection time)."""
    data = orjson.dumps(sp, option=orjson.OPT_SORT_KEYS) + repr(facts).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def _entry(sp: Mapping[str, Any], facts: ocsf.WorkloadFacts, digest: str,
           app_object: str | None) -> dict[str, Any]:
    ends = sorted(e for e in (ocsf.epoch_ms(c.end) for c in facts.credentials or ()) if e is not None)
    high = sum(1 for p in facts.app_permissions or () if ocsf.is_high_impact(p.permission))
    high += sum(1 for c in facts.consents or () for s in c.scopes if ocsf.is_high_impact(s))
    return {"fp": digest, "app": app_object, "last": facts.last_sign_in, "ends": ends, "high": high,
            "record": {k: sp.get(k) for k in ("id", "appId", "displayName", "servicePrincipalType",
                                              "appOwnerOrganizationId") if sp.get(k) is not None}}


def inventory_counts(known: Mapping[str, Mapping[str, Any]], now_ms: int) -> tuple[int, int, int, int]:
    """(expired, expiring within 30 days, within 90 days, high-impact grants) over the inventory."""
    expired = soon = later = high = 0
    for entry in known.values():
        for end in entry.get("ends") or ():
            if end <= now_ms:
                expired += 1
            elif end <= now_ms + 30 * DAY_MS:
                soon += 1
            if now_ms < end <= now_ms + 90 * DAY_MS:
                later += 1
        high += int(entry.get("high") or 0)
    return expired, soon, later, high


class WorkloadCollection:
    """One run of the stream; `batches()` yields what to deliver, then the completed checkpoint."""

    def __init__(self, settings: Settings, checkpoint: Mapping[str, Any] | None, client: GraphClient, *,
                 product: Product, full: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.checkpoint = dict(checkpoint) if checkpoint and checkpoint.get("version") == VERSION else None
        self.client = client
        self.product = product
        self.full = full
        self.clock = clock
        self.summary = WorkloadSummary()
        self.availability = Availability(LABELS)
        self._events: list[bytes] = []

    def _full_reason(self, grants: Grants) -> str | None:
        cp = self.checkpoint
        if cp is None:
            return "first run"
        if self.full:
            return "forced"
        if missing_permission(grants, SIGN_INS_FEATURE) is not None:
            return "no AuditLog.Read.All: relation changes are only seen by full runs"
        hours = self.settings.workload_identities.full_resync_hours
        last = parse_graph_datetime(cp.get("full_at"))
        if hours and (last is None or datetime.now(UTC) - last >= timedelta(hours=hours)):
            return f"periodic resync (every {hours} h)"
        return None

    async def batches(self) -> AsyncIterator[Batch]:
        started = self.clock()
        try:
            async for batch in self._run():
                yield batch
        finally:
            self.summary.duration_seconds = self.clock() - started
            self.summary.degraded.update(self.availability.reasons)

    async def _run(self) -> AsyncIterator[Batch]:
        grants = Grants.from_claims(await self.client.token_claims())
        reason = missing_permission(grants, WORKLOADS_FEATURE)
        if reason is not None:
            self.summary.mode = "skipped"
            self.availability.degrade(WORKLOADS_FEATURE, reason)
            return
        full_reason = self._full_reason(grants)
        if full_reason is None:
            try:
                async for batch in self._changes(grants):
                    yield batch
                return
            except DeltaExpired as expired:
                full_reason = f"delta link refused: {expired}"
            except AuditRefused as refused:
                full_reason = f"audit log refused: {refused}"
        self.summary.mode, self.summary.full_reason = "full", full_reason
        async for batch in self._full(grants):
            yield batch

    # ---- emitting ----------------------------------------------------------------------------
    def _previous(self) -> dict[str, Any]:
        return dict(self.checkpoint) if self.checkpoint is not None else {}

    def _emit(self, sp: Mapping[str, Any], facts: ocsf.WorkloadFacts, now_ms: int) -> dict[str, Any] | None:
        """Map and buffer one event; a record that cannot be mapped is counted and skipped."""
        try:
            event = ocsf.to_event(sp, facts, collected_at_ms=now_ms, tenant_id=self.settings.tenant_id,
                                  product=self.product)
        except MappingError as error:
            sid = str(sp.get("id"))
            log.warning("service principal %s skipped: %s", sid, error)
            self.summary.skipped.append(sid)
            return None
        self._events.append(orjson.dumps(event))
        self.summary.events += 1
        return event

    def _ready(self) -> Batch | None:
        if len(self._events) < self.settings.batch_size:
            return None
        events, self._events = self._events, []
        return Batch(events, self._previous(), stream=STREAM)

    def _deleted(self, entry: Mapping[str, Any], when: str | None, now_ms: int, kind: str) -> None:
        record = dict(entry.get("record") or {})
        if not record.get("id"):
            return
        facts = ocsf.WorkloadFacts(deleted=Deletion("soft" if kind == "changed" else "hard", when))
        if self._emit(record, facts, now_ms) is not None:
            self.summary.deleted += 1

    def _final(self, checkpoint: dict[str, Any], known: Mapping[str, Mapping[str, Any]], now_ms: int) -> Batch:
        s = self.summary
        s.inventory = len(known)
        s.expired, s.expiring_30_days, s.expiring_90_days, s.high_impact_grants = inventory_counts(known, now_ms)
        s.completed = True
        events, self._events = self._events, []
        return Batch(events, checkpoint, stream=STREAM)

    def _checkpoint(self, known: dict[str, Any], snap: Snapshot, *, sp_link: str, app_link: str,
                    audit_since: str, full_at: str | None) -> dict[str, Any]:
        return {"version": VERSION, "tenant_id": self.settings.tenant_id, "sp_link": sp_link,
                "app_link": app_link, "audit_since": audit_since,
                "full_at": full_at or self._previous().get("full_at"),
                "role_names": snap.role_names, "names": snap.names, "known": known}

    # ---- full -----------------------------------------------------------------------------------
    async def _full(self, grants: Grants) -> AsyncIterator[Batch]:
        started = datetime.now(UTC)
        sp_link, app_link = await latest_links(self.client)
        snap = await read_all(self.client, self.availability, grants)
        now_ms = int(self.clock() * 1000)
        previous: dict[str, Any] = dict(self._previous().get("known") or {})
        known: dict[str, Any] = {}
        self.summary.service_principals = len(snap.sps)
        for sp_id in sorted(snap.sps):
            sp = snap.sps[sp_id]
            facts = facts_for(sp_id, snap)
            event = self._emit(sp, facts, now_ms)
            if event is not None:
                known[sp_id] = _entry(sp, facts, fingerprint(sp, facts), _app_object(snap, sp))
            batch = self._ready()
            if batch is not None:
                yield batch
        for sp_id, entry in previous.items():
            if sp_id not in snap.sps:
                self._deleted(entry, None, now_ms, "changed")
                batch = self._ready()
                if batch is not None:
                    yield batch
        stamp = odata_datetime(started)
        yield self._final(self._checkpoint(known, snap, sp_link=sp_link, app_link=app_link,
                                           audit_since=stamp, full_at=stamp), known, now_ms)

    # ---- changes --------------------------------------------------------------------------------
    async def _changes(self, grants: Grants) -> AsyncIterator[Batch]:
        cp = self._previous()
        self.summary.mode = "changes"
        started = datetime.now(UTC)
        changes = await workload_changes(self.client, str(cp.get("sp_link")), str(cp.get("app_link")))
        since = parse_graph_datetime(cp.get("audit_since")) or started
        overlap = timedelta(minutes=self.settings.workload_identities.audit_overlap_minutes)
        try:
            touched_sps, touched_apps = await audit_touched(self.client, since - overlap, started)
        except GraphError as error:
            if not is_refusal(error):
                raise
            raise AuditRefused(f"{error.status} {error.code}") from error
        known: dict[str, Any] = {k: dict(v) for k, v in (cp.get("known") or {}).items()}
        by_app = {str(v.get("app")): k for k, v in known.items() if v.get("app")}
        wanted = set(changes.changed) | touched_sps
        wanted |= {by_app[a] for a in (set(changes.apps) | touched_apps) if a in by_app}
        wanted -= set(changes.removed)
        base = Snapshot(role_names=dict(cp.get("role_names") or {}), names=dict(cp.get("names") or {}))
        consents = missing_permission(grants, "workload_consents") is None
        app_ids = {k: str(v["app"]) for k, v in known.items() if v.get("app")}
        snap, gone = await read_some(self.client, wanted, base, consents=consents, app_ids=app_ids,
                                     apps_by_app_id={v: k for k, v in changes.apps.items() if v})
        now_ms = int(self.clock() * 1000)
        self.summary.service_principals = len(snap.sps)
        for sp_id in sorted(snap.sps):
            sp = snap.sps[sp_id]
            facts = facts_for(sp_id, snap, last_sign_in=(known.get(sp_id) or {}).get("last"))
            digest = fingerprint(sp, facts)
            if (known.get(sp_id) or {}).get("fp") == digest:
                continue
            event = self._emit(sp, facts, now_ms)
            if event is not None:
                known[sp_id] = _entry(sp, facts, digest, _app_object(snap, sp) or
                                      (known.get(sp_id) or {}).get("app"))
            batch = self._ready()
            if batch is not None:
                yield batch
        for sp_id, reason in sorted({**dict.fromkeys(gone, "changed"), **changes.removed}.items()):
            entry = known.pop(sp_id, None)
            if entry is not None:
                self._deleted(entry, None, now_ms, reason)
            batch = self._ready()
            if batch is not None:
                yield batch
        names = {**base.names, **snap.names}
        roles = {**base.role_names, **snap.role_names}
        final = Snapshot(role_names=roles, names=names)
        yield self._final(self._checkpoint(known, final, sp_link=changes.sp_link, app_link=changes.app_link,
                                           audit_since=odata_datetime(started), full_at=None), known, now_ms)


def _app_object(snap: Snapshot, sp: Mapping[str, Any]) -> str | None:
    app = snap.apps.get(str(sp.get("appId")))
    oid = app.get("id") if app is not None else None
    return oid if isinstance(oid, str) else None



PRODUCT: Final = product("Microsoft Entra ID workload identities")


class EntraIdWorkloadIdentities(StreamPlugin):
    """One run of the workload identities stream (service principals as class 5003 events of
    non-human accounts); the same contract as the other plugins. `full=True` forces a full
    collection. Without Application.Read.All it yields no batch and `summary.degraded` says
    why."""

    STREAM = STREAM

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        super().__init__(settings, checkpoint, store=store, full=full)
        self.summary: WorkloadSummary = WorkloadSummary()

    def _listed(self) -> dict[str, float]:
        return {"service_principals_read": self.summary.service_principals}

    async def prepare(self, client: GraphClient) -> None:
        await self._explain_login(client)

    async def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        self._client = client
        collection = WorkloadCollection(self.settings, self.checkpoint, client, product=PRODUCT,
                                        full=self.full)
        self.summary = collection.summary
        async for batch in collection.batches():
            yield batch
