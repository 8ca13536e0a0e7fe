"""Graph sources of the device inventory: Entra ID devices (with registered owners and users),
their changes, and Intune's managed devices, joined on the Entra `deviceId`.

What each costs and why (learn.microsoft.com pages named; docs/changes.md, "Devices", says it
for operators):

- `GET /devices` ("List devices", `Device.Read.All`): `$select` of the mapping's fields,
  `$top=999`, and `$expand=registeredOwners($select=id,displayName,userPrincipalName)`: the
  list supports `$expand` of `registeredOwners` / `registeredUsers` (one relationship per
  request), and a device has at most one registered owner ("List registeredOwners":
  "Currently, there can be only one owner"), so the 20-item cap of an expanded directory
  relationship never truncates it. Cost: ceil(devices / 999) requests.
- Registered users ("List registeredUsers"): a second listing,
  `/devices?$select=id&$expand=registeredUsers(...)`, ceil(devices / 999) requests; a device
  whose expansion came back with 20 users (possibly truncated) is asked again alone through
  `$batch` (`/devices/{id}/registeredUsers`, 20 devices per request).
- `GET /devices/delta` ("device: delta"): the users/delta rules: `$select`, a deltaLink,
  `@removed`, `$deltatoken=latest` to start tracking from now, and the same refusal-and-resync
  rule (`DeltaExpired`, from `connector.graph.changes`). A device changes when a property does
  (compliance and management are written by Intune onto the Entra device, `accountEnabled`, OS
  version, ...). Owners are relationships, not properties: a delta round does not report an
  owner change; re-reading the owner listing (ceil(devices / 999) requests) on the periodic
  resync is what notices them, and `links_of` reads the owners of the devices a round names.
- Intune `GET /deviceManagement/managedDevices` ("List managedDevices",
  `DeviceManagementManagedDevices.Read.All`, an Intune licence). No delta is documented. A
  `$filter` on `lastSyncDateTime` is not documented for this list (Graph docs issue #19890:
  "It's not clear which properties support $filter"; powershell-intune-samples #11 reports
  `ge`/`gt` on it answering nothing), and it would not save much: every active device checks in
  about every 8 hours, so a daily filter returns nearly every device anyway. The cheapest
  reliable way is therefore a full read (`$select` of the mapped fields, Intune's pages of up to
  1,000: ceil(managed devices / 1,000) requests, 100 for 100,000 devices) and a diff of
  `fingerprint`s, which leave out `lastSyncDateTime` so a routine check-in is not a change.
  Intune's requests count against its own limit (2,000 requests per 20 s per app per tenant),
  not the directory's resource units, so this read never slows the Entra listings.
- A tenant without Intune, or an app without its permission, still gets Entra's devices:
  `managed_devices` records the reason once in `Availability` ("intune_devices") and returns
  None, and every Intune fact stays unknown (omitted), never false.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

import orjson

from connector.graph.client import EXPIRED_PAGE_TOKEN, BatchRequest, GraphClient, GraphError, Page
from connector.graph.odata import (
    UNKNOWN_PROPERTY,
    Availability,
    DeltaExpired,
    build_url,
    complete_listing,
    delta_rounds,
    is_refusal,
    latest_link,
    odata_datetime,
    refusal_reason,
)
from connector.graph.permissions import Grants
from connector.ocsf.device_inventory import (
    GRAPH_DEVICE_FIELDS,
    INTUNE_DEVICE_FIELDS,
    Owner,
    owners_from,
)

__all__ = [
    "INTUNE_FEATURE",
    "DeltaExpired",
    "DeviceChanges",
    "DeviceQuery",
    "IntuneTable",
    "device_changes",
    "device_link_changes",
    "device_pages",
    "devices_delta_url",
    "devices_latest_link",
    "fingerprint",
    "intune_changes",
    "intune_refusal_reason",
    "links_of",
    "managed_devices",
    "owners_of",
    "registered_users",
]

log = logging.getLogger(__name__)

DEVICES = "/devices"
MANAGED_DEVICES = "/deviceManagement/managedDevices"
LINK_SELECT = "id,displayName,userPrincipalName"
OWNERS_EXPAND = f"registeredOwners($select={LINK_SELECT})"
USERS_EXPAND = f"registeredUsers($select={LINK_SELECT})"
# An expanded directory relationship returns at most 20 objects, silently.
EXPAND_LIMIT: Final = 20
INTUNE_FEATURE: Final = "intune_devices"
OWNERS_FEATURE: Final = "device_owners"
#: How the device features read in a warning (`Availability(LABELS)`).
LABELS: Final = {
    INTUNE_FEATURE: "Intune device facts (compliance, ownership, serial number)",
    OWNERS_FEATURE: "device owners",
    "device_users": "device registered users",
    "device_owner_changes": "device owner changes between owner re-reads",
}
#: What `connector test` asks to report the device features: (feature, label, URL).
PROBES: Final = (
    ("devices", "devices (Entra ID)", build_url(DEVICES, {"$select": "id", "$top": 1})),
    (INTUNE_FEATURE, "Intune managed devices",
     build_url(MANAGED_DEVICES, {"$select": "id", "$top": 1})),
)
# Intune's gateway answers a tenant without an Intune licence with this (HTTP 400).
_NOT_APPLICABLE = "Request not applicable to target tenant"
# lastSyncDateTime moves at every check-in; a fingerprint without it changes with the facts.
_VOLATILE: Final = frozenset({"lastSyncDateTime"})

# --- Entra devices ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeviceQuery:
    """The devices listing; `owners` expands each device's registered owner."""

    fields: tuple[str, ...] = GRAPH_DEVICE_FIELDS
    page_size: int = 999
    owners: bool = True

    def url(self) -> str:
        return build_url(DEVICES, {
            "$select": ",".join(self.fields),
            "$expand": OWNERS_EXPAND if self.owners else None,
            "$top": self.page_size,
        })


