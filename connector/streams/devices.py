"""The device stream: Entra ID devices, joined with their owners, registered users and Intune
records, as OCSF Device Inventory Info (5001) events; with a state store, only what changed.

A run is one of (docs/changes.md, "Devices"):

- **full** (the first run, `run --full`, the periodic resync `full_resync_hours`, a refused
  delta link, or no state store): `$deltatoken=latest` is taken first, then Intune's managed
  devices and the registered users are read (concurrently), then the devices listing (owner
  expanded) streams page by page into events. With a store, stored devices the listing no
  longer shows are emitted once as deleted, and every device's document is remembered.
- **changes**: one `devices/delta` round (changed and removed devices); on their cadences
  (`devices.intune_refresh_hours`, `devices.owners_refresh_hours`; 0 = every run) a full read of
  Intune and of the owner/user links, diffed against per-device fingerprints (Intune has no
  delta; an owner change is a link, which devices/delta does not report). Devices the delta
  names get their owners (`$batch`) and Intune record (`$batch`, by Intune id or
  `azureADDeviceId`) read again, so a refresh costs requests in proportion to the changes. Each
  affected device is rebuilt from its stored document plus what changed and emitted only if its
  fingerprint moved (a replayed delta item or a check-in is not a change).

The store keeps, per device (entity type `device`, by object id, since `@removed` names only
that), the last delivered Entra record, Intune record, owners and users and their fingerprint,
and per Entra `deviceId` (type `device_key`) the object id and the digests of its Intune record
and links, so the cadence diffs read one short row per device. Documents ride the batch of
their events; cursors move in the last batch only. A run killed part-way re-reads the same
changes next time and emits only devices whose fingerprint still differs; a killed full run is
repeated in full (at-least-once).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from connector.config import Settings
from connector.graph.client import BatchRequest, GraphClient, GraphError, Page
from connector.graph.dates import format_graph_datetime, parse_graph_datetime
from connector.graph.devices import (
    INTUNE_FEATURE,
    LABELS,
    MANAGED_DEVICES,
    OWNERS_EXPAND,
    DeviceQuery,
    IntuneTable,
    device_changes,
    device_link_changes,
    device_pages,
    devices_latest_link,
    fingerprint,
    intune_refusal_reason,
    links_of,
    managed_devices,
    owners_of,
    registered_users,
)
from connector.graph.odata import (
    Availability,
    DeltaExpired,
    build_url,
    complete_listing,
    is_refusal,
    odata_string,
    refusal_reason,
)
from connector.graph.permissions import Grants
from connector.ocsf import device_inventory as ocsf
from connector.ocsf.common import MappingError, Product
from connector.plugin import StreamPlugin, product
from connector.state import StateStore
from connector.streams.base import Restarts, Skips, usable_checkpoint
from connector.streams.batch import Batch, StoreWrites

__all__ = ["PRODUCT", "STREAM", "DeviceRun", "DeviceSummary", "EntraIdDevices", "device_fingerprint",
           "make_doc"]

log = logging.getLogger(__name__)

STREAM: Final = "devices"
DEVICE: Final = "device"
KEY: Final = "device_key"
CHECKPOINT_VERSION: Final = 1
SKIPPED_KEPT: Final = 100
# Cursors of the devices stream (the store keys them by stream).
DELTA: Final = "devices_delta"
LAST_FULL: Final = "last_full"
INTUNE_AT: Final = "intune_read_at"
LINKS_AT: Final = "links_read_at"
LINKS_AUDIT: Final = "links_audit_since"
# Audit records can reach Graph minutes after the fact: read a little behind.
LOOK_BEHIND: Final = timedelta(minutes=15)
# Facts that move without anything changing: a check-in, a sign-in.
_VOLATILE: Final = {"device": ("approximateLastSignInDateTime",), "managed": ("lastSyncDateTime",)}


@dataclass(slots=True)
class DeviceSummary:
    """What one device run did, for the CLI, the runtimes' logs and the benchmarks."""

    mode: str = "full"  # full | changes | skipped
    full_reason: str | None = None
    tracking: str = "off: change tracking needs a state store"
    devices_listed: int = 0
    events: int = 0
    new_devices: int = 0
    changed_devices: int = 0
    deleted_devices: int = 0
    intune_records: int | None = None  # None: Intune not read this run
    change_sources: list[str] = field(default_factory=list)
    skipped: Skips[tuple[str | None, str]] = field(default_factory=lambda: Skips(SKIPPED_KEPT))
    listing_restarts: int = 0
    graph_requests: int = 0
    duration_seconds: float = 0.0
    degraded: dict[str, str] = field(default_factory=dict)
    completed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "full_reason": self.full_reason, "tracking": self.tracking,
            "devices_listed": self.devices_listed, "events": self.events,
            "new_devices": self.new_devices, "changed_devices": self.changed_devices,
            "deleted_devices": self.deleted_devices, "intune_records": self.intune_records,
            "change_sources": list(self.change_sources), "skipped_count": self.skipped.total,
            "skipped": [{"device_id": i, "reason": r} for i, r in self.skipped],
            "listing_restarts": self.listing_restarts, "graph_requests": self.graph_requests,
            "duration_seconds": round(self.duration_seconds, 3),
            "degraded": dict(self.degraded), "completed": self.completed,
        }

    def lines(self) -> list[str]:
        if self.mode == "skipped":
            return [f"devices not collected: {reason}" for reason in self.degraded.values()]
        if self.mode == "full":
            head = (f"devices (full{': ' + self.full_reason if self.full_reason else ''}): "
                    f"{self.events} events from {self.devices_listed} listed, "
                    f"{self.deleted_devices} found deleted")
        else:
            head = (f"devices (changes): {self.events} events: {self.new_devices} new, "
                    f"{self.changed_devices} changed, {self.deleted_devices} deleted")
        out = [head + f", {self.graph_requests} Graph requests, {self.duration_seconds:.1f} s"]
        if self.change_sources:
            out.append("device change sources read: " + ", ".join(self.change_sources))
        if self.skipped.total:
            out.append(self.skipped.shown([i for i, _ in self.skipped], "device records"))
        for feature, reason in self.degraded.items():
            out.append(f"devices: not collected: {feature}: {reason}")
        return out


