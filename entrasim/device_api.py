"""Graph routes for devices: `/devices`, `/devices/delta`, registered owners and users, and
Intune's `/deviceManagement/managedDevices`.

What Microsoft documents and this follows (learn.microsoft.com):
- "List devices" (v1.0): `Device.Read.All` (or Directory.Read.All); `$select`, `$top` (at most
  999), `$filter`, `$count` with `ConsistencyLevel: eventual`, and `$expand` of
  `registeredOwners` / `registeredUsers`; an expanded directory relationship returns at most 20
  objects ("Use the $expand query parameter"). Pages are keyed on the object id, like `/users`.
- "List registeredOwners" / "List registeredUsers": directoryObject collections (users here).
- "device: delta": the users/delta rules of `entrasim.delta` (`$deltatoken=latest`, tokens
  that encode `$select`, no `$expand`/`$top`/`$orderby`, `@removed`, 400 `syncStateNotFound`
  and 410 resync after `Tenant.expire_delta_tokens`). A deleted device is not restorable:
  `@removed` reason `deleted`. Owner changes are not device properties and do not bring a
  device back.
- "List managedDevices" (v1.0): `DeviceManagementManagedDevices.Read.All`, and "The Microsoft
  Graph API for Intune requires an active Intune license for the tenant". Intune's own limit
  ("Microsoft Graph service-specific throttling limits", Intune): 2,000 requests per 20 seconds
  per app per tenant; its requests do not spend the directory's resource units.

ASSUMED where the docs are silent (the stricter reading): Intune pages at 1,000 (`$top` at most
1,000); it filters on `lastSyncDateTime` (ge/gt/le/lt) and `azureADDeviceId eq`, and refuses
other filters with 400; a tenant without an Intune licence gets Intune's 400 "Request not
applicable to target tenant." and an app without the permission a 403 `Forbidden` naming the
scopes, as Intune's gateway answers them (quoted in Microsoft Q&A threads, not in reference
pages). Entra devices page at 100 by default.
"""

from __future__ import annotations

import bisect
import contextlib
import operator
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from entrasim import delta as _delta
from entrasim import graph as _graph
from entrasim import resources
from entrasim.devices import (
    ENTRA_DEFAULT,
    ENTRA_PROPS,
    INTUNE_DEFAULT,
    Device,
    entra_json,
    intune_json,
)
from entrasim.odata import (
    CompiledFilter,
    GraphError,
    Prop,
    advanced_refusal,
    bad_request,
    compile_filter,
    denied,
    not_found,
    parse_expand,
    parse_select,
    parse_top,
    unsupported,
)

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Handler, Reply, Request
    from entrasim.identity import Claims

Json = dict[str, Any]

DEVICES = frozenset({"Directory.Read.All", "Directory.ReadWrite.All", "Device.Read.All",
                     "Device.ReadWrite.All"})
INTUNE = frozenset({"DeviceManagementManagedDevices.Read.All",
                    "DeviceManagementManagedDevices.ReadWrite.All",
                    "DeviceManagementManagedDevices.PrivilegedOperations.All"})
DEVICE_PAGE = 100
DEVICE_DELTA_PAGE = 200
INTUNE_PAGE = 1000
INTUNE_REQUESTS_PER_WINDOW = 2000
INTUNE_WINDOW_SECONDS = 20.0
_RELATIONS = {"registeredowners": "registeredOwners", "registeredusers": "registeredUsers"}

DEVICE_FILTER: dict[str, Prop] = {
    "id": Prop(lambda d: d.id, "guid"),
    "deviceId": Prop(lambda d: d.device_id, "str"),
    "displayName": Prop(lambda d: d.name, "str"),
    "accountEnabled": Prop(lambda d: d.enabled, "bool"),
    "operatingSystem": Prop(lambda d: d.platform.entra_os, "str"),
    "trustType": Prop(lambda d: d.platform.trust, "str"),
    "isManaged": Prop(lambda d: d.is_managed, "bool"),
    "isCompliant": Prop(lambda d: d.is_compliant, "bool"),
    "approximateLastSignInDateTime": Prop(lambda d: d.last_sign_in, "datetime"),
    "registrationDateTime": Prop(lambda d: d.registered, "datetime"),
}
_INTUNE_FILTER = re.compile(
    r"\s*(?:(lastSyncDateTime)\s+(ge|gt|le|lt)\s+(\d{4}-\d\d-\d\dT[\d:.]+Z?)"
    r"|(azureADDeviceId)\s+eq\s+'([0-9a-fA-F-]{36})')\s*", re.IGNORECASE)


class IntuneThrottle:
    """Intune's sliding window: 2,000 requests / 20 s per app per tenant (no resource units)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: deque[float] = deque()

    def allow(self, now: float | None = None) -> float | None:
        """None when the request may pass, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._times and now - self._times[0] >= INTUNE_WINDOW_SECONDS:
                self._times.popleft()
            if len(self._times) >= INTUNE_REQUESTS_PER_WINDOW:
                return INTUNE_WINDOW_SECONDS - (now - self._times[0])
            self._times.append(now)
            return None