async def device_pages(client: GraphClient, query: DeviceQuery, availability: Availability,
                       start: str | None = None) -> AsyncIterator[tuple[DeviceQuery, Page]]:
    """Pages of devices from `start` (a resume link) or the query's first page, each with the
    query in force. A property this Graph does not know is dropped (and logged); a refused
    owner expansion is dropped and recorded as `device_owners` in `availability`. A refusal of
    the listing itself (no `Device.Read.All`) is raised: there is no device stream without it.
    """
    while True:
        try:
            async for page in client.pages(start or query.url()):
                yield query, page
            return
        except GraphError as error:
            if not is_refusal(error) or error.code == EXPIRED_PAGE_TOKEN or error.status != 400:
                raise
            unknown = UNKNOWN_PROPERTY.search(error.message)
            name = unknown.group(1) if unknown else None
            if name is not None and name in query.fields and name not in ("id", "deviceId"):
                log.warning("Graph does not know the device property %s; collecting without it",
                            name)
                query = replace(query, fields=tuple(f for f in query.fields if f != name))
            elif query.owners:
                availability.degrade(OWNERS_FEATURE, f"Graph refused the owner expansion "
                                                     f"({error.status} {error.code})")
                query = replace(query, owners=False)
            else:
                raise
            start = None


def owners_of(item: Mapping[str, Any]) -> tuple[Owner, ...] | None:
    """The registered owners expanded on a listed device; None when they were not expanded."""
    owners = item.get("registeredOwners")
    return owners_from(owners) if isinstance(owners, list) else None


def _links(response_body: Any) -> tuple[list[Any], str | None]:
    body = response_body if isinstance(response_body, Mapping) else {}
    values = body.get("value")
    link = body.get("@odata.nextLink")
    return (values if isinstance(values, list) else [],
            link if isinstance(link, str) and link else None)


async def links_of(client: GraphClient, object_ids: Sequence[str], relation: str
                   ) -> dict[str, tuple[Owner, ...]]:
    """object id -> registered owners (`relation="registeredOwners"`) or users
    (`"registeredUsers"`) of each device, through `$batch` (20 devices per request); a device
    gone meanwhile (404) is left out."""
    if relation not in ("registeredOwners", "registeredUsers"):
        raise ValueError(f"unknown device relation {relation!r}")
    out: dict[str, tuple[Owner, ...]] = {}
    responses = await client.batch([
        BatchRequest(str(i), build_url(f"{DEVICES}/{oid}/{relation}", {"$select": LINK_SELECT}))
        for i, oid in enumerate(object_ids)])
    for oid, response in zip(object_ids, responses, strict=True):
        if response.status == 404:
            continue
        if response.status != 200:
            raise response.error()
        values, link = _links(response.body)
        while link is not None:
            page = await client.get_json(link)
            more, link = _links(page)
            values.extend(more)
        out[oid] = owners_from(values)
    return out