# --- the per-device document (pure) ----------------------------------------------------------

def _owner_rows(owners: Sequence[ocsf.Owner] | None, *, uid_only: bool = False
                ) -> list[list[str | None]] | None:
    if owners is None:
        return None
    return [[o.uid, None, None] if uid_only else [o.uid, o.name, o.upn] for o in owners]


def _owners(rows: Any) -> tuple[ocsf.Owner, ...] | None:
    if not isinstance(rows, list):
        return None
    return tuple(ocsf.Owner(str(r[0]), r[1], r[2]) for r in rows
                 if isinstance(r, list) and len(r) == 3 and r[0])


def _digest(value: Any) -> str:
    return hashlib.blake2b(orjson.dumps(value, option=orjson.OPT_SORT_KEYS),
                           digest_size=12).hexdigest()


def device_fingerprint(doc: Mapping[str, Any]) -> str:
    """A digest of everything a device's event is made of, without the facts that move at
    every check-in or sign-in (`approximateLastSignInDateTime`, Intune's `lastSyncDateTime`)."""
    parts: dict[str, Any] = {}
    for key in ("device", "managed"):
        record = doc.get(key)
        if isinstance(record, Mapping):
            parts[key] = {k: v for k, v in record.items() if k not in _VOLATILE[key]}
    for key in ("owners", "users", "deleted"):
        parts[key] = doc.get(key)
    return _digest(parts)


def links_digest(owners: Sequence[ocsf.Owner] | None, users: Sequence[ocsf.Owner] | None) -> str:
    return _digest([_owner_rows(owners), _owner_rows(users, uid_only=True)])


def make_doc(device: Mapping[str, Any], managed: Mapping[str, Any] | None,
             owners: Sequence[ocsf.Owner] | None, users: Sequence[ocsf.Owner] | None,
             deleted: str | None = None) -> dict[str, Any]:
    """The stored document of one device (what its event is made of) with its fingerprint."""
    doc: dict[str, Any] = {
        "device": {k: device[k] for k in ocsf.GRAPH_DEVICE_FIELDS if k in device},
        "managed": {k: managed[k] for k in ocsf.INTUNE_DEVICE_FIELDS
                    if managed.get(k) is not None and managed.get(k) != ""}
        if managed is not None else None,
        "owners": _owner_rows(owners), "users": _owner_rows(users, uid_only=True),
        "deleted": {"at": deleted} if deleted is not None else None,
    }
    doc["fp"] = device_fingerprint(doc)
    return doc


