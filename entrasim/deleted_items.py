"""The directory's deleted items: `GET /directory/deletedItems/microsoft.graph.user` (and
`.../microsoft.graph.group`) and `GET /directory/deletedItems/{id}`.

Graph (learn.microsoft.com "List deletedItems", "Get deleted item"): the OData cast is a
required part of the list URL (`/directory/deletedItems` alone is refused); a soft-deleted
user stays 30 days, with `deletedDateTime`, and can be restored; a hard delete removes it
from here too; deleted security groups are deleted permanently and never listed. The list
supports `$select`, `$top` (default 100, max 999 ASSUMED as for `/users`), `$count` and
`$orderby=deletedDateTime desc` with `ConsistencyLevel: eventual`, and pages with
`@odata.nextLink`. Application permission for
users: User.Read.All (Directory.Read.All also works); groups: Group.Read.All.
`POST /directory/deletedItems/{id}/restore` ("Restore deleted item") brings a user back as
present; it needs User.ReadWrite.All (or Directory.ReadWrite.All), which the default app
registration does not hold (403), as a read-only connector should not.
ASSUMED: without `$select` a deleted user carries the default user properties plus
`deletedDateTime`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from entrasim import graph as _graph
from entrasim import resources
from entrasim.odata import bad_request, not_found, parse_select, unsupported

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Request
    from entrasim.identity import Claims

Json = dict[str, Any]

_USER_DEFAULT = (*resources.USER_DEFAULT, "deletedDateTime")
_DELETED_USER_PROPS = {k: v for k, v in resources.USER_PROPS.items()}
_GROUP_READ = _graph._DIRECTORY | {"Group.Read.All", "Group.ReadWrite.All"}


def deleted_items_untyped(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    raise bad_request("The OData cast type is required: use /directory/deletedItems/microsoft.graph.user "
                      "or another supported type.", "Request_BadRequest")


def deleted_items_list(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    kind = m.group(1).lower()
    if kind == "user":
        api._need(claims, _graph.USERS)
        select = parse_select(req.query, _DELETED_USER_PROPS, "microsoft.graph.user")
        props = select or list(_USER_DEFAULT)
        users = _ordered(req, api.tenant.deleted_users(), lambda u: u.deleted or "")
        return api._offset_page(req, users, lambda u: resources.user_json(u, props),
                                "directory/deletedItems/microsoft.graph.user", select=select,
                                count=api._count_allowed(req))
    if kind == "group":
        api._need(claims, _GROUP_READ)
        select = parse_select(req.query, resources.GROUP_PROPS, "microsoft.graph.group")
        groups = _ordered(req, api.tenant.deleted_groups(), lambda g: g.deleted or "")
        return api._offset_page(req, groups, lambda g: _deleted_group_json(g, select),
                                "directory/deletedItems/microsoft.graph.group", select=select,
                                count=api._count_allowed(req))
    raise bad_request(f"Type 'microsoft.graph.{m.group(1)}' is not supported in deleted items by this simulator.")


def _ordered(req: Request, items: list[Any], deleted_at: Callable[[Any], str]) -> list[Any]:
    """Id order, or `$orderby=deletedDateTime [asc|desc]` (an advanced query, as in Graph's
    example: `ConsistencyLevel: eventual` and `$count=true`). `$filter` and `$search` are
    refused rather than ignored."""
    for option in ("$filter", "$search"):
        if option in req.query:
            raise unsupported(f"The query option '{option}' is not supported on deleted items by this simulator.")
    orderby = req.query.get("$orderby")
    if orderby is None:
        return items
    name, _, direction = orderby.strip().partition(" ")
    if name != "deletedDateTime" or direction.strip().lower() not in ("", "asc", "desc"):
        raise unsupported(f"Sorting by '{orderby}' is not supported.")
    if req.headers.get("consistencylevel", "").lower() != "eventual" or req.query.get("$count", "").lower() != "true":
        raise unsupported("Sorting deleted items needs the 'ConsistencyLevel:eventual' header and $count=true.")
    return sorted(items, key=lambda x: (deleted_at(x), x.id), reverse=direction.strip().lower() == "desc")


def _deleted_group_json(g: Any, select: list[str] | None) -> Json:
    out = resources.group_json(g, select)
    if select is None or "deletedDateTime" in select:
        out["deletedDateTime"] = g.deleted
    return out


def deleted_item(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    key = m.group(1)
    tenant = api.tenant
    u = tenant.deleted_user(key)
    if u is not None:
        api._need(claims, _graph.USERS)
        select = parse_select(req.query, _DELETED_USER_PROPS, "microsoft.graph.user")
        out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#directoryObjects/$entity"}
        out.update(resources.user_json(u, select or _USER_DEFAULT, typed=True))
        return out
    g = next((g for g in tenant.deleted_groups() if g.id == key), None)
    if g is not None:
        api._need(claims, _GROUP_READ)
        out = {"@odata.context": f"{req.base}/v1.0/$metadata#directoryObjects/$entity",
               "@odata.type": "#microsoft.graph.group"}
        out.update(_deleted_group_json(g, None))
        return out
    raise not_found(key)


_USER_WRITE = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})


def restore_item(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, _USER_WRITE)
    key = m.group(1)
    if api.tenant.deleted_user(key) is None:
        raise not_found(key)
    api.tenant.restore_user(key)
    u = api.tenant.user(key)
    assert u is not None
    out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#directoryObjects/$entity"}
    out.update(resources.user_json(u, resources.USER_DEFAULT, typed=True))
    return out
