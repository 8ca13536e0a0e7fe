"""The workload identity stream's Graph sources: service principals and what they hold.

Permissions, licences, paging and throttling are in docs/setup.md ("Workload identities"), and
change tracking in docs/changes.md; in short (learn.microsoft.com/graph/api/...):
- `/servicePrincipals`, `/applications`, their `appRoleAssignments`, `appRoleAssignedTo`,
  `owners` and `delta`: Application.Read.All (or Directory.Read.All), any licence.
- `/oauth2PermissionGrants`: Directory.Read.All (Graph names nothing narrower for an app).
- `/beta/reports/servicePrincipalSignInActivities`: AuditLog.Read.All, Entra ID P1/P2, global
  cloud only; an identity-and-access report (5 requests / 10 s).
- An expanded directory relation holds at most 20 items and no nextLink: a relation showing
  20 is read in full (`relations_of`, `$batch`). One navigation property per `$expand`, so
  the three relations are three listings (6 pages each for 5,000 service principals).

A missing permission or licence degrades the source it belongs to (`Availability`: one
message) and the rest is collected; only the service principal listing itself is required.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from connector.graph.client import (
    API_VERSION,
    EXPIRED_PAGE_TOKEN,
    BatchRequest,
    GraphClient,
    GraphError,
    Page,
    gather_all,
)
from connector.graph.directory_audits import DIRECTORY_AUDITS_PATH, whole_second
from connector.graph.odata import (
    Availability,
    DeltaExpired,
    build_url,
    delta_rounds,
    is_refusal,
    latest_link,
    odata_datetime,
    refusal_reason,
)
from connector.graph.odata import complete_listing as _complete_listing
from connector.graph.permissions import Grants
from connector.ocsf.device_inventory import Owner, owners_from
from connector.ocsf.workload_identity import (
    GRAPH_SERVICE_PRINCIPAL_FIELDS,
    AppPermission,
    Consent,
    Credential,
    Roster,
    WorkloadFacts,
    credentials_of,
)

__all__ = [
    "CONSENTS_FEATURE",
    "LABELS",
    "SIGN_INS_FEATURE",
    "WORKLOADS_FEATURE",
    "DeltaExpired",
    "Snapshot",
    "WorkloadChanges",
    "audit_touched",
    "facts_for",
    "latest_links",
    "missing_permission",
    "read_all",
    "read_some",
    "workload_changes",
]

log = logging.getLogger(__name__)

SERVICE_PRINCIPALS: Final = "/servicePrincipals"
APPLICATIONS: Final = "/applications"
GRANTS: Final = "/oauth2PermissionGrants"
SIGN_IN_ACTIVITY: Final = "/reports/servicePrincipalSignInActivities"  # /beta only
EXPAND_LIMIT: Final = 20
OWNER_SELECT: Final = "id,displayName,userPrincipalName"
APP_FIELDS: Final = ("id", "appId", "displayName", "passwordCredentials", "keyCredentials")
#: What delta selects (properties whose change matters; `appRoles` changes with the app's own
#: manifest, read again with the service principal).
SP_DELTA_FIELDS: Final = tuple(f for f in GRAPH_SERVICE_PRINCIPAL_FIELDS if f != "appRoles")
WORKLOADS_FEATURE: Final = "workload_identities"
CONSENTS_FEATURE: Final = "workload_consents"
SIGN_INS_FEATURE: Final = "workload_sign_ins"
#: How the run's one message names each source it could not read.
LABELS: Final = {WORKLOADS_FEATURE: "workload identities",
                 CONSENTS_FEATURE: "delegated consents of applications",
                 SIGN_INS_FEATURE: "last sign-ins of service principals"}
#: Audit activities (category ApplicationManagement) that change a relation delta cannot see.
RELATION_ACTIVITIES: Final = frozenset({
    "Add app role assignment to service principal", "Remove app role assignment from service principal",
    "Add app role assignment grant to user", "Remove app role assignment from user",
    "Add app role assignment grant to group", "Remove app role assignment from group",
    "Consent to application", "Add delegated permission grant", "Remove delegated permission grant",
    "Add owner to service principal", "Remove owner from service principal",
    "Add owner to application", "Remove owner from application",
})


def missing_permission(grants: Grants, key: str) -> str | None:
    """`Grants.missing` for a workload feature (`connector.graph.permissions.FEATURES`)."""
    return grants.missing(key)


#: An application permission held, as read: (resourceId, appRoleId, resourceDisplayName).
Held = tuple[str, str, str | None]


def held_of(items: Iterable[Mapping[str, Any]]) -> list[Held]:
    """The compact form of appRoleAssignments (kept for every service principal of a run)."""
    out: list[Held] = []
    for a in items:
        name = a.get("resourceDisplayName")
        out.append((str(a.get("resourceId")), str(a.get("appRoleId")), name if isinstance(name, str) else None))
    return out


def roster_of(items: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(users, groups) assigned, from appRoleAssignedTo; client service principals holding an
    application permission of this one are not its roster."""
    kinds = [a.get("principalType") for a in items]
    return kinds.count("User"), kinds.count("Group")