def facts_of(doc: Mapping[str, Any]) -> ocsf.DeviceFacts:
    deleted = doc.get("deleted")
    return ocsf.DeviceFacts(
        managed=doc.get("managed") if isinstance(doc.get("managed"), Mapping) else None,
        owners=_owners(doc.get("owners")), users=_owners(doc.get("users")),
        deleted=ocsf.DeviceDeletion(deleted.get("at")) if isinstance(deleted, Mapping) else None)


def key_row(doc: Mapping[str, Any], object_id: str) -> tuple[str, dict[str, Any]] | None:
    """(deviceId, the `device_key` row) of a device document: the object id and the digests of
    its Intune record and links, compared by the cadence diffs."""
    device = doc.get("device") or {}
    did = device.get("deviceId") if isinstance(device, Mapping) else None
    if not isinstance(did, str) or not did:
        return None
    managed = doc.get("managed")
    intune = fingerprint(managed) if isinstance(managed, Mapping) else ""
    links = links_digest(_owners(doc.get("owners")), _owners(doc.get("users")))
    return did.lower(), {"oid": object_id, "fp": f"{intune}:{links}",
                         "deleted": bool(doc.get("deleted"))}


def _hours_since(value: str | None, now: datetime) -> float | None:
    when = parse_graph_datetime(value)
    return None if when is None else (now - when).total_seconds() / 3600


# --- the run ---------------------------------------------------------------------------------

@dataclass(slots=True)
class _Links:
    """Every device's owners and (when read) registered users, by object id."""

    owners: dict[str, tuple[ocsf.Owner, ...]] = field(default_factory=dict)
    users: dict[str, tuple[ocsf.Owner, ...]] | None = None
    by_device_id: dict[str, str] = field(default_factory=dict)  # deviceId -> object id