_throttles: weakref.WeakKeyDictionary[GraphApi, IntuneThrottle] = weakref.WeakKeyDictionary()


def execute_intune(api: GraphApi, handler: Handler, req: Request, claims: Claims,
                   match: re.Match[str], route: str) -> Reply:
    """An Intune request: its own throttle instead of the directory's resource units."""
    if api.throttle.enabled:
        throttle = _throttles.setdefault(api, IntuneThrottle())
        wait = throttle.allow()
        if wait is not None:
            return _graph.Reply(429, _graph._err("TooManyRequests", "Too many requests."), route,
                                {"Retry-After": str(max(1, round(wait)))})
    api.counters.add(route, ru=0, reporting=0)
    return api._run(handler, req, claims, match, route, {})


# ---- /devices ------------------------------------------------------------------------------

def _device(api: GraphApi, key: str) -> Device:
    found = api.tenant.devices.get(key)
    if found is None:
        raise not_found(key)
    return found


def _props(req: Request) -> tuple[list[str] | None, list[str]]:
    select = parse_select(req.query, {**ENTRA_PROPS, "registeredOwners": None,
                                      "registeredUsers": None}, "microsoft.graph.device")
    props = [p for p in select if p in ENTRA_PROPS] if select else list(ENTRA_DEFAULT)
    return select, props


def _expander(req: Request) -> tuple[str, list[str]] | None:
    expand = parse_expand(req.query)
    if expand is None:
        return None
    name, options = expand
    relation = _RELATIONS.get(name.lower())
    if relation is None:
        raise bad_request(f"Could not find a property named '{name}' on type "
                          "'microsoft.graph.device'.")
    sub = [s.strip() for s in options.get("$select", "").split(",") if s.strip()]
    return relation, sub or list(resources.USER_DEFAULT)


def _linked(d: Device, relation: str) -> list[Any]:
    if relation == "registeredOwners":
        return [d.owner] if d.owner is not None and d.owner.deleted is None else []
    return [u for u in d.users if u.deleted is None]


def _render(d: Device, props: list[str], expand: tuple[str, list[str]] | None) -> Json:
    item = entra_json(d, props)
    if expand is not None:
        relation, sub = expand
        item[relation] = [resources.user_json(u, sub, typed=True)
                          for u in _linked(d, relation)[:_graph.EXPAND_LIMIT]]
    return item


@lru_cache(maxsize=32)
def _compiled(text: str) -> CompiledFilter:
    return compile_filter(text, DEVICE_FILTER, "Device")


def devices_list(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, DEVICES)
    select, props = _props(req)
    expand = _expander(req)
    count = api._count_allowed(req)
    for option in ("$orderby", "$search"):
        if option in req.query:  # ASSUMED refused here: the connector never sends them
            raise unsupported(f"The query option '{option}' is not supported by this simulator.")
    text = req.query.get("$filter")
    flt = _compiled(text) if text else None
    if flt is not None and flt.advanced and not (
            api._eventual(req) and req.query.get("$count", "").lower() == "true"):
        raise advanced_refusal(flt.advanced_reason)
    pred = flt.predicate if flt is not None else None
    top = parse_top(req.query, DEVICE_PAGE)
    token = _graph._untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
    page = api._page_number(token)
    chosen: list[Device] = []
    more = False
    total = None
    with api.tenant.lock:
        directory = api.tenant.devices
        for d in directory.devices_from(token.get("k") if token else None):
            if pred is not None and not pred(d):
                continue
            if len(chosen) == top:
                more = True
                break
            chosen.append(d)
        if count and token is None:
            total = sum(1 for d in directory.devices() if pred is None or pred(d))
        out: Json = {"@odata.context": api._context(req, "devices", select)}
        if total is not None:
            out["@odata.count"] = total
        if more:
            out["@odata.nextLink"] = api._link(req, "/devices", "$skiptoken",
                                               {"k": chosen[-1].id, "p": page + 1})
        out["value"] = [_render(d, props, expand) for d in chosen]
    return out


def device_get(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, DEVICES)
    select, props = _props(req)
    expand = _expander(req)
    with api.tenant.lock:
        d = _device(api, m.group(1))
        out: Json = {"@odata.context": api._context(req, "devices", select) + "/$entity"}
        out.update(_render(d, props, expand))
    return out


def device_links(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, DEVICES)
    relation = _RELATIONS[m.group(2).lower()]
    select = parse_select(req.query, resources.USER_SELECTABLE, "microsoft.graph.directoryObject")
    props = [p for p in select if p not in ("manager", "memberOf", "signInActivity")] \
        if select else list(resources.USER_DEFAULT)
    with api.tenant.lock:
        users = _linked(_device(api, m.group(1)), relation)
        return api._offset_page(req, users, lambda u: resources.user_json(u, props, typed=True),
                                "directoryObjects", select=select)


# ---- /devices/delta --------------------------------------------------------------------------

_DELTA_SELECTABLE: dict[str, object] = dict(ENTRA_PROPS)