@dataclass(slots=True)
class ConsentTally:
    """One client's delegated grants, per resource: scopes, tenant-wide or not, how many users
    (Graph keeps one grant per client, user and resource). Grants are folded in as they are
    listed: a tenant where every user consented to a few apps has far more grants than apps."""

    by_resource: dict[str, tuple[dict[str, None], list[bool], list[int]]] = field(default_factory=dict)

    def add(self, grant: Mapping[str, Any]) -> None:
        scopes, wide, users = self.by_resource.setdefault(str(grant.get("resourceId")), ({}, [False], [0]))
        for scope in str(grant.get("scope") or "").split():
            scopes[scope] = None
        if grant.get("consentType") == "AllPrincipals":
            wide[0] = True
        elif isinstance(grant.get("principalId"), str):
            users[0] += 1

    def consents(self, names: Mapping[str, str]) -> tuple[Consent, ...]:
        return tuple(Consent(r, names.get(r), tuple(scopes), wide[0], users[0])
                     for r, (scopes, wide, users) in sorted(self.by_resource.items()))


def tally(grants: Iterable[Mapping[str, Any]]) -> ConsentTally:
    out = ConsentTally()
    for grant in grants:
        out.add(grant)
    return out


@dataclass(slots=True)
class Snapshot:
    """What was read about service principals; a relation absent for an id = not read."""

    sps: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: dict[str, list[Held]] = field(default_factory=dict)
    assigned: dict[str, tuple[int, int]] = field(default_factory=dict)  # (users, groups)
    owners: dict[str, tuple[Owner, ...]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)  # by appId
    app_owners: dict[str, tuple[Owner, ...]] = field(default_factory=dict)  # by app object id
    grants: dict[str, ConsentTally] | None = None  # by clientId; None = not read
    last_sign_in: dict[str, str] | None = None  # by appId; None = not read
    role_names: dict[str, str] = field(default_factory=dict)  # "resourceId/appRoleId" -> value
    names: dict[str, str] = field(default_factory=dict)  # service principal id -> display name

    def learn_names(self, sp: Mapping[str, Any]) -> None:
        sid, name = sp.get("id"), sp.get("displayName")
        if isinstance(sid, str) and isinstance(name, str):
            self.names[sid] = name
        roles = sp.get("appRoles")
        if isinstance(sid, str) and isinstance(roles, list):
            for role in roles:
                if isinstance(role, Mapping) and isinstance(role.get("id"), str) and isinstance(role.get("value"), str):
                    self.role_names[f"{sid}/{role['id']}"] = role["value"]