class DeviceRun:
    """One run of the device stream (see the module docstring); `batches()` yields `Batch`es of
    stream "devices"; the caller delivers, then commits each."""

    def __init__(self, settings: Any, client: GraphClient, store: StateStore | None, *,
                 checkpoint: Mapping[str, Any] | None, product: Product,
                 summary: DeviceSummary, full: bool = False, clock: Any = time.time) -> None:
        self.settings = settings
        self.options = settings.devices
        self.client = client
        self.store = store
        self.checkpoint = checkpoint
        self.product = product
        self.summary = summary
        self.force_full = full
        self.now = datetime.fromtimestamp(clock(), UTC)
        self.now_iso = format_graph_datetime(self.now)
        self.collected_at_ms = int(self.now.timestamp() * 1000)
        self.availability = Availability(LABELS)
        self.tenant_uid = str(settings.tenant_id)
        self.grants = Grants(None)
        self.batch_size = max(1, int(settings.batch_size))

    # -- the frame --

    async def batches(self) -> AsyncIterator[Batch]:
        started = time.monotonic()
        try:
            async for batch in self._run():
                yield batch
            self.summary.completed = True
        finally:
            self.summary.graph_requests = self.client.stats.requests
            self.summary.duration_seconds = time.monotonic() - started
            self.summary.degraded.update(self.availability.reasons)

    def _checkpoint(self) -> dict[str, Any]:
        return {"version": CHECKPOINT_VERSION, "tenant_id": str(self.settings.tenant_id),
                "last_run": self.now_iso}

    def _full_reason(self, cursors: Mapping[str, str]) -> str | None:
        if self.store is None:
            return None
        if self.force_full:
            return "forced (run --full)"
        previous = usable_checkpoint(self.checkpoint, version=CHECKPOINT_VERSION,
                                     tenant_id=str(self.settings.tenant_id), what="devices",
                                     instead="starting a full collection")
        if previous is None or not cursors.get(DELTA):
            return "change tracking starts with a full collection"
        every = int(self.settings.full_resync_hours)
        age = _hours_since(cursors.get(LAST_FULL), self.now)
        if every and (age is None or age >= every):
            return f"periodic resync (full_resync_hours: {every})"
        return None

    async def _run(self) -> AsyncIterator[Batch]:
        claims = await self.client.token_claims() or {}
        self.grants = Grants.from_claims(claims)
        missing = self.grants.missing("devices")
        if missing:
            self._skip_stream(missing)
            return
        self.tenant_uid = str(claims.get("tid") or self.settings.tenant_id)
        if not self.options.intune:
            self.availability.degrade(INTUNE_FEATURE, "off in the configuration (devices.intune)")
        cursors: Mapping[str, str] = self.store.cursors(STREAM) if self.store is not None else {}
        reason = self._full_reason(cursors)
        try:
            if self.store is not None and reason is None:
                self.summary.mode = "changes"
                self.summary.tracking = "on"
                async for batch in self._changes(cursors):
                    yield batch
                return
        except DeltaExpired as error:
            log.warning("%s: a full device collection instead", error)
            reason = f"Graph refused the delta link ({error})"
        self.summary.mode = "full"
        self.summary.full_reason = reason
        if self.store is not None:
            self.summary.tracking = "on"
        try:
            async for batch in self._full():
                yield batch
        except GraphError as error:
            if not (is_refusal(error) and self.summary.devices_listed == 0):
                raise
            self._skip_stream(refusal_reason(error))

    def _skip_stream(self, reason: str) -> None:
        self.summary.mode = "skipped"
        self.summary.degraded["devices"] = reason
        log.warning("devices not collected: %s", reason)

    # -- shared steps --

    def _event(self, doc: Mapping[str, Any], object_id: str | None) -> bytes | None:
        try:
            return orjson.dumps(ocsf.to_event(
                doc["device"], facts_of(doc), collected_at_ms=self.collected_at_ms,
                tenant_id=self.tenant_uid, product=self.product))
        except (MappingError, KeyError, TypeError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}"
            self.summary.skipped.add((object_id, reason), object_id, reason, "device")
            return None

    def _writes(self, docs: Mapping[str, dict[str, Any]]) -> StoreWrites | None:
        if self.store is None:
            return None
        writes = StoreWrites(entities={DEVICE: dict(docs), KEY: {}})
        for oid, doc in docs.items():
            row = key_row(doc, oid)
            if row is not None:
                writes.entities[KEY][row[0]] = row[1]
        return writes

    async def _intune_table(self) -> IntuneTable | None:
        if not self.availability.available(INTUNE_FEATURE):
            return None
        table = await managed_devices(self.client, self.availability, self.grants)
        if table is not None:
            self.summary.intune_records = len(table) + table.unjoined
            self.summary.change_sources.append("intune")
        return table

    async def _registered_users(self) -> dict[str, tuple[ocsf.Owner, ...]] | None:
        if not self.options.registered_users or not self.availability.available("device_users"):
            return None
        try:
            return await registered_users(self.client)
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.availability.degrade("device_users", refusal_reason(error))
            return None

    # -- full --

    async def _full(self) -> AsyncIterator[Batch]:
        link = await devices_latest_link(self.client) if self.store is not None else None
        table, users = await asyncio.gather(self._intune_table(), self._registered_users())
        query = DeviceQuery(page_size=int(self.options.page_size))
        restarts = Restarts("devices")
        listed: set[str] = set()
        events: list[bytes] = []
        docs: dict[str, dict[str, Any]] = {}
        start: str | None = None
        while True:
            try:
                async for in_force, page in device_pages(self.client, query, self.availability,
                                                         start):
                    query = in_force  # what a restart lists with (a refused part dropped)
                    for batch in self._full_page(page, table, users, listed, events, docs):
                        yield batch
                break
            except GraphError as error:
                if not restarts.allow(error, "listing again (devices already delivered are "
                                             "skipped)"):
                    raise
                self.summary.listing_restarts = restarts.count
                start = None
        if self.store is not None:
            gone_events, gone_docs = self._sweep(listed)
            events.extend(gone_events)
            docs.update(gone_docs)
        writes = self._writes(docs) or StoreWrites()
        if self.store is not None:
            writes.cursors.update({DELTA: link, LAST_FULL: self.now_iso, LINKS_AT: self.now_iso,
                                   LINKS_AUDIT: self.now_iso,
                                   INTUNE_AT: self.now_iso if table is not None else None})
        self.summary.events += len(events)
        yield Batch(events, self._checkpoint(), stream=STREAM,
                    writes=writes if self.store is not None else None)

    def _full_page(self, page: Page, table: IntuneTable | None,
                   users: Mapping[str, tuple[ocsf.Owner, ...]] | None, listed: set[str],
                   events: list[bytes], docs: dict[str, dict[str, Any]]) -> Iterable[Batch]:
        for item in page.items:
            self.summary.devices_listed += 1
            oid = item.get("id") if isinstance(item, dict) else None
            if not isinstance(oid, str) or not oid:
                self.summary.skipped.add((None, "no object id"), None, "no object id", "device")
                continue
            if oid in listed:
                continue
            listed.add(oid)
            did = item.get("deviceId")
            managed = table.get(did) if table is not None and isinstance(did, str) else None
            doc = make_doc(item, managed, owners_of(item),
                           users.get(oid, ()) if users is not None else None)
            data = self._event(doc, oid)
            if data is None:
                continue
            events.append(data)
            docs[oid] = doc
            if len(events) >= self.batch_size:
                self.summary.events += len(events)
                yield Batch(list(events), self._checkpoint(), stream=STREAM,
                            writes=self._writes(docs))
                events.clear()
                docs.clear()

    def _sweep(self, listed: set[str]) -> tuple[list[bytes], dict[str, dict[str, Any]]]:
        """Stored devices the full listing no longer shows: emitted once more, as deleted."""
        assert self.store is not None
        missing = sorted(self.store.ids(DEVICE) - listed)
        events: list[bytes] = []
        docs: dict[str, dict[str, Any]] = {}
        for oid, stored in self.store.docs(DEVICE, missing).items():
            doc = self._deleted(stored)
            data = self._event(doc, oid)
            if data is not None:
                events.append(data)
                docs[oid] = doc
                self.summary.deleted_devices += 1
        return events, docs

    def _deleted(self, stored: Mapping[str, Any]) -> dict[str, Any]:
        return make_doc(stored.get("device") or {}, stored.get("managed"),
                        _owners(stored.get("owners")), _owners(stored.get("users")),
                        deleted=self.now_iso)

    # -- changes --

    async def _changes(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        assert self.store is not None
        changes = await device_changes(self.client, cursors[DELTA])
        self.summary.change_sources.append("devices/delta")
        intune_due = self._due(cursors.get(INTUNE_AT), int(self.options.intune_refresh_hours))
        links_due = self._due(cursors.get(LINKS_AT), int(self.options.owners_refresh_hours))
        table = await self._intune_table() if intune_due else None
        links = await self._all_links() if links_due else None
        audit = await self._audited_links(cursors) if links is None else None
        audited = audit or set()
        keys = self.store.fingerprints(KEY) if table is not None or links is not None else {}
        affected = set(changes.present) | set(changes.removed) | audited
        if keys:
            affected |= self._drifted(keys, table, links)
        stored = self.store.docs(DEVICE, affected)
        present: dict[str, Mapping[str, Any]] = {}
        for oid in affected - set(changes.removed):
            record = changes.present.get(oid) or (stored.get(oid) or {}).get("device")
            if isinstance(record, Mapping):
                present[oid] = record
        if links is None and present:
            links = await self._links_of(sorted((set(changes.present) | audited) & set(present)))
        managed = await self._managed_of(present, stored, table)
        events: list[bytes] = []
        docs: dict[str, dict[str, Any]] = {}
        for oid in sorted(affected):
            before = stored.get(oid)
            if oid in changes.removed or oid not in present:
                if before is None or before.get("deleted"):
                    continue
                doc = self._deleted(before)
                kind = "deleted"
            else:
                doc = make_doc(present[oid], managed.get(oid),
                               *self._links_for(oid, links, before))
                kind = "new" if before is None else "changed"
            if before is not None and before.get("fp") == doc["fp"]:
                continue
            data = self._event(doc, oid)
            if data is None:
                continue
            self._count(kind)
            events.append(data)
            docs[oid] = doc
            if len(events) >= self.batch_size:
                self.summary.events += len(events)
                yield Batch(events, self._checkpoint(), stream=STREAM, writes=self._writes(docs))
                events, docs = [], {}
        writes = self._writes(docs) or StoreWrites()
        writes.cursors[DELTA] = changes.link
        if table is not None:
            writes.cursors[INTUNE_AT] = self.now_iso
        if links is not None and links_due:
            writes.cursors[LINKS_AT] = self.now_iso
        if (links is not None and links_due) or audit is not None:
            writes.cursors[LINKS_AUDIT] = self.now_iso
        self.summary.events += len(events)
        yield Batch(events, self._checkpoint(), stream=STREAM, writes=writes)

    def _due(self, last: str | None, every_hours: int) -> bool:
        if every_hours == 0:
            return True
        age = _hours_since(last, self.now)
        return age is None or age >= every_hours

    def _count(self, kind: str) -> None:
        if kind == "new":
            self.summary.new_devices += 1
        elif kind == "deleted":
            self.summary.deleted_devices += 1
        else:
            self.summary.changed_devices += 1

    def _drifted(self, keys: Mapping[str, str], table: IntuneTable | None,
                 links: _Links | None) -> set[str]:
        """Object ids of stored devices whose Intune record or links differ from their digests
        (devices Intune or the links listing no longer show included)."""
        assert self.store is not None
        changed: list[str] = []
        by_did = links.by_device_id if links is not None else {}
        for did, digest in keys.items():
            intune, _, old_links = digest.partition(":")
            if table is not None:
                record = table.get(did)
                if (fingerprint(record) if record is not None else "") != intune:
                    changed.append(did)
                    continue
            if links is not None:
                oid = by_did.get(did)
                now_links = links_digest(links.owners.get(oid, ()) if oid else (),
                                         (links.users or {}).get(oid, ()) if oid and
                                         links.users is not None else None)
                if oid is not None and now_links != old_links:
                    changed.append(did)
        rows = self.store.docs(KEY, changed)
        return {str(row["oid"]) for row in rows.values() if row.get("oid")}

    async def _audited_links(self, cursors: Mapping[str, str]) -> set[str] | None:
        """Devices whose owners or users the directory audit log says changed since the last
        read (minus a look-behind); None (and one warning) when it cannot be read (no
        AuditLog.Read.All): the owner cadence alone notices such changes then."""
        missing = self.grants.missing("device_owner_changes")
        if missing or not self.availability.available("device_owner_changes"):
            if missing:
                self.availability.degrade("device_owner_changes", missing + "; owner changes "
                                          "show at the next owner re-read "
                                          "(devices.owners_refresh_hours)")
            return None
        since = parse_graph_datetime(cursors.get(LINKS_AUDIT)) or self.now
        try:
            named = await device_link_changes(self.client, since - LOOK_BEHIND)
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.availability.degrade("device_owner_changes", refusal_reason(error))
            return None
        self.summary.change_sources.append("device owner changes (audit log)")
        return named

    async def _all_links(self) -> _Links | None:
        """Every device's owners (one expanded listing) and registered users (when wanted)."""
        links = _Links()
        by_did = links.by_device_id

        def consume(page: Page) -> None:
            for item in page.items:
                oid = item.get("id") if isinstance(item, Mapping) else None
                did = item.get("deviceId") if isinstance(item, Mapping) else None
                found = owners_of(item) if isinstance(oid, str) else None
                if isinstance(oid, str) and found is not None:
                    links.owners[oid] = found
                    if isinstance(did, str) and did:
                        by_did[did.lower()] = oid

        def reset() -> None:
            links.owners.clear()
            by_did.clear()

        url = build_url("/devices", {"$select": "id,deviceId", "$expand": OWNERS_EXPAND,
                                     "$top": 999})
        try:
            await complete_listing(self.client, url, consume, reset)
        except GraphError as error:
            if not is_refusal(error):
                raise
            self.availability.degrade("device_owners", refusal_reason(error))
            return None
        links.users = await self._registered_users()
        self.summary.change_sources.append("device owners")
        return links

    async def _links_of(self, object_ids: Sequence[str]) -> _Links:
        """The owners (and registered users) of the devices the delta named, by `$batch`."""
        links = _Links()
        if not object_ids:
            return links
        links.owners = await links_of(self.client, object_ids, "registeredOwners")
        if self.options.registered_users:
            links.users = await links_of(self.client, object_ids, "registeredUsers")
        return links

    def _links_for(self, oid: str, links: _Links | None, before: Mapping[str, Any] | None
                   ) -> tuple[tuple[ocsf.Owner, ...] | None, tuple[ocsf.Owner, ...] | None]:
        stored_owners = _owners(before.get("owners")) if before else None
        stored_users = _owners(before.get("users")) if before else None
        if links is None:
            return stored_owners, stored_users
        owners = links.owners.get(oid, stored_owners)
        users = (links.users.get(oid, stored_users) if links.users is not None
                 else stored_users if self.options.registered_users else None)
        return owners, users

    async def _managed_of(self, present: Mapping[str, Mapping[str, Any]],
                          stored: Mapping[str, Mapping[str, Any]], table: IntuneTable | None
                          ) -> dict[str, dict[str, Any] | None]:
        """Each present device's Intune record: from this run's full read, else read again for
        the devices the delta named (by Intune id when known, else by `azureADDeviceId`), else
        the stored one."""
        out: dict[str, dict[str, Any] | None] = {}
        select = ",".join(ocsf.INTUNE_DEVICE_FIELDS)
        asks: list[tuple[str, str]] = []
        for oid, record in present.items():
            did = record.get("deviceId")
            previous = (stored.get(oid) or {}).get("managed")
            if table is not None:
                out[oid] = table.get(did) if isinstance(did, str) else None
            elif not self.availability.available(INTUNE_FEATURE) or not isinstance(did, str):
                out[oid] = None
            elif isinstance(previous, Mapping) and previous.get("id"):
                asks.append((oid, build_url(f"{MANAGED_DEVICES}/{previous['id']}",
                                            {"$select": select})))
            elif record.get("isManaged") is True:
                asks.append((oid, build_url(MANAGED_DEVICES, {
                    "$filter": f"azureADDeviceId eq {odata_string(did)}", "$select": select})))
            else:
                out[oid] = None
        if asks:
            await self._ask_intune(asks, out)
        return out

    async def _ask_intune(self, asks: Sequence[tuple[str, str]],
                          out: dict[str, dict[str, Any] | None]) -> None:
        requests = [BatchRequest(str(i), url) for i, (_, url) in enumerate(asks)]
        responses = await self.client.batch(requests)
        for (oid, _), response in zip(asks, responses, strict=True):
            if response.status == 404:
                out[oid] = None
                continue
            if response.status != 200:
                error = response.error()
                if is_refusal(error):
                    self.availability.degrade(INTUNE_FEATURE, intune_refusal_reason(error))
                    out.setdefault(oid, None)
                    continue
                raise error
            body = response.body if isinstance(response.body, Mapping) else {}
            values = body.get("value")
            if isinstance(values, list):
                body = values[0] if values and isinstance(values[0], Mapping) else {}
            out[oid] = dict(body) if body.get("id") else None
        self.summary.change_sources.append("intune (changed devices)")


# --- the plugin --------------------------------------------------------------------------------

PRODUCT: Final = product("Microsoft Entra ID device inventory")


class EntraIdDevices(StreamPlugin):
    """One device run per instance: Entra ID devices (with Intune's facts and their owners) as
    5001 events. The same contract as the other plugins. With a `store`, runs track changes
    (`streams/devices.py`): after the first, full, run only devices whose facts changed are
    emitted; `full=True` forces a full collection. Without `Device.Read.All` the stream yields
    no batch and `summary.degraded["devices"]` says why; without Intune (licence or
    permission) Entra's devices still come, with one warning.
    """

    STREAM = STREAM

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        super().__init__(settings, checkpoint, store=store, full=full)
        self.summary: DeviceSummary = DeviceSummary()

    def _listed(self) -> dict[str, float]:
        return {"devices_listed": self.summary.devices_listed}

    async def prepare(self, client: GraphClient) -> None:
        await self._explain_login(client)

    async def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        self._client = client
        self.summary = DeviceSummary()
        run = DeviceRun(self.settings, client, self.store, checkpoint=self.checkpoint,
                        product=PRODUCT, summary=self.summary, full=self.full)
        async for batch in run.batches():
            yield batch
