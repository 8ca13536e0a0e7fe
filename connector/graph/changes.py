"""Graph's change sources: what changed in the directory since a cursor, for a cost that grows
with the changes, not with the tenant.

Which Graph source answers which fact (docs/changes.md has the pages behind each choice):

- profile, account state, manager, deletions, restores: `GET /users/delta` with `$select` (the
  mapping's fields + `manager`, whose changes come as `manager@delta`). `@removed` reason
  `changed` = soft-deleted (restorable from deleted items for 30 days), `deleted` = purged.
  `signInActivity` cannot be selected in delta. A full run starts tracking with
  `$deltatoken=latest` (an empty round whose deltaLink means "from now") instead of paging the
  whole tenant a second time.
- direct memberships: `GET /groups/delta?$select=displayName,members`: `members@delta` holds the
  members added, and removed ones with `@removed`; a deleted group comes with `@removed`.
- when a user was soft-deleted: `GET /directory/deletedItems/{id}` (`deletedDateTime`), per
  user through `$batch`; a 404 means the user is gone for good.
- MFA registration: the directory audit log (`/auditLogs/directoryAudits`, filtered on
  `activityDateTime` and `loggedByService eq 'Authentication Methods'`) names the users who
  registered or deleted security info; only they are read again.
- user risk: not here. `riskyUsers` documents no filter on `riskLastUpdatedDateTime` (Graph may
  answer 400), so change tracking reads Identity Protection's whole list (`sources.risky_users`,
  pages of 500) and diffs it against the previous one (`RiskTable.changes_since`).
- last sign-in (its own cadence): `/users?$filter=signInActivity/lastSignInDateTime ge ...`.
- managers (their own cadence), for when `users/delta` leaves `manager@delta` out (Graph's
  trackers report it: microsoft-graph-docs #15842, graph-explorer-v4 #4018):
  `/users?$select=id&$expand=manager(...)&$top=999`, one request per 999 users.

A delta link Graph no longer honours (400 `syncStateNotFound` after its 7 days, 410 Gone
`resyncRequired` after a reset, or an expired page token) raises `DeltaExpired`: the caller falls
back to a full collection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.graph.client import BatchRequest, GraphClient, GraphError
from connector.graph.odata import (
    UNKNOWN_PROPERTY,
    DeltaExpired,
    build_url,
    delta_rounds,
    latest_link,
    odata_datetime,
)
from connector.graph.sources import (
    GROUP_TYPE,
    MANAGER_EXPAND,
    SIGN_IN_FIELD,
)

__all__ = [
    "AuditRecord",
    "DeltaExpired",
    "GroupChanges",
    "UserChanges",
    "deleted_since",
    "group_changes",
    "is_mfa_record",
    "latest_link",
    "manager_pages",
    "mfa_changed_users",
    "mfa_target_users",
    "sign_ins_of",
    "sign_ins_since",
    "user_changes",
    "users_delta_url",
    "users_latest_link",
]

log = logging.getLogger(__name__)

MFA_SERVICE = "Authentication Methods"
AUDITS = "/auditLogs/directoryAudits"
DELETED_ITEMS = "/directory/deletedItems"


def users_delta_url(fields: Sequence[str]) -> str:
    select = [f for f in fields if f != SIGN_IN_FIELD]
    return build_url("/users/delta", {"$select": ",".join([*select, "manager"])})


GROUPS_DELTA = build_url("/groups/delta", {"$select": "displayName,members"})


async def users_latest_link(client: GraphClient, fields: Sequence[str]) -> str:
    """`latest_link` for users; a property this Graph cannot track is left out (and logged)."""
    wanted = [f for f in fields if f != SIGN_IN_FIELD]
    while True:
        try:
            return await latest_link(client, users_delta_url(wanted))
        except GraphError as error:
            unknown = UNKNOWN_PROPERTY.search(error.message) if error.status == 400 else None
            if unknown is None or unknown.group(1) not in wanted or unknown.group(1) == "id":
                raise
            log.warning("users/delta cannot track %s here; its changes reach the inventory "
                        "with full collections", unknown.group(1))
            wanted.remove(unknown.group(1))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(slots=True)
class UserChanges:
    """One `users/delta` round: current records, removals (id -> reason), manager changes
    (id -> manager id, or None when removed), and the link for the next round."""

    present: dict[str, dict[str, Any]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    managers: dict[str, str | None] = field(default_factory=dict)
    link: str = ""
    # Items that could not be read (not an object, no id), for the run's skipped records.
    dropped: list[str] = field(default_factory=list)


def _unreadable(item: Any, source: str) -> str:
    kind = "an object without an id" if isinstance(item, Mapping) else type(item).__name__
    return f"a {source}/delta item is {kind}"


async def user_changes(client: GraphClient, link: str) -> UserChanges:
    items, new_link = await delta_rounds(client, link, "users")
    out = UserChanges(link=new_link)
    for item in items:
        uid = _text(item.get("id")) if isinstance(item, Mapping) else None
        if uid is None:
            out.dropped.append(_unreadable(item, "users"))
            continue
        removed = item.get("@removed")
        if isinstance(removed, Mapping):
            out.removed[uid] = str(removed.get("reason") or "deleted")
            out.present.pop(uid, None)
            continue
        out.removed.pop(uid, None)
        out.present[uid] = dict(item)
        managers = item.get("manager@delta")
        if isinstance(managers, list):
            current = [m for m in managers if isinstance(m, Mapping) and _text(m.get("id"))
                       and not isinstance(m.get("@removed"), Mapping)]
            out.managers[uid] = str(current[-1]["id"]) if current else None
    return out


@dataclass(slots=True)
class GroupChanges:
    """One `groups/delta` round: names of changed groups, deleted groups, member changes."""

    names: dict[str, str | None] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    added: dict[str, set[str]] = field(default_factory=dict)
    removed: dict[str, set[str]] = field(default_factory=dict)
    link: str = ""
    dropped: list[str] = field(default_factory=list)  # as `UserChanges.dropped`

    def users(self) -> set[str]:
        return {uid for members in (*self.added.values(), *self.removed.values())
                for uid in members}


async def group_changes(client: GraphClient, link: str) -> GroupChanges:
    items, new_link = await delta_rounds(client, link, "groups")
    out = GroupChanges(link=new_link)
    for item in items:
        gid = _text(item.get("id")) if isinstance(item, Mapping) else None
        if gid is None:
            out.dropped.append(_unreadable(item, "groups"))
            continue
        if isinstance(item.get("@removed"), Mapping):
            out.deleted.add(gid)
            continue
        if "displayName" in item:
            name = item.get("displayName")
            out.names[gid] = name if isinstance(name, str) else None
        for member in item.get("members@delta") or ():
            if not isinstance(member, Mapping) or _text(member.get("id")) is None:
                out.dropped.append(f"a member of group {gid} in groups/delta is unreadable")
                continue
            if member.get("@odata.type") == GROUP_TYPE:
                continue  # nested groups: direct user memberships only
            uid = str(member["id"])
            if isinstance(member.get("@removed"), Mapping):
                out.removed.setdefault(gid, set()).add(uid)
                out.added.get(gid, set()).discard(uid)
            else:
                out.added.setdefault(gid, set()).add(uid)
                out.removed.get(gid, set()).discard(uid)
    return out


async def deleted_since(client: GraphClient, user_ids: Sequence[str]) -> dict[str, str | None]:
    """user id -> `deletedDateTime` for those still in deleted items (soft-deleted); users not
    found there were purged meanwhile and are absent from the answer."""
    responses = await client.batch([
        BatchRequest(str(i), build_url(f"{DELETED_ITEMS}/{uid}", {"$select": "id,deletedDateTime"}))
        for i, uid in enumerate(user_ids)])
    out: dict[str, str | None] = {}
    for uid, response in zip(user_ids, responses, strict=True):
        if response.status == 404:
            continue
        if response.status != 200:
            raise response.error()
        body = response.body if isinstance(response.body, Mapping) else {}
        out[uid] = _text(body.get("deletedDateTime"))
    return out


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: str
    when: str
    user_id: str


def mfa_target_users(record: Mapping[str, Any]) -> tuple[str, ...]:
    """The users an Authentication Methods record (security info registered, deleted, ...)
    names as targets: whose MFA registration may have changed. The caller has checked the
    service (`loggedByService`, or a filter on it)."""
    out: list[str] = []
    for target in record.get("targetResources") or ():
        if isinstance(target, Mapping) and str(target.get("type", "")).lower() == "user":
            uid = _text(target.get("id"))
            if uid is not None:
                out.append(uid)
    return tuple(out)


def is_mfa_record(record: Mapping[str, Any]) -> bool:
    """Whether a full audit record is one the MFA change detection reads."""
    return record.get("loggedByService") == MFA_SERVICE


async def mfa_changed_users(client: GraphClient, since: datetime) -> list[AuditRecord]:
    """Audit records of users who registered or deleted security info (MFA methods) since
    `since`, one per (record, target user)."""
    url = build_url(AUDITS, {
        "$filter": f"activityDateTime ge {odata_datetime(since)} and "
                   f"loggedByService eq '{MFA_SERVICE}'",
        "$select": "id,activityDisplayName,activityDateTime,targetResources",
        "$top": 999,
    })
    out: list[AuditRecord] = []
    async for page in client.pages(url):
        for record in page.items:
            rid = _text(record.get("id"))
            when = _text(record.get("activityDateTime")) or ""
            if rid is not None:
                out.extend(AuditRecord(rid, when, uid) for uid in mfa_target_users(record))
    return out


async def manager_pages(client: GraphClient
                        ) -> AsyncIterator[dict[str, dict[str, Any] | None]]:
    """Every user's manager, a page at a time: user id -> {id, displayName,
    userPrincipalName} or None."""
    url = build_url("/users", {"$select": "id", "$expand": MANAGER_EXPAND, "$top": 999})
    async for page in client.pages(url):
        out: dict[str, dict[str, Any] | None] = {}
        for item in page.items:
            uid = _text(item.get("id")) if isinstance(item, Mapping) else None
            if uid is None:
                continue
            manager = item.get("manager")
            out[uid] = ({k: manager[k] for k in ("id", "displayName", "userPrincipalName")
                         if manager.get(k) is not None}
                        if isinstance(manager, Mapping) and _text(manager.get("id")) else None)
        yield out


async def sign_ins_since(client: GraphClient, since: datetime) -> dict[str, dict[str, Any]]:
    """user id -> `signInActivity` for users whose last sign-in is at or after `since`."""
    url = build_url("/users", {
        "$filter": f"signInActivity/lastSignInDateTime ge {odata_datetime(since)}",
        "$select": f"id,{SIGN_IN_FIELD}",
        "$top": 500,
    })
    out: dict[str, dict[str, Any]] = {}
    async for page in client.pages(url):
        for item in page.items:
            uid = _text(item.get("id")) if isinstance(item, Mapping) else None
            activity = item.get(SIGN_IN_FIELD) if uid else None
            if uid is not None and isinstance(activity, Mapping):
                out[uid] = dict(activity)
    return out


async def sign_ins_of(client: GraphClient, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """user id -> `signInActivity`, per user through `$batch` (`GET /users/{id}?$select=`
    works where delta cannot select it): for changed users the store never held. Users without
    one, or no longer found, are absent; a refusal raises for the caller to degrade on."""
    responses = await client.batch([
        BatchRequest(str(i), build_url(f"/users/{uid}", {"$select": f"id,{SIGN_IN_FIELD}"}))
        for i, uid in enumerate(user_ids)])
    out: dict[str, dict[str, Any]] = {}
    for uid, response in zip(user_ids, responses, strict=True):
        if response.status in (401, 403):
            raise response.error()
        body = response.body if response.status == 200 else None
        activity = body.get(SIGN_IN_FIELD) if isinstance(body, Mapping) else None
        if isinstance(activity, Mapping):
            out[uid] = dict(activity)
    return out