def _items(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    body = body if isinstance(body, Mapping) else {}
    values = body.get("value")
    link = body.get("@odata.nextLink")
    return ([v for v in values if isinstance(v, dict)] if isinstance(values, list) else [],
            link if isinstance(link, str) else None)


async def relations_of(client: GraphClient, path: str, ids: Sequence[str], relation: str,
                       params: Mapping[str, str | int | None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """id -> every item of `{path}/{id}/{relation}`, through `$batch`, nextLinks followed; an
    object gone meanwhile (404) is left out."""
    out: dict[str, list[dict[str, Any]]] = {}
    if not ids:
        return out
    query = {"$top": 999, **(params or {})}
    responses = await client.batch([BatchRequest(str(i), build_url(f"{path}/{oid}/{relation}", query))
                                    for i, oid in enumerate(ids)])
    for oid, response in zip(ids, responses, strict=True):
        if response.status == 404:
            continue
        if response.status != 200:
            raise response.error()
        values, link = _items(response.body)
        while link is not None:
            more, link = _items(await client.get_json(link))
            values.extend(more)
        out[oid] = values
    return out


async def _expanded(client: GraphClient, relation: str, select: str, expand: str,
                    into: dict[str, Any], sink: dict[str, Any],
                    compact: Callable[[list[dict[str, Any]]], Any]) -> None:
    """One listing expanding `relation`; the ones shown at the cap are read in full. Each
    relation is kept in its `compact` form only, so a page's raw items do not outlive it."""
    capped: list[str] = []

    def consume(page: Page) -> None:
        for item in page.items:
            oid = item.get("id")
            values = item.get(relation)
            if not isinstance(oid, str) or not isinstance(values, list):
                continue
            if select != "id":
                into[oid] = {k: v for k, v in item.items() if k != relation}
            sink[oid] = compact([v for v in values if isinstance(v, dict)])
            if len(values) >= EXPAND_LIMIT:
                capped.append(oid)

    def reset() -> None:
        sink.clear()
        capped.clear()

    url = build_url(SERVICE_PRINCIPALS, {"$select": select, "$expand": expand, "$top": 999})
    await _complete_listing(client, url, consume, reset)
    params = {"$select": OWNER_SELECT} if relation == "owners" else None
    full = await relations_of(client, SERVICE_PRINCIPALS, capped, relation, params)
    sink.update({oid: compact(items) for oid, items in full.items()})


async def _applications(client: GraphClient, snap: Snapshot) -> None:
    capped: list[str] = []

    def consume(page: Page) -> None:
        for item in page.items:
            app_id, oid = item.get("appId"), item.get("id")
            if not isinstance(app_id, str) or not isinstance(oid, str):
                continue
            owners = item.pop("owners", None)
            snap.apps[app_id] = item
            if isinstance(owners, list):
                snap.app_owners[oid] = owners_from(owners)
                if len(owners) >= EXPAND_LIMIT:
                    capped.append(oid)

    def reset() -> None:
        snap.apps.clear()
        snap.app_owners.clear()
        capped.clear()

    url = build_url(APPLICATIONS, {"$select": ",".join(APP_FIELDS),
                                   "$expand": f"owners($select={OWNER_SELECT})", "$top": 999})
    await _complete_listing(client, url, consume, reset)
    full = await relations_of(client, APPLICATIONS, capped, "owners", {"$select": OWNER_SELECT})
    snap.app_owners.update({oid: owners_from(items) for oid, items in full.items()})


async def _grants(client: GraphClient, snap: Snapshot, availability: Availability) -> None:
    found: dict[str, ConsentTally] = {}

    def consume(page: Page) -> None:
        for item in page.items:
            client_id = item.get("clientId")
            if isinstance(client_id, str):
                found.setdefault(client_id, ConsentTally()).add(item)

    try:
        await _complete_listing(client, build_url(GRANTS, {"$top": 999}), consume, found.clear)
    except GraphError as error:
        if not is_refusal(error) or error.code == EXPIRED_PAGE_TOKEN:
            raise
        availability.degrade(CONSENTS_FEATURE, refusal_reason(error))
        return
    snap.grants = found


async def _sign_ins(client: GraphClient, snap: Snapshot, availability: Availability) -> None:
    found: dict[str, str] = {}

    def consume(page: Page) -> None:
        for item in page.items:
            app_id, last = item.get("appId"), item.get("lastSignInActivity")
            when = last.get("lastSignInDateTime") if isinstance(last, Mapping) else None
            if isinstance(app_id, str) and isinstance(when, str):
                found[app_id] = when

    try:
        await _complete_listing(client, _beta(client, build_url(SIGN_IN_ACTIVITY, {"$top": 1000})),
                                consume, found.clear)
    except GraphError as error:
        if not is_refusal(error) or error.code == EXPIRED_PAGE_TOKEN:
            raise
        availability.degrade(SIGN_INS_FEATURE, refusal_reason(error))
        return
    snap.last_sign_in = found


async def sso_rosters(client: GraphClient) -> dict[str, tuple[tuple[str, str | None], ...]]:
    """Principal (user or group) id -> the applications (service principal id, name) it is
    assigned to: one expanded listing, rosters at the 20-item cap read in full. Entra does not
    apply an assignment to members of nested groups, so a user's direct groups suffice."""
    records: dict[str, Any] = {}
    assigned: dict[str, list[str]] = {}

    def principals(items: list[dict[str, Any]]) -> list[str]:
        return [str(i.get("principalId")) for i in items if i.get("principalType") in ("User", "Group")]

    await _expanded(client, "appRoleAssignedTo", "id,displayName", "appRoleAssignedTo", records, assigned,
                    principals)
    out: dict[str, list[tuple[str, str | None]]] = {}
    for sp_id, ids in assigned.items():
        name = records.get(sp_id, {}).get("displayName")
        for principal in ids:
            out.setdefault(principal, []).append((sp_id, name if isinstance(name, str) else None))
    return {k: tuple(v) for k, v in out.items()}


def _beta(client: GraphClient, relative: str) -> str:
    return client.base_url.removesuffix("/" + API_VERSION) + "/beta" + relative


async def read_all(client: GraphClient, availability: Availability, grants: Grants) -> Snapshot:
    """Every service principal with every relation, concurrently; optional sources the token
    cannot read are skipped without a request (one message each)."""
    snap = Snapshot()
    jobs = [
        _expanded(client, "appRoleAssignedTo", ",".join(GRAPH_SERVICE_PRINCIPAL_FIELDS), "appRoleAssignedTo",
                  snap.sps, snap.assigned, roster_of),
        _expanded(client, "appRoleAssignments", "id", "appRoleAssignments", snap.sps, snap.held, held_of),
        _expanded(client, "owners", "id", f"owners($select={OWNER_SELECT})", snap.sps, snap.owners,
                  owners_from),
        _applications(client, snap),
    ]
    for key, job in ((CONSENTS_FEATURE, _grants), (SIGN_INS_FEATURE, _sign_ins)):
        reason = missing_permission(grants, key)
        if reason is not None:
            availability.degrade(key, reason)
        else:
            jobs.append(job(client, snap, availability))
    await gather_all(*jobs)
    for sp in snap.sps.values():
        snap.learn_names(sp)
    return snap


async def read_some(client: GraphClient, sp_ids: Iterable[str], known: Snapshot, *,
                    consents: bool, app_ids: Mapping[str, str],
                    apps_by_app_id: Mapping[str, str] | None = None) -> tuple[Snapshot, set[str]]:
    """The named service principals re-read in full through `$batch` (themselves, their three
    relations, their consents when `consents`, their app registration and its owners when
    `app_ids` (service principal id -> app object id) or `apps_by_app_id` (appId -> app object
    id, e.g. from applications/delta for a new registration) knows it); returns the snapshot and
    the ids Graph no longer has (404)."""
    ids = sorted(set(sp_ids))
    snap = Snapshot(grants={} if consents else None, role_names=known.role_names, names=known.names)
    if not ids:
        return snap, set()
    select = ",".join(GRAPH_SERVICE_PRINCIPAL_FIELDS)
    responses = await client.batch([BatchRequest(str(i), build_url(f"{SERVICE_PRINCIPALS}/{oid}", {"$select": select}))
                                    for i, oid in enumerate(ids)])
    gone: set[str] = set()
    for oid, response in zip(ids, responses, strict=True):
        if response.status == 404:
            gone.add(oid)
        elif response.status != 200:
            raise response.error()
        elif isinstance(response.body, dict):
            snap.sps[oid] = {k: v for k, v in response.body.items() if not k.startswith("@odata")}
            snap.learn_names(snap.sps[oid])
    live = [oid for oid in ids if oid in snap.sps]
    apps = {oid: app_ids[oid] for oid in live if oid in app_ids}
    for oid in live:
        found = (apps_by_app_id or {}).get(str(snap.sps[oid].get("appId")))
        if oid not in apps and found:
            apps[oid] = found
    held, assigned, owners, grants, app_owners, app_records = await gather_all(
        relations_of(client, SERVICE_PRINCIPALS, live, "appRoleAssignments"),
        relations_of(client, SERVICE_PRINCIPALS, live, "appRoleAssignedTo"),
        relations_of(client, SERVICE_PRINCIPALS, live, "owners", {"$select": OWNER_SELECT}),
        relations_of(client, SERVICE_PRINCIPALS, live, "oauth2PermissionGrants") if consents else _nothing(),
        relations_of(client, APPLICATIONS, list(apps.values()), "owners", {"$select": OWNER_SELECT}),
        _app_records(client, list(apps.values())),
    )
    snap.held = {oid: held_of(items) for oid, items in held.items()}
    snap.assigned = {oid: roster_of(items) for oid, items in assigned.items()}
    snap.owners = {oid: owners_from(items) for oid, items in owners.items()}
    if snap.grants is not None:
        snap.grants = {oid: tally(items) for oid, items in grants.items()}
    snap.app_owners = {oid: owners_from(items) for oid, items in app_owners.items()}
    snap.apps = {r["appId"]: r for r in app_records if isinstance(r.get("appId"), str)}
    return snap, gone


async def _nothing() -> dict[str, list[dict[str, Any]]]:
    return {}


async def _app_records(client: GraphClient, object_ids: Sequence[str]) -> list[dict[str, Any]]:
    if not object_ids:
        return []
    responses = await client.batch([BatchRequest(str(i), build_url(f"{APPLICATIONS}/{oid}",
                                                                   {"$select": ",".join(APP_FIELDS)}))
                                    for i, oid in enumerate(object_ids)])
    out: list[dict[str, Any]] = []
    for response in responses:
        if response.status == 200 and isinstance(response.body, dict):
            out.append(response.body)
        elif response.status != 404:
            raise response.error()
    return out


def facts_for(sp_id: str, snap: Snapshot, *, last_sign_in: str | None = None) -> WorkloadFacts:
    """The mapping's facts of one service principal from what was read (pure)."""
    sp = snap.sps[sp_id]
    app_id = sp.get("appId")
    app = snap.apps.get(app_id) if isinstance(app_id, str) else None
    creds: tuple[Credential, ...] = credentials_of(sp, "service_principal")
    if app is not None:
        creds += credentials_of(app, "application")
    perms: tuple[AppPermission, ...] | None = None
    if sp_id in snap.held:
        perms = tuple(AppPermission(resource, name or snap.names.get(resource),
                                    snap.role_names.get(f"{resource}/{role}"), role)
                      for resource, role, name in snap.held[sp_id])
    roster: Roster | None = None
    if sp_id in snap.assigned:
        users, groups = snap.assigned[sp_id]
        roster = Roster(users=users, groups=groups)
    owners: tuple[Owner, ...] | None = snap.owners.get(sp_id)
    if app is not None and isinstance(app.get("id"), str) and app["id"] in snap.app_owners:
        seen = {o.uid for o in owners or ()}
        owners = (*(owners or ()), *(o for o in snap.app_owners[app["id"]] if o.uid not in seen))
    consents: tuple[Consent, ...] | None = None
    if snap.grants is not None:
        found = snap.grants.get(sp_id)
        consents = found.consents(snap.names) if found is not None else ()
    last = last_sign_in
    if snap.last_sign_in is not None and isinstance(app_id, str):
        last = snap.last_sign_in.get(app_id)
    return WorkloadFacts(credentials=creds, app_permissions=perms, consents=consents, owners=owners,
                         roster=roster, last_sign_in=last)


# --- change tracking ----------------------------------------------------------------------------

@dataclass(slots=True)
class WorkloadChanges:
    """One round of both delta sources: service principals changed or removed, applications
    (by object id) whose credentials changed, and the new links."""

    changed: set[str] = field(default_factory=set)
    removed: dict[str, str] = field(default_factory=dict)
    apps: dict[str, str] = field(default_factory=dict)  # app object id -> appId
    sp_link: str = ""
    app_link: str = ""


def _delta_url(path: str, fields: Sequence[str]) -> str:
    return build_url(f"{path}/delta", {"$select": ",".join(fields)})


async def latest_links(client: GraphClient) -> tuple[str, str]:
    """Delta links meaning "changes from now on" for service principals and applications."""
    sp_link, app_link = await gather_all(latest_link(client, _delta_url(SERVICE_PRINCIPALS, SP_DELTA_FIELDS)),
                                         latest_link(client, _delta_url(APPLICATIONS, APP_FIELDS)))
    return str(sp_link), str(app_link)


async def workload_changes(client: GraphClient, sp_link: str, app_link: str) -> WorkloadChanges:
    """Raises `DeltaExpired` when Graph no longer honours a link (the caller resyncs)."""
    (sp_items, new_sp), (app_items, new_app) = await gather_all(
        delta_rounds(client, sp_link, "servicePrincipals"), delta_rounds(client, app_link, "applications"))
    out = WorkloadChanges(sp_link=new_sp, app_link=new_app)
    for item in sp_items:
        oid = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(oid, str):
            continue
        removed = item.get("@removed")
        if isinstance(removed, Mapping):
            out.removed[oid] = str(removed.get("reason") or "deleted")
            out.changed.discard(oid)
        else:
            out.removed.pop(oid, None)
            out.changed.add(oid)
    for item in app_items:
        if isinstance(item, Mapping) and isinstance(item.get("id"), str) and "@removed" not in item:
            out.apps[item["id"]] = str(item.get("appId") or "")
    return out


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def audit_touched(client: GraphClient, since: datetime, upto: datetime) -> tuple[set[str], set[str]]:
    """Service principal ids and application object ids whose relations (grants, roster,
    consents, owners) changed in [since, upto], from the directory audit log."""
    url = build_url(DIRECTORY_AUDITS_PATH, {
        "$filter": f"activityDateTime ge {odata_datetime(whole_second(since))} and activityDateTime le "
                   f"{odata_datetime(whole_second(upto))} and category eq {_quoted('ApplicationManagement')}",
        "$top": 999})
    sps: set[str] = set()
    apps: set[str] = set()

    def consume(page: Page) -> None:
        for record in page.items:
            activity = record.get("activityDisplayName")
            if activity not in RELATION_ACTIVITIES:
                continue
            client_named = False
            for target in record.get("targetResources") or ():
                if not isinstance(target, Mapping):
                    continue
                for prop in target.get("modifiedProperties") or ():
                    if isinstance(prop, Mapping) and prop.get("displayName") == "ServicePrincipal.ObjectID":
                        for raw in (prop.get("newValue"), prop.get("oldValue")):
                            value = str(raw or "").strip('"')
                            if value:
                                sps.add(value)
                                client_named = True
            for target in record.get("targetResources") or ():
                if not isinstance(target, Mapping) or not isinstance(target.get("id"), str):
                    continue
                if target.get("type") == "ServicePrincipal" and not (
                        client_named and "service principal" in str(activity)):
                    sps.add(target["id"])
                elif target.get("type") == "Application":
                    apps.add(target["id"])

    def reset() -> None:
        sps.clear()
        apps.clear()

    await _complete_listing(client, url, consume, reset)
    return sps, apps