def devices_delta(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, DEVICES)
    select = parse_select(req.query, _DELTA_SELECTABLE, "microsoft.graph.device") \
        if "$skiptoken" not in req.query else None
    state = _delta._round_state(api, req, "devices", select)
    if state is None:
        return _delta._latest(api, req, "devices", select)
    api._page_number(state)
    size = DEVICE_DELTA_PAGE
    prefer = req.headers.get("prefer", "")
    if "odata.maxpagesize=" in prefer:
        with contextlib.suppress(ValueError):
            size = max(1, min(999, int(prefer.split("odata.maxpagesize=")[1].split(",")[0])))
    sel: list[str] | None = state.get("sel")
    props = list(sel) if sel else list(ENTRA_DEFAULT)
    if "id" not in props:
        props.append("id")
    ids = set(state["ids"]) if state.get("ids") else None
    upto, after = int(state["u"]), state.get("k")
    items: list[Json] = []
    last = after
    more = False
    tenant = api.tenant
    with tenant.lock:
        directory = tenant.devices
        if state["full"]:
            for d in directory.devices_from(after):
                if d.version > upto or (ids is not None and d.id not in ids):
                    continue
                if len(items) == size:
                    more = True
                    break
                items.append(entra_json(d, props))
                last = d.id
        else:
            changed = sorted({e.object_id for e in directory.log.between(int(state["s"]), upto)
                              if e.what != "links" and (ids is None or e.object_id in ids)})
            start = 0 if after is None else bisect.bisect_right(changed, after)
            for object_id in changed[start:]:
                if len(items) == size:
                    more = True
                    break
                found = directory.get(object_id)
                items.append(entra_json(found, props) if found is not None
                             else {"id": object_id, "@removed": {"reason": "deleted"}})
                last = object_id
    return _delta._finish(api, req, "devices", state, items, more, {"k": last})


# ---- Intune ---------------------------------------------------------------------------------

def _intune_error(status: int, code: str, message: str) -> GraphError:
    return GraphError(status, code, message)


_ORDER: dict[str, Callable[[str, str], bool]] = {
    "ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt}


def _intune_filter(text: str) -> Callable[[Device], bool]:
    m = _INTUNE_FILTER.fullmatch(text)
    if m is None:
        raise bad_request(f"Invalid filter clause: {text}")
    if m.group(1):
        op, value = m.group(2).lower(), m.group(3)
        value = value if value.endswith("Z") else value + "Z"
        compare = _ORDER[op]
        return lambda d: d.intune is not None and compare(d.intune.last_sync, value)
    wanted = m.group(5).lower()
    return lambda d: d.device_id == wanted


def managed_devices(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    if not claims.roles & INTUNE:
        raise _intune_error(
            403, "Forbidden",
            "Application is not authorized to perform this operation. Application must have one "
            "of the following scopes: DeviceManagementManagedDevices.Read.All, "
            "DeviceManagementManagedDevices.ReadWrite.All")
    if not api.spec.intune:
        raise _intune_error(400, "BadRequest", "Request not applicable to target tenant.")
    select = parse_select(req.query, {name: None for name in INTUNE_DEFAULT},
                          "microsoft.graph.managedDevice")
    props = select or list(INTUNE_DEFAULT)
    for option in ("$expand", "$orderby"):
        if option in req.query:
            raise unsupported(f"The query option '{option}' is not supported here.")
    text = req.query.get("$filter")
    pred = _intune_filter(text) if text else None
    with api.tenant.lock:
        records = [d for d in api.tenant.devices.managed() if pred is None or pred(d)]
        return api._offset_page(req, records, lambda d: intune_json(d, props), "deviceManagement/"
                                "managedDevices", default_top=INTUNE_PAGE, max_top=INTUNE_PAGE,
                                select=select)


def managed_device_get(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    if not claims.roles & INTUNE:
        raise denied()
    if not api.spec.intune:
        raise _intune_error(400, "BadRequest", "Request not applicable to target tenant.")
    select = parse_select(req.query, {name: None for name in INTUNE_DEFAULT},
                          "microsoft.graph.managedDevice")
    with api.tenant.lock:
        found = next((d for d in api.tenant.devices.managed()
                      if d.intune is not None and d.intune.id == m.group(1).lower()), None)
        if found is None:
            raise not_found(m.group(1))
        return intune_json(found, select or list(INTUNE_DEFAULT))


#: (verb, path pattern, route name, handler), in match order (delta before `{id}`).
ROUTES: tuple[tuple[str, str, str, Any], ...] = (
    ("GET", r"^/devices", "GET /devices", devices_list),
    ("GET", r"^/devices/(?:microsoft\.graph\.)?delta(?:\(\))?", "GET /devices/delta",
     devices_delta),
    ("GET", r"^/devices/([^/]+)", "GET /devices/{id}", device_get),
    ("GET", r"^/devices/([^/]+)/(registeredOwners|registeredUsers)",
     "GET /devices/{id}/registered", device_links),
    ("GET", r"^/deviceManagement/managedDevices", "GET /deviceManagement/managedDevices",
     managed_devices),
    ("GET", r"^/deviceManagement/managedDevices/([^/]+)",
     "GET /deviceManagement/managedDevices/{id}", managed_device_get),
)