async def registered_users(client: GraphClient) -> dict[str, tuple[Owner, ...]]:
    """object id -> registered users (uid only) of every device: one expanded listing, then the
    devices whose expansion may have been cut at 20 asked alone."""
    found: dict[str, tuple[Owner, ...]] = {}
    full: list[str] = []

    def consume(page: Page) -> None:
        for item in page.items:
            oid = item.get("id") if isinstance(item, Mapping) else None
            users = item.get("registeredUsers") if isinstance(oid, str) else None
            if isinstance(oid, str) and isinstance(users, list):
                # The event names registered users by uid only: the rest is not kept (a
                # 100,000-device tenant's names would hold ~15 MB for the whole run).
                found[oid] = tuple(Owner(o.uid) for o in owners_from(users))
                if len(users) >= EXPAND_LIMIT:
                    full.append(oid)

    def reset() -> None:
        found.clear()
        full.clear()

    url = build_url(DEVICES, {"$select": "id", "$expand": USERS_EXPAND, "$top": 999})
    await complete_listing(client, url, consume, reset)
    if full:
        found.update(await links_of(client, full, "registeredUsers"))
    return found


# --- devices/delta ---------------------------------------------------------------------------

def devices_delta_url(fields: Sequence[str] = GRAPH_DEVICE_FIELDS) -> str:
    return build_url(f"{DEVICES}/delta", {"$select": ",".join(fields)})


async def devices_latest_link(client: GraphClient,
                              fields: Sequence[str] = GRAPH_DEVICE_FIELDS) -> str:
    """A delta link meaning "device changes from now on" (`$deltatoken=latest`); a property
    delta cannot track here is left out (and logged), as for users."""
    wanted = list(fields)
    while True:
        try:
            return await latest_link(client, devices_delta_url(wanted))
        except GraphError as error:
            unknown = UNKNOWN_PROPERTY.search(error.message) if error.status == 400 else None
            if unknown is None or unknown.group(1) not in wanted or \
                    unknown.group(1) in ("id", "deviceId"):
                raise
            log.warning("devices/delta cannot track %s here; its changes reach the inventory "
                        "with full collections", unknown.group(1))
            wanted.remove(unknown.group(1))


@dataclass(slots=True)
class DeviceChanges:
    """One `devices/delta` round: current records and removals by object id (reason as Graph
    gives it), and the link for the next round."""

    present: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    link: str = ""


async def device_changes(client: GraphClient, link: str) -> DeviceChanges:
    """Raises `DeltaExpired` when Graph no longer honours `link` (the caller resyncs)."""
    items, new_link = await delta_rounds(client, link, "devices")
    out = DeviceChanges(link=new_link)
    for item in items:
        oid = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(oid, str) or not oid:
            continue
        removed = item.get("@removed")
        if isinstance(removed, Mapping):
            out.removed[oid] = str(removed.get("reason") or "deleted")
            out.present.pop(oid, None)
        else:
            out.removed.pop(oid, None)
            out.present[oid] = dict(item)
    return out


# --- owner changes: the directory audit log ---------------------------------------------------

AUDITS: Final = "/auditLogs/directoryAudits"
#: Core Directory activities (category "Device") that change a device's owner or users.
LINK_ACTIVITIES: Final = frozenset({
    "Add registered owner to device", "Remove registered owner from device",
    "Add registered users to device", "Remove registered users from device",
})


async def device_link_changes(client: GraphClient, since: datetime) -> set[str]:
    """Object ids of devices whose registered owners or users changed since `since`, from the
    directory audit log (`category eq 'Device'`; one reporting request per 999 device
    activities). `devices/delta` does not report these links; this is what notices them
    between the stream's full owner re-reads."""
    url = build_url(AUDITS, {
        "$filter": f"activityDateTime ge {odata_datetime(since)} and category eq 'Device'",
        "$select": "id,activityDisplayName,activityDateTime,targetResources",
        "$top": 999,
    })
    out: set[str] = set()
    async for page in client.pages(url):
        for record in page.items:
            if not isinstance(record, Mapping) or \
                    record.get("activityDisplayName") not in LINK_ACTIVITIES:
                continue
            for target in record.get("targetResources") or ():
                if isinstance(target, Mapping) and \
                        str(target.get("type", "")).lower() == "device" and target.get("id"):
                    out.add(str(target["id"]))
    return out


