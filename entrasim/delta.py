"""`/users/delta` and `/groups/delta`: Graph's change tracking over the tenant's change logs.

What Graph documents (learn.microsoft.com "Use delta query to track changes in Microsoft Graph
data", "user: delta", "group: delta", "Get incremental changes for groups") and this follows:
- A round is pages joined by `@odata.nextLink` (`$skiptoken`); its last page carries
  `@odata.deltaLink` (`$deltatoken`), never both. The tokens encode `$select`.
- `$deltatoken=latest` ("sync from now") answers one empty page with a deltaLink.
- `$expand`, `$top` and `$orderby` are refused; `$filter` only as `id eq '...'` (or-joined,
  at most 50 ids).
- A changed user comes back with all the selected properties (the default, not
  `Prefer: return=minimal`); with `$select`, a change to a property not selected does not
  bring the user back. `manager` may be selected and travels as `manager@delta`.
- Removed objects: `{"id", "@removed": {"reason": "changed"}}` when restorable from deleted
  items (soft delete), `"deleted"` when gone for good.
- Groups: `members@delta` lists members (initial round) or membership changes (later rounds);
  a removed member carries `@removed` with reason `deleted` (Graph's example uses it for a
  removed membership and a deleted user alike). A large group's members are split over pages,
  the group object repeating on each ("Paging through members in a large group").
- Replays are possible (`tenant.delta_replays = True` repeats the last users of the previous
  round); a token past its lifetime answers 400 `syncStateNotFound`; a "synchronization reset"
  answers 410 Gone with a `Location` header holding a new initial request (see
  `Tenant.expire_delta_tokens`).
Graph's "processing delays": a user not yet replicated (`add_user(visible_after_...)`) is left
out of a round and reported by a later one once visible; other users' changes are not held back.
ASSUMED where Graph does not say: users page at 200 (`Prefer: odata.maxpagesize` honoured);
groups page at 100 groups and 2,000 member references; `signInActivity` in `$select` is
refused (it is not tracked); `manager@delta` is omitted for a user without a manager.
`tenant.manager_delta_omitted = True` models the gap Graph's trackers report (see `Tenant`):
no `manager@delta`, and a manager-only change reports nothing.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from typing import TYPE_CHECKING, Any

from entrasim import graph as _graph
from entrasim import resources
from entrasim.odata import GraphError, bad_request, parse_select, unsupported

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Request
    from entrasim.identity import Claims
    from entrasim.tenant import Group, Tenant, User

Json = dict[str, Any]

USER_PAGE = 200
GROUP_PAGE = 100
GROUP_MEMBER_BUDGET = 2000
MAX_FILTER_IDS = 50
_ID_CLAUSE = re.compile(r"\s*id\s+eq\s+'([0-9a-fA-F-]{36})'\s*", re.IGNORECASE)


def _stale(req: Request, resource: str, tenant: Tenant) -> GraphError:
    if tenant.delta_reset_answer == "reset":
        return GraphError(410, "resyncRequired",
                          "Resync required. Replace any local cached copy of the objects with the "
                          "results of a new full delta request.",
                          {"Location": f"{req.base}/v1.0/{resource}/delta?$deltatoken="})
    return GraphError(400, "syncStateNotFound",
                      "The sync state generation is not found. The delta token is expired and data "
                      "must be synchronized again.")


def _ids_filter(req: Request) -> list[str] | None:
    text = req.query.get("$filter")
    if text is None:
        return None
    clauses = re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE)
    ids = []
    for clause in clauses:
        m = _ID_CLAUSE.fullmatch(clause)
        if m is None:
            raise unsupported("Only 'id eq' filters, joined with 'or', are supported with delta.")
        ids.append(m.group(1).lower())
    if len(ids) > MAX_FILTER_IDS:
        raise unsupported(f"At most {MAX_FILTER_IDS} ids can be tracked with a delta filter.")
    return ids


def _round_state(api: GraphApi, req: Request, resource: str, select: list[str] | None) -> Json | None:
    """The state of the round this request belongs to; None for `$deltatoken=latest`."""
    tenant = api.tenant
    if "$skiptoken" in req.query:
        state = _graph._untoken(req.query["$skiptoken"])
        if int(state.get("e", 0)) != tenant.delta_epoch:
            raise _stale(req, resource, tenant)
        return state
    for option in ("$top", "$orderby", "$expand"):
        if option in req.query:
            raise unsupported(f"The query option '{option}' is not supported with delta.")
    ids = _ids_filter(req)
    raw = req.query.get("$deltatoken", "")
    if raw == "latest":
        return None
    previous: Json = {}
    fresh: Json = {"s": 0, "full": True, "sel": select, "ids": ids}
    if raw:
        previous = _graph._untoken(raw)
        if int(previous.get("e", 0)) != tenant.delta_epoch:
            raise _stale(req, resource, tenant)
        fresh = {"s": int(previous.get("u", 0)), "full": False,
                 "sel": select if "$select" in req.query else previous.get("sel"),
                 "ids": ids if ids is not None else previous.get("ids")}
    fresh.update({"u": tenant.change_seq, "e": tenant.delta_epoch, "k": None, "p": 1,
                  "ci": previous.get("c") if raw else None})
    if resource == "users":
        # not-yet-replicated users: left out of this round, carried to the next one
        fresh["c"] = sorted(tenant.invisible_ids())
    return fresh


def _finish(api: GraphApi, req: Request, resource: str, state: Json, items: list[Json],
            more: bool, resume: Json) -> Json:
    out: Json = {"@odata.context": api._context(req, resource, state.get("sel"))}
    if more:
        nxt = {**state, **resume, "p": int(state.get("p", 1)) + 1}
        out["@odata.nextLink"] = api._link(req, f"/{resource}/delta()", "$skiptoken", nxt, keep_query=False)
    else:
        token = {"u": state["u"], "e": state["e"], "sel": state.get("sel"), "ids": state.get("ids"),
                 "c": state.get("c")}
        out["@odata.deltaLink"] = api._link(req, f"/{resource}/delta()", "$deltatoken", token, keep_query=False)
    out["value"] = items
    if "full" in state:  # a round's page, not a `$deltatoken=latest` answer
        _malform(out, api.faults.take_malformed_delta(resource))
    return out


def _malform(page: Json, kind: str | None) -> None:
    """An injected malformed page (`Faults.malformed_delta`)."""
    if kind == "no_value":
        del page["value"]
    elif kind == "value_not_list":
        page["value"] = {"id": "not-a-list"}
    elif kind == "junk_items":
        page["value"] = [*page["value"], "not an object", 42,
                         {"id": "00000000-0000-4000-8000-00000000dead",
                          "@removed": {"reason": "deleted"}}]
    elif kind is not None:
        raise ValueError(f"unknown malformed_delta {kind!r}")


def _latest(api: GraphApi, req: Request, resource: str, select: list[str] | None) -> Json:
    state = {"u": api.tenant.change_seq, "e": api.tenant.delta_epoch, "sel": select,
             "ids": _ids_filter(req), "c": sorted(api.tenant.invisible_ids()) if resource == "users" else None}
    return _finish(api, req, resource, state, [], False, {})


# ---- users -------------------------------------------------------------------------------
_USER_DELTA_SELECTABLE = {k: v for k, v in resources.USER_SELECTABLE.items() if k not in ("signInActivity", "memberOf")}


def users_delta(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, _graph.USERS)
    select = parse_select(req.query, _USER_DELTA_SELECTABLE, "microsoft.graph.user") if "$skiptoken" not in req.query else None
    if "$select" in req.query and "signinactivity" in req.query["$select"].lower():
        raise bad_request("signInActivity is not supported with delta.", "Request_UnsupportedQuery")
    state = _round_state(api, req, "users", select)
    if state is None:
        return _latest(api, req, "users", select)
    api._page_number(state)
    size = USER_PAGE
    prefer = req.headers.get("prefer", "")
    if "odata.maxpagesize=" in prefer:
        with contextlib.suppress(ValueError):
            size = max(1, min(999, int(prefer.split("odata.maxpagesize=")[1].split(",")[0])))
    tenant = api.tenant
    sel: list[str] | None = state.get("sel")
    ids = set(state["ids"]) if state.get("ids") else None
    upto, after = int(state["u"]), state.get("k")
    carried = set(state.get("c") or ())
    items: list[Json] = []
    last = after
    more = False
    with tenant.lock:
        if state["full"]:
            for u in tenant.users_from(after):
                if u.version > upto or u.id in carried or (ids is not None and u.id not in ids):
                    continue
                if len(items) == size:
                    more = True
                    break
                items.append(_user_item(tenant, u.id, sel))
                last = u.id
        else:
            changed, former = _changed_users(tenant, int(state["s"]), upto, sel, ids, state.get("ci"))
            start = 0 if after is None else bisect.bisect_right(changed, after)
            for uid in changed[start:]:
                if uid in carried:
                    continue
                if len(items) == size:
                    more = True
                    break
                items.append(_user_item(tenant, uid, sel, former.get(uid)))
                last = uid
    return _finish(api, req, "users", state, items, more, {"k": last})


def _changed_users(tenant: Tenant, since: int, upto: int, sel: list[str] | None,
                   ids: set[str] | None, carried_in: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """Ids of the users a round reports (with those an earlier round carried over because
    they were not replicated yet), and for those whose manager was removed, who it was."""
    tracked = None if sel is None else {*sel, "id"}
    omit_manager = tenant.manager_delta_omitted
    changed: set[str] = set(carried_in or ())
    former: dict[str, str] = {}
    for e in tenant.user_log.between(since, upto):
        if ids is not None and e.object_id not in ids:
            continue
        props: frozenset[str] = e.what  # type: ignore[assignment]
        if omit_manager:
            props = frozenset(p for p in props if p != "manager" and not p.startswith("manager-was:"))
            if not props:
                continue
        if tracked is None or "*" in props or not props.isdisjoint(tracked):
            changed.add(e.object_id)
            for p in props:
                if p.startswith("manager-was:"):
                    former.setdefault(e.object_id, p.split(":", 1)[1])
    if tenant.delta_replays and since > 0:
        for e in tenant.user_log.between(max(0, since - 50), since)[-2:]:
            if ids is None or e.object_id in ids:
                changed.add(e.object_id)
    return sorted(changed), former


def _user_item(tenant: Tenant, uid: str, sel: list[str] | None, former_manager: str | None = None) -> Json:
    u = tenant.user(uid)
    if u is None:
        reason = "changed" if tenant.deleted_user(uid) is not None else "deleted"
        return {"id": uid, "@removed": {"reason": reason}}
    props = [p for p in sel if p != "manager"] if sel else list(resources.USER_DEFAULT)
    if "id" not in props:
        props.append("id")
    item = resources.user_json(u, props)
    if sel and "manager" in sel and not tenant.manager_delta_omitted:
        if u.manager is not None and u.manager.deleted is None:
            item["manager@delta"] = [{"@odata.type": "#microsoft.graph.user", "id": u.manager.id}]
        elif former_manager is not None:
            item["manager@delta"] = [{"@odata.type": "#microsoft.graph.user", "id": former_manager,
                                      "@removed": {"reason": "deleted"}}]
    return item


# ---- groups ------------------------------------------------------------------------------
_GROUP_DELTA_SELECTABLE: dict[str, object] = {**resources.GROUP_PROPS, "members": None}


def groups_delta(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, _graph.GROUP_MEMBERS)
    select = parse_select(req.query, _GROUP_DELTA_SELECTABLE, "microsoft.graph.group") if "$skiptoken" not in req.query else None
    state = _round_state(api, req, "groups", select)
    if state is None:
        return _latest(api, req, "groups", select)
    api._page_number(state)
    with api.tenant.lock:
        if state["full"]:
            items, more, resume = _groups_full(api.tenant, state)
        else:
            items, more, resume = _groups_changed(api.tenant, state)
    return _finish(api, req, "groups", state, items, more, resume)


def _group_object(g: Group, sel: list[str] | None) -> Json:
    if sel is None:
        out = resources.group_json(g)
    else:
        out = {p: resources.GROUP_PROPS[p](g) for p in sel if p in resources.GROUP_PROPS}
    out["id"] = g.id
    return out


def _tracks_members(sel: list[str] | None) -> bool:
    return sel is None or "members" in sel


def _member_ref(x: User | Group, removed: bool = False) -> Json:
    kind = "user" if x.__class__.__name__ == "User" else "group"
    return _ref(x.id, kind, removed)


def _ref(object_id: str, kind: str, removed: bool) -> Json:
    out: Json = {"@odata.type": f"#microsoft.graph.{kind}", "id": object_id}
    if removed:
        out["@removed"] = {"reason": "deleted"}
    return out


def _groups_full(tenant: Tenant, state: Json) -> tuple[list[Json], bool, Json]:
    sel = state.get("sel")
    ids = set(state["ids"]) if state.get("ids") else None
    live = sorted((g for g in tenant.groups() if ids is None or g.id in ids), key=lambda g: g.id)
    keys = [g.id for g in live]
    partial, after_member = state.get("g"), state.get("mk")
    if partial is not None:
        start = bisect.bisect_left(keys, partial)
    else:
        start = 0 if state.get("k") is None else bisect.bisect_right(keys, state["k"])
    items: list[Json] = []
    used = 0
    last = state.get("k")
    for g in live[start:]:
        if len(items) == GROUP_PAGE or (used >= GROUP_MEMBER_BUDGET and items):
            return items, True, {"k": last, "g": None, "mk": None}
        obj = _group_object(g, sel)
        if _tracks_members(sel):
            refs: list[User | Group] = sorted([*(u for u in g.members if u.deleted is None), *g.member_groups],
                                              key=lambda x: x.id)
            if g.id == partial and after_member is not None:
                refs = refs[bisect.bisect_right([x.id for x in refs], after_member):]
            room = GROUP_MEMBER_BUDGET - used
            chunk = refs[:room]
            if chunk:
                obj["members@delta"] = [_member_ref(x) for x in chunk]
            used += len(chunk)
            if len(refs) > room:
                items.append(obj)
                return items, True, {"k": last, "g": g.id, "mk": chunk[-1].id}
        items.append(obj)
        last = g.id
    return items, False, {}


def _groups_changed(tenant: Tenant, state: Json) -> tuple[list[Json], bool, Json]:
    sel = state.get("sel")
    ids = set(state["ids"]) if state.get("ids") else None
    removed: dict[str, str] = {}
    members: dict[str, dict[str, tuple[str, bool]]] = {}
    for e in tenant.group_log.between(int(state["s"]), int(state["u"])):
        if ids is not None and e.object_id not in ids:
            continue
        what: tuple[Any, ...] = e.what  # type: ignore[assignment]
        if what[0] == "removed":
            removed[e.object_id] = what[1]
        elif what[0] == "props":
            if sel is None or not what[1].isdisjoint(sel):
                members.setdefault(e.object_id, {})
        elif _tracks_members(sel):
            _, member_id, kind, added = what
            members.setdefault(e.object_id, {})[member_id] = (kind, added)
    order = sorted({*removed, *members})
    after = state.get("k")
    start = 0 if after is None else bisect.bisect_right(order, after)
    items: list[Json] = []
    last = after
    for gid in order[start:]:
        if len(items) == GROUP_PAGE:
            return items, True, {"k": last}
        g = tenant.group(gid)
        if gid in removed or g is None:
            items.append({"id": gid, "@removed": {"reason": removed.get(gid, "deleted")}})
        else:
            obj = _group_object(g, sel)
            if members[gid]:
                obj["members@delta"] = [_ref(mid, kind, not added) for mid, (kind, added) in sorted(members[gid].items())]
            items.append(obj)
        last = gid
    return items, False, {}