# --- Intune ----------------------------------------------------------------------------------

def fingerprint(record: Mapping[str, Any]) -> str:
    """A short digest of an Intune record's facts, without `lastSyncDateTime` (a check-in)."""
    parts = [f"{key}={record.get(key)!r}" for key in INTUNE_DEVICE_FIELDS if key not in _VOLATILE]
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


class IntuneTable:
    """Intune's managed devices by Entra `deviceId` (`azureADDeviceId`, lower-cased); records
    without one (not registered in Entra) are counted, not joined.

    Each record is kept as compact JSON of its non-empty mapped fields and parsed on lookup: a
    100,000-device tenant's records as dicts would hold about 2 KB each for the whole run.
    """

    __slots__ = ("_raw", "unjoined")

    def __init__(self, records: Mapping[str, Mapping[str, Any]] | None = None,
                 unjoined: int = 0) -> None:
        self._raw: dict[str, bytes] = {}
        self.unjoined = unjoined
        for did, record in (records or {}).items():
            self.add(did, record)

    def add(self, device_id: str, record: Mapping[str, Any]) -> None:
        # orjson returns its 8 KB working buffer; a copy keeps only the record's bytes.
        self._raw[device_id.lower()] = memoryview(orjson.dumps(
            {k: v for k, v in record.items() if v is not None and v != ""})).tobytes()

    def get(self, device_id: str) -> dict[str, Any] | None:
        raw = self._raw.get(device_id.lower())
        return orjson.loads(raw) if raw is not None else None

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for did, raw in self._raw.items():
            yield did, orjson.loads(raw)

    def fingerprints(self) -> dict[str, str]:
        return {did: fingerprint(record) for did, record in self.items()}

    def clear(self) -> None:
        self._raw.clear()
        self.unjoined = 0

    def __len__(self) -> int:
        return len(self._raw)


_EMPTY_ID = "00000000-0000-0000-0000-000000000000"


def probe_refusal(feature: str, error: GraphError) -> str:
    """Why a `PROBES` request was refused, in the words the run's warning uses."""
    return intune_refusal_reason(error) if feature == INTUNE_FEATURE else refusal_reason(error)


def intune_refusal_reason(error: GraphError) -> str:
    if error.status == 403:
        return ("the app lacks the Graph permission DeviceManagementManagedDevices.Read.All "
                f"(Intune answered {error.status} {error.code})")
    if _NOT_APPLICABLE.lower() in error.message.lower():
        return (f"the tenant has no Microsoft Intune licence (Intune answered {error.status}: "
                f"{_NOT_APPLICABLE})")
    return f"Intune refused it ({error.status} {error.code}: {error.message})"


async def managed_devices(client: GraphClient, availability: Availability,
                          grants: Grants | None = None) -> IntuneTable | None:
    """Every Intune managed device, or None (recorded once in `availability`) when the tenant
    has no Intune or the app lacks the permission; Entra devices are collected either way."""
    if not availability.available(INTUNE_FEATURE):
        return None
    missing = grants.missing(INTUNE_FEATURE) if grants is not None else None
    if missing is not None:
        availability.degrade(INTUNE_FEATURE, missing)
        return None
    table = IntuneTable()

    def consume(page: Page) -> None:
        for item in page.items:
            if not isinstance(item, Mapping):
                continue
            did = item.get("azureADDeviceId")
            if isinstance(did, str) and did and did != _EMPTY_ID:
                table.add(did, item)
            else:
                table.unjoined += 1

    def reset() -> None:
        table.clear()

    url = build_url(MANAGED_DEVICES, {"$select": ",".join(INTUNE_DEVICE_FIELDS)})
    try:
        await complete_listing(client, url, consume, reset)
    except GraphError as error:
        if not is_refusal(error) or error.code == EXPIRED_PAGE_TOKEN:
            raise
        availability.degrade(INTUNE_FEATURE, intune_refusal_reason(error))
        return None
    return table


def intune_changes(previous: Mapping[str, str], table: IntuneTable) -> set[str]:
    """Entra deviceIds whose Intune facts differ from `previous` (deviceId -> fingerprint):
    changed, newly enrolled, or no longer enrolled."""
    current = table.fingerprints()
    changed = {did for did, digest in current.items() if previous.get(did) != digest}
    return changed | (set(previous) - set(current))
