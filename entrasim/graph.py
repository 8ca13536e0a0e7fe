"""Microsoft Graph v1.0 over the simulated tenant: routing, permissions, licences, paging,
throttling, injected faults and `$batch`.

`GraphApi.execute(request, claims)` answers one Graph request (top-level or a `$batch` item)
and charges its resource units; the HTTP layer authenticates, counts requests and bytes, and
encodes the `Reply`. Paging of `/users`, the registration report and delta is keyed on the
last object id (Graph's order), so users created or deleted mid-listing neither shift nor
duplicate the rest; other listings page by offset.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from entrasim import catalog, resources, sign_in_api
from entrasim.faults import Faults
from entrasim.identity import Claims, b64url, b64url_decode
from entrasim.odata import (
    CompiledFilter,
    GraphError,
    advanced_refusal,
    bad_request,
    compile_filter,
    denied,
    not_found,
    not_premium,
    parse_expand,
    parse_select,
    parse_top,
    unsupported,
)
from entrasim.spec import TenantSpec
from entrasim.tenant import Group, Tenant, User, iso
from entrasim.throttle import THROTTLE_WARNING_RATIO, Counters, ThrottleModel, request_cost

Json = dict[str, Any]

_DIRECTORY = frozenset({"Directory.Read.All", "Directory.ReadWrite.All"})
USERS = _DIRECTORY | {"User.Read.All", "User.ReadWrite.All"}
GROUP_MEMBERS = _DIRECTORY | {"GroupMember.Read.All", "GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All"}
ROLES = _DIRECTORY | {"RoleManagement.Read.Directory", "RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory"}
AUTH_METHODS = frozenset({"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"})
AUDIT = frozenset({"AuditLog.Read.All"})
APPLICATIONS = _DIRECTORY | {"Application.Read.All", "Application.ReadWrite.All"}
RISKY = frozenset({"IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"})
ORGANIZATION = _DIRECTORY | {"Organization.Read.All", "Organization.ReadWrite.All"}

REPORT_ROUTE = "GET /reports/authenticationMethods/userRegistrationDetails"
# Sign-in logs: the reporting budget, like the registration report (see entrasim.sign_in_api).
SIGN_IN_ROUTES = frozenset({"GET /auditLogs/signIns", "GET /auditLogs/signIns/{id}",
                            "GET /beta/auditLogs/signIns", "GET /beta/auditLogs/signIns/{id}"})
SIGN_INS = _DIRECTORY | AUDIT
BATCH_ROUTE = "POST /$batch"
# Per-user authentication methods: the `authenticationMethod` resource of the reports limits.
METHODS_ROUTE = "GET /users/{id}/authentication/methods"
MAX_BATCH = 20
EXPAND_LIMIT = 20
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_SKIP_KEYS = ("$skiptoken", "$deltatoken")
_LINK_SAFE = ",()'$:@"


@dataclass(slots=True)
class Request:
    method: str
    path: str  # after /v1.0, e.g. "/users/{id}/memberOf"
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    base: str  # "https://127.0.0.1:PORT"
    version: str = "v1.0"  # or "beta" (only the sign-in log is served there)


@dataclass(slots=True)
class Reply:
    status: int
    body: Json | None
    route: str
    headers: dict[str, str] = field(default_factory=dict)


def parse_query(query_string: str) -> dict[str, str]:
    """Graph accepts `select` as well as `$select`; keys are normalised to `$name`, lower case."""
    out: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        k = key.lower()
        if not k.startswith("$") and k in {"select", "top", "filter", "count", "orderby", "expand", "search", "skiptoken", "deltatoken"}:
            k = "$" + k
        out[k] = value
    return out


def error_body(code: str, message: str, request_id: str, client_request_id: str) -> Json:
    return {"error": {"code": code, "message": message, "innerError": {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": client_request_id,
    }}}


def _token(data: Json) -> str:
    return b64url(orjson.dumps(data))


def _untoken(text: str) -> Json:
    try:
        data = orjson.loads(b64url_decode(text))
    except (ValueError, orjson.JSONDecodeError):
        raise bad_request("The specified page token value is invalid.", "Directory_InvalidPageToken") from None
    if not isinstance(data, dict):
        raise bad_request("The specified page token value is invalid.", "Directory_InvalidPageToken")
    return data


@lru_cache(maxsize=64)
def _cached_filter(text: str, kind: str) -> CompiledFilter:
    props, resource = _FILTERABLE[kind]
    return compile_filter(text, props, resource)


_FILTERABLE = {
    "user": (resources.USER_FILTER, "User"),
    "group": (resources.GROUP_FILTER, "Group"),
    "assignment": (resources.ASSIGNMENT_FILTER, "UnifiedRoleAssignment"),
    "registration": (resources.REGISTRATION_FILTER, "UserRegistrationDetails"),
    "risky": (resources.RISKY_FILTER, "RiskyUser"),
}

Handler = Callable[["GraphApi", Request, Claims, "re.Match[str]"], Json]


class GraphApi:
    def __init__(self, spec: TenantSpec, tenant: Tenant, throttle: ThrottleModel,
                 counters: Counters, faults: Faults) -> None:
        self.spec = spec
        self.tenant = tenant
        self.throttle = throttle
        self.counters = counters
        self.faults = faults
        self._admin_cache: tuple[int, int, frozenset[str]] = (-1, -1, frozenset())

    # ---- dispatch --------------------------------------------------------------------
    def route_of(self, method: str, path: str, version: str = "v1.0") -> tuple[str, Handler, re.Match[str]] | None:
        for verb, pattern, route, handler in (_BETA_ROUTES if version == "beta" else _ROUTES):
            m = pattern.match(path)
            if m and verb == method:
                if "{rel}" in route:
                    route = route.replace("{rel}", _RELATIONSHIPS[m.group(2).lower()])
                return route, handler, m
        return None

    def execute(self, req: Request, claims: Claims) -> Reply:
        found = self.route_of(req.method, req.path, req.version)
        if found is None:
            segment = req.path.strip("/").split("/")[0] or req.path
            return Reply(400, _err("BadRequest", f"Resource not found for the segment '{segment}'."),
                         f"{req.method} (unknown)")
        route, handler, match = found
        if route == BATCH_ROUTE:  # the envelope is free; its items are charged one by one
            return self._run(handler, req, claims, match, route, {})
        injected = self.faults.draw_error() if self.faults.applies_to(route) else None
        if injected is not None:
            return self._injected(injected, route)
        if route.startswith("GET /deviceManagement/"):
            return device_api.execute_intune(self, handler, req, claims, match, route)
        protection = route.startswith("GET /identityProtection/")
        if protection and not self.throttle.charge_protection():
            # Documented: Identity Protection's 429 carries no Retry-After.
            return Reply(429, _err("TooManyRequests", "Too many requests."), route)
        cost, reporting, activity = self._cost(route, req)
        verdict = self.throttle.charge(cost, reporting, sign_in_activity=activity)
        if not verdict.allowed:
            return Reply(429, _err("TooManyRequests", "Too many requests."), route, {
                "Retry-After": str(verdict.retry_after),
                "x-ms-throttle-limit-percentage": f"{max(verdict.usage, 1.0):.1f}",
            })
        self.counters.add(route, ru=cost, reporting=int(reporting),
                          sign_in_activity=int(activity and not self.throttle.legacy),
                          protection=int(protection))
        headers = {"x-ms-resource-unit": str(cost)}
        if verdict.usage >= THROTTLE_WARNING_RATIO:
            headers["x-ms-throttle-limit-percentage"] = f"{verdict.usage:.1f}"
        return self._run(handler, req, claims, match, route, headers)

    def _run(self, handler: Handler, req: Request, claims: Claims, match: re.Match[str],
             route: str, headers: dict[str, str]) -> Reply:
        try:
            return Reply(200, handler(self, req, claims, match), route, headers)
        except GraphError as exc:
            return Reply(exc.status, _err(exc.code, exc.message), route, dict(exc.headers))

    def _injected(self, kind: str, route: str) -> Reply:
        if kind == "429":
            return Reply(429, _err("TooManyRequests", "Too many requests."), route)
        if kind == "429+":
            return Reply(429, _err("TooManyRequests", "Too many requests."), route,
                         {"Retry-After": str(self.faults.retry_after_seconds)})
        if kind == "500":
            return Reply(500, _err("InternalServerError", "An internal server error occurred."), route)
        if kind == "503":
            return Reply(503, _err("serviceNotAvailable", "Service is temporarily unavailable."), route,
                         {"Retry-After": "1"})
        return Reply(504, _err("UnknownError", "The gateway did not receive a response in time."), route)

    def _cost(self, route: str, req: Request) -> tuple[int, bool, bool]:
        """(RU, counts against the reports window, counts against the signInActivity window).

        The reports window covers every resource the throttling page lists under "Identity and
        access reports service limits" (sign-ins, directory audits, the registration report,
        signInActivity and, unless `legacy`, the per-user authentication methods)."""
        q = req.query
        top = None
        if "$top" in q:
            try:
                top = int(q["$top"])
            except ValueError:
                top = None
        cost = request_cost(route, select="$select" in q, expand="$expand" in q, top=top)
        activity = route == "GET /users" and "signinactivity" in (
            q.get("$select", "") + q.get("$filter", "")).lower()
        reporting = (route.startswith((REPORT_ROUTE, "GET /auditLogs/", "GET /beta/reports/"))
                     or route in SIGN_IN_ROUTES or activity
                     or (route == METHODS_ROUTE and not self.throttle.legacy))
        return cost, reporting, activity

    # ---- shared helpers ----------------------------------------------------------------
    @staticmethod
    def _need(claims: Claims, accepted: frozenset[str]) -> None:
        if not claims.roles & accepted:
            raise denied()

    def _premium(self, level: str = "P1") -> None:
        if self.spec.licence == "free" or (level == "P2" and self.spec.licence != "P2"):
            raise not_premium()

    @staticmethod
    def _eventual(req: Request) -> bool:
        return req.headers.get("consistencylevel", "").lower() == "eventual"

    def _filter(self, req: Request, kind: str) -> CompiledFilter | None:
        text = req.query.get("$filter")
        if not text:
            return None
        flt = _cached_filter(text, kind)
        if flt.advanced and not (self._eventual(req) and req.query.get("$count", "").lower() == "true"):
            raise advanced_refusal(flt.advanced_reason)
        return flt

    def _count_allowed(self, req: Request) -> bool:
        if "$count" not in req.query:
            return False
        if not self._eventual(req):
            raise bad_request("$count is not currently supported.", "Request_BadRequest")
        return req.query["$count"].lower() == "true"

    def _page_number(self, token: Json | None) -> int:
        page = int(token.get("p", 1)) if token else 1
        if self.faults.page_unavailable(page):
            raise GraphError(503, "ServiceUnavailable", "The service is temporarily unavailable.")
        if self.faults.take_expired_page(page):
            raise GraphError(400, "Directory_ExpiredPageToken",
                             "The specified page token value has expired and can no longer be included in your request.")
        return page

    @staticmethod
    def _link(req: Request, path: str, token_key: str, token: Json, keep_query: bool = True) -> str:
        parts = [f"{k}={quote(v, safe=_LINK_SAFE)}" for k, v in req.query.items()
                 if keep_query and k not in _SKIP_KEYS]
        parts.append(f"{token_key}={_token(token)}")
        return f"{req.base}/{req.version}{path}?{'&'.join(parts)}"

    @staticmethod
    def _context(req: Request, entity: str, select: Sequence[str] | None) -> str:
        suffix = f"({','.join(select)})" if select else ""
        return f"{req.base}/v1.0/$metadata#{entity}{suffix}"

    def _offset_page(self, req: Request, items: Sequence[Any], render: Callable[[Any], Json],
                     entity: str, *, default_top: int = 100, max_top: int = 999,
                     select: Sequence[str] | None = None, count: bool = False) -> Json:
        token = _untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
        page = self._page_number(token)
        top = parse_top(req.query, default_top, max_top)
        start = int(token.get("o", 0)) if token else 0
        chunk = items[start:start + top]
        out: Json = {"@odata.context": self._context(req, entity, select)}
        if count and token is None:
            out["@odata.count"] = len(items)
        if start + top < len(items):
            out["@odata.nextLink"] = self._link(req, req.path, "$skiptoken", {"o": start + top, "p": page + 1})
        out["value"] = [render(x) for x in chunk]
        return out

    def admin_ids(self) -> frozenset[str]:
        seq, n, ids = self._admin_cache
        if seq != self.tenant.change_seq or n != len(self.tenant.assignments):
            ids = frozenset(self.tenant.admin_ids())
            self._admin_cache = (self.tenant.change_seq, len(self.tenant.assignments), ids)
        return ids

    def _user(self, key: str) -> User:
        u = self.tenant.user(key)
        if u is None or not u.visible(time.monotonic()):
            raise not_found(key)
        return u

    def _group(self, key: str) -> Group:
        g = self.tenant.group(key)
        if g is None:
            raise not_found(key)
        return g

    # ---- users -------------------------------------------------------------------------
    def _user_props(self, req: Request, claims: Claims) -> tuple[list[str] | None, Sequence[str]]:
        select = parse_select(req.query, resources.USER_SELECTABLE, "microsoft.graph.user")
        props = [p for p in select if p not in ("manager", "memberOf")] if select else resources.USER_DEFAULT
        if "signInActivity" in props:
            self._need(claims, AUDIT)
            self._premium()
        return select, props

    def _user_expander(self, req: Request) -> Callable[[User, Json], None] | None:
        expand = parse_expand(req.query)
        if expand is None:
            return None
        name, options = expand
        if name == "manager":
            sub = [s.strip() for s in options.get("$select", "").split(",") if s.strip()] or list(resources.USER_DEFAULT)

            def add_manager(u: User, out: Json) -> None:
                if u.manager is not None and u.manager.deleted is None:
                    out["manager"] = resources.user_json(u.manager, sub, typed=True)
            return add_manager
        if name == "memberOf":
            def add_member_of(u: User, out: Json) -> None:
                out["memberOf"] = [self._member_of_json(x) for x in self._member_of(u, False)[:EXPAND_LIMIT]]
            return add_member_of
        raise bad_request(f"Could not find a property named '{name}' on type 'microsoft.graph.user'.")

    def _render_users(self, users: Iterable[User], props: Sequence[str],
                      expander: Callable[[User, Json], None] | None) -> list[Json]:
        out = []
        for u in users:
            item = resources.user_json(u, props)
            if expander is not None:
                expander(u, item)
            out.append(item)
        return out

    def users_list(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, USERS)
        select, props = self._user_props(req, claims)
        count = self._count_allowed(req)
        flt = self._filter(req, "user")
        if "signinactivity" in req.query.get("$filter", "").lower():
            self._need(claims, AUDIT)
            self._premium()
        orderby = req.query.get("$orderby")
        top = parse_top(req.query, 100)
        if "signInActivity" in props or "signinactivity" in req.query.get("$filter", "").lower():
            top = min(top, 500)
        expander = self._user_expander(req)
        token = _untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
        page = self._page_number(token)
        if token is None:
            self.tenant.note_listing()
        now = time.monotonic()
        pred = flt.predicate if flt else None
        total: int | None = None
        more = False
        if orderby:
            chosen, more, total, next_token = self._ordered_users(req, orderby, pred, token, top, now)
        else:
            chosen = []
            with self.tenant.lock:
                for u in self.tenant.users_from(token.get("k") if token else None):
                    if not u.visible(now) or (pred is not None and not pred(u)):
                        continue
                    if len(chosen) == top:
                        more = True
                        break
                    chosen.append(u)
                if count and token is None:
                    total = sum(1 for u in self.tenant.users_from(None)
                                if u.visible(now) and (pred is None or pred(u)))
            next_token = {"k": chosen[-1].id if chosen else "", "p": page + 1}
        out: Json = {"@odata.context": self._context(req, "users", select)}
        if total is not None:
            out["@odata.count"] = total
        if more:
            out["@odata.nextLink"] = self._link(req, "/users", "$skiptoken", next_token)
        out["value"] = self._render_users(chosen, props, expander)
        return out

    def _ordered_users(self, req: Request, orderby: str, pred: Callable[[Any], bool] | None,
                       token: Json | None, top: int, now: float) -> tuple[list[User], bool, int, Json]:
        field_name, _, direction = orderby.strip().partition(" ")
        key = resources.USER_ORDER.get(field_name)
        if key is None:
            raise unsupported(f"Sorting by '{field_name}' is not supported.")
        if field_name == "createdDateTime" and not self._eventual(req):
            raise unsupported(
                "Sorting by 'createdDateTime' is not supported because the 'ConsistencyLevel:eventual' "
                "header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
        if "$filter" in req.query and not self._eventual(req):
            raise unsupported("Sorting with $filter requires the 'ConsistencyLevel:eventual' header.")
        with self.tenant.lock:
            matches = [u for u in self.tenant.users_from(None) if u.visible(now) and (pred is None or pred(u))]
        matches.sort(key=lambda u: (key(u), u.id), reverse=direction.strip().lower() == "desc")
        start = int(token.get("o", 0)) if token else 0
        page = int(token.get("p", 1)) if token else 1
        return matches[start:start + top], start + top < len(matches), len(matches), {"o": start + top, "p": page + 1}

    def user_get(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, USERS)
        select, props = self._user_props(req, claims)
        u = self._user(m.group(1))
        out: Json = {"@odata.context": self._context(req, "users", select) + "/$entity"}
        expander = self._user_expander(req)
        out.update(self._render_users([u], props, expander)[0])
        return out

    def user_manager(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, USERS)
        u = self._user(m.group(1))
        if u.manager is None or u.manager.deleted is not None:
            raise not_found("manager")
        select = parse_select(req.query, resources.USER_PROPS, "microsoft.graph.user")
        out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#directoryObjects/$entity"}
        out.update(resources.user_json(u.manager, select or resources.USER_DEFAULT, typed=True))
        return out

    def _member_of(self, u: User, transitive: bool) -> list[Any]:
        with self.tenant.lock:
            groups: list[Group] = list(u.groups)
            if transitive:
                seen = {g.id for g in groups}
                stack = list(groups)
                while stack:
                    for parent in stack.pop().parents:
                        if parent.id not in seen:
                            seen.add(parent.id)
                            groups.append(parent)
                            stack.append(parent)
            roles: dict[str, catalog.RoleDefinition] = {}
            group_ids = {g.id for g in groups} if transitive else set()
            for a in self.tenant.assignments:
                p = a.principal
                if p is u or (isinstance(p, Group) and p.id in group_ids):
                    roles.setdefault(a.role.template_id, a.role)
        return [*groups, *roles.values()]

    def _member_of_json(self, x: Any) -> Json:
        if isinstance(x, Group):
            return resources.group_json(x, typed=True)
        return resources.directory_role_json(self.tenant, x, typed=True)

    def user_member_of(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, GROUP_MEMBERS)
        u = self._user(m.group(1))
        transitive = m.group(2) == "transitiveMemberOf"
        cast = m.group(3)
        items = self._member_of(u, transitive)
        if cast == "group":
            items = [x for x in items if isinstance(x, Group)]
        elif cast == "directoryRole":
            items = [x for x in items if not isinstance(x, Group)]
        select = parse_select(req.query, {**resources.GROUP_PROPS, "roleTemplateId": None}, "microsoft.graph.directoryObject")
        entity = "groups" if cast == "group" else "directoryRoles" if cast == "directoryRole" else "directoryObjects"
        return self._offset_page(req, items, lambda x: resources.select_fields(self._member_of_json(x), select),
                                 entity, select=select, count=self._count_allowed(req))

    def user_methods(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, AUTH_METHODS)
        u = self._user(m.group(1))
        return {"@odata.context": f"{req.base}/v1.0/$metadata#users('{u.id}')/authentication/methods",
                "value": resources.authentication_methods_json(u)}

    # ---- groups ------------------------------------------------------------------------
    def _group_expander(self, req: Request) -> Callable[[Group, Json], None] | None:
        expand = parse_expand(req.query)
        if expand is None:
            return None
        if expand[0] != "members":
            raise bad_request(f"Could not find a property named '{expand[0]}' on type 'microsoft.graph.group'.")

        def add_members(g: Group, out: Json) -> None:
            out["members"] = [self._directory_object(x) for x in self._members(g, False)[:EXPAND_LIMIT]]
        return add_members

    def _render_group(self, g: Group, select: Sequence[str] | None,
                      expander: Callable[[Group, Json], None] | None) -> Json:
        out = resources.group_json(g, [s for s in select if s != "members"] if select else None)
        if expander is not None:
            expander(g, out)
        return out

    def groups_list(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, GROUP_MEMBERS)
        select = parse_select(req.query, {**resources.GROUP_PROPS, "members": None}, "microsoft.graph.group")
        flt = self._filter(req, "group")
        count = self._count_allowed(req)
        expander = self._group_expander(req)
        items = [g for g in self.tenant.groups() if flt is None or flt.predicate(g)]
        return self._offset_page(req, items, lambda g: self._render_group(g, select, expander), "groups",
                                 select=select, count=count)

    def group_get(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, GROUP_MEMBERS)
        select = parse_select(req.query, {**resources.GROUP_PROPS, "members": None}, "microsoft.graph.group")
        g = self._group(m.group(1))
        out: Json = {"@odata.context": self._context(req, "groups", select) + "/$entity"}
        out.update(self._render_group(g, select, self._group_expander(req)))
        return out

    def _members(self, g: Group, transitive: bool) -> list[User | Group]:
        now = time.monotonic()
        with self.tenant.lock:
            if not transitive:
                return [*(u for u in g.members if u.visible(now)), *g.member_groups]
            users: dict[str, User] = {}
            groups: dict[str, Group] = {}
            stack = [g]
            while stack:
                cur = stack.pop()
                for u in cur.members:
                    if u.visible(now):
                        users.setdefault(u.id, u)
                for child in cur.member_groups:
                    if child.id not in groups:
                        groups[child.id] = child
                        stack.append(child)
            return [*users.values(), *groups.values()]

    @staticmethod
    def _directory_object(x: User | Group, select: Sequence[str] | None = None) -> Json:
        if isinstance(x, User):
            return resources.user_json(x, select or resources.USER_DEFAULT, typed=True)
        return resources.group_json(x, select, typed=True)

    def group_members(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, GROUP_MEMBERS)
        g = self._group(m.group(1))
        items: list[User | Group] = self._members(g, m.group(2) == "transitiveMembers")
        cast = m.group(3)
        if cast == "user":
            items = [x for x in items if isinstance(x, User)]
        elif cast == "group":
            items = [x for x in items if isinstance(x, Group)]
        select = parse_select(req.query, {**resources.USER_PROPS, **resources.GROUP_PROPS}, "microsoft.graph.directoryObject")
        entity = "users" if cast == "user" else "groups" if cast == "group" else "directoryObjects"
        return self._offset_page(req, items, lambda x: self._directory_object(x, select), entity,
                                 select=select, count=self._count_allowed(req))

    # ---- roles ---------------------------------------------------------------------------
    def role_definitions(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, ROLES)
        return {"@odata.context": f"{req.base}/v1.0/$metadata#roleManagement/directory/roleDefinitions",
                "value": [resources.role_definition_json(r) for r in catalog.ROLE_DEFINITIONS]}

    def role_assignments(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, ROLES)
        flt = self._filter(req, "assignment")
        expand = parse_expand(req.query)
        name = expand[0] if expand else None
        if name not in (None, "principal", "roleDefinition"):
            raise bad_request(f"Could not find a property named '{name}' on type 'microsoft.graph.unifiedRoleAssignment'.")
        with self.tenant.lock:
            items = [a for a in self.tenant.assignments if flt is None or flt.predicate(a)]
        return self._offset_page(req, items, lambda a: resources.role_assignment_json(a, name),
                                 "roleManagement/directory/roleAssignments", default_top=len(items) or 1,
                                 max_top=max(999, len(items)))

    def directory_roles(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, ROLES)
        active = [r for r in catalog.ROLE_DEFINITIONS if r.template_id in self.tenant.directory_role_ids]
        return {"@odata.context": f"{req.base}/v1.0/$metadata#directoryRoles",
                "value": [resources.directory_role_json(self.tenant, r) for r in active]}

    def directory_role_members(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, ROLES)
        key = m.group(1)
        ids = self.tenant.directory_role_ids
        template = next((t for t, i in ids.items() if key in (t, i)), None)
        if template is None:
            raise not_found(key)
        with self.tenant.lock:
            principals = [a.principal for a in self.tenant.assignments if a.role.template_id == template]
        return self._offset_page(req, principals, resources.principal_json, "directoryObjects")

    # ---- reports, methods, risk, apps, organisation --------------------------------------
    def registration_details(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, AUDIT)
        self._premium()
        flt = self._filter(req, "registration")
        top = parse_top(req.query, 100)
        token = _untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
        page = self._page_number(token)
        admins = self.admin_ids()
        now = time.monotonic()
        chosen: list[User] = []
        more = False
        with self.tenant.lock:
            for u in self.tenant.users_from(token.get("k") if token else None):
                if not u.enabled or not u.visible(now):
                    continue
                if flt is not None and not flt.predicate((u, u.id in admins)):
                    continue
                if len(chosen) == top:
                    more = True
                    break
                chosen.append(u)
        stamp = iso(self.spec.as_of)
        out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails"}
        if more:
            out["@odata.nextLink"] = self._link(req, "/reports/authenticationMethods/userRegistrationDetails",
                                                "$skiptoken", {"k": chosen[-1].id, "p": page + 1})
        out["value"] = [resources.registration_json(u, u.id in admins, stamp) for u in chosen]
        return out

    def registration_detail(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, AUDIT)
        self._premium()
        u = self._user(m.group(1))
        if not u.enabled:
            raise not_found(m.group(1))
        out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#reports/authenticationMethods/userRegistrationDetails/$entity"}
        out.update(resources.registration_json(u, u.id in self.admin_ids(), iso(self.spec.as_of)))
        return out

    def risky_users(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        """learn.microsoft.com/graph/api/riskyuser-list: `$filter` and `$select`, `$top` up to
        500 (default 20 here). The page's examples filter `riskLevel`; a filter on
        `riskLastUpdatedDateTime` is not documented, and with `tenant.risky_filter_refused` it
        is refused as Graph may refuse it (ASSUMED: 400 `BadRequest`, "Invalid filter clause")."""
        self._need(claims, RISKY)
        self._premium("P2")
        flt = self._filter(req, "risky")
        if flt is not None and self.tenant.risky_filter_refused and "risklastupdateddatetime" in req.query.get("$filter", "").lower():
            raise bad_request("Invalid filter clause: filtering on riskLastUpdatedDateTime is not supported.")
        items = [u for u in self.tenant.users() if u.risk is not None and (flt is None or flt.predicate(u))]
        return self._offset_page(req, items, resources.risky_user_json, "identityProtection/riskyUsers", default_top=20, max_top=500)

    def risky_user(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        """One riskyUser; a user Identity Protection never flagged is not found (404)."""
        self._need(claims, RISKY)
        self._premium("P2")
        u = self._user(m.group(1))
        if u.risk is None:
            raise not_found(m.group(1))
        out: Json = {"@odata.context": f"{req.base}/v1.0/$metadata#identityProtection/riskyUsers/$entity"}
        out.update(resources.risky_user_json(u))
        return out

    def _connector_app(self) -> Json:
        spec = self.spec
        created = iso(spec.as_of.replace(year=spec.as_of.year - 1))
        end = spec.secret_end_datetime
        passwords = [{
            "customKeyIdentifier": None, "displayName": "connector secret",
            "endDateTime": iso(end) if end else None, "hint": spec.client_secret[:3],
            "keyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"secret:{spec.client_id}")),
            "secretText": None, "startDateTime": created,
        }]
        keys = []
        if spec.certificate_pem:
            cert = x509.load_pem_x509_certificate(spec.certificate_pem)
            cert_end = spec.certificate_end_datetime or cert.not_valid_after_utc
            keys.append({
                "customKeyIdentifier": cert.fingerprint(hashes.SHA1()).hex().upper(),
                "displayName": cert.subject.rfc4514_string(), "endDateTime": iso(cert_end),
                "key": None, "keyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"cert:{spec.client_id}")),
                "startDateTime": iso(cert.not_valid_before_utc), "type": "AsymmetricX509Cert", "usage": "Verify",
            })
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"app:{spec.client_id}")), "appId": spec.client_id,
            "displayName": "OCSF connector", "createdDateTime": created, "signInAudience": "AzureADMyOrg",
            "passwordCredentials": passwords, "keyCredentials": keys,
        }

    def organization(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, ORGANIZATION)
        spec = self.spec
        domains = [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": False, "isInitial": True,
                    "name": spec.domain, "type": "Managed"}]
        domains += [{"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": i == 0, "isInitial": False,
                     "name": d, "type": "Managed"} for i, d in enumerate(spec.custom_domains)]
        plans = [{"assignedDateTime": iso(spec.as_of.replace(year=spec.as_of.year - 3)), "capabilityStatus": "Enabled",
                  "service": svc, "servicePlanId": pid} for pid, svc in catalog.PREMIUM_PLANS.get(spec.licence, [])]
        return {"@odata.context": f"{req.base}/v1.0/$metadata#organization", "value": [{
            "id": spec.tenant_id, "displayName": spec.display_name, "tenantType": "AAD",
            "countryLetterCode": "US", "createdDateTime": iso(spec.as_of.replace(year=spec.as_of.year - 6)),
            "verifiedDomains": domains, "assignedPlans": plans, "onPremisesSyncEnabled": True,
        }]}

    # ---- sign-in logs ---------------------------------------------------------------------
    def sign_ins_list(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        self._need(claims, SIGN_INS)
        self._premium()
        log = self.tenant.sign_in_log
        token = _untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
        page = self._page_number(token)
        if token is None:
            log.note_listing()
        after = token.get("k") if token else None
        if token is not None and not isinstance(after, str):
            raise bad_request("The specified page token value is invalid.", "Directory_InvalidPageToken")
        body, next_key = sign_in_api.list_page(log, req.query, req.version, req.base, after)
        if next_key is not None:
            value = body.pop("value")
            body["@odata.nextLink"] = self._link(req, req.path, "$skiptoken", {"k": next_key, "p": page + 1})
            body["value"] = value
        return body

    def sign_in_get(self, req: Request, claims: Claims, m: re.Match[str]) -> Json:
        self._need(claims, SIGN_INS)
        self._premium()
        return sign_in_api.get_one(self.tenant.sign_in_log, m.group(1), req.query, req.version, req.base)

    # ---- $batch --------------------------------------------------------------------------
    def batch(self, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
        try:
            payload = orjson.loads(req.body)
            items = payload["requests"]
            if not isinstance(items, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise bad_request("Invalid batch payload format.") from None
        if len(items) > MAX_BATCH:
            raise bad_request(f"Too many requests in batch. Maximum allowed is {MAX_BATCH}.")
        ids = [str(i.get("id")) for i in items if isinstance(i, dict)]
        if len(ids) != len(items) or len(set(ids)) != len(ids) or any(i in ("None", "") for i in ids):
            raise bad_request("Batch request contains missing or duplicate request ids.")
        responses = []
        for item in items:
            responses.append(self._batch_item(req, claims, item))
        return {"responses": responses}

    def _batch_item(self, envelope: Request, claims: Claims, item: Json) -> Json:
        url = str(item.get("url", ""))
        method = str(item.get("method", "GET")).upper()
        if url.startswith("https://") or url.startswith("http://"):
            url = urlsplit(url)._replace(scheme="", netloc="").geturl()
        if url.startswith("/v1.0/"):
            url = url[len("/v1.0"):]
        if not url.startswith("/"):
            url = "/" + url
        path, _, query = url.partition("?")
        headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
        body = item.get("body")
        sub = Request(method, path, parse_query(query), headers,
                      orjson.dumps(body) if body is not None else b"", envelope.base)
        reply = self.execute(sub, claims)
        encoded = orjson.dumps(reply.body) if reply.body is not None else b""
        self.counters.add(reply.route, batch_items=1, bytes_out=len(encoded),
                          throttled=int(reply.status == 429),
                          errors=int(reply.status >= 400 and reply.status != 429))
        out_headers = {"Content-Type": JSON_TYPE, **reply.headers}
        return {"id": str(item["id"]), "status": reply.status, "headers": out_headers,
                "body": orjson.Fragment(encoded) if encoded else None}


def _err(code: str, message: str) -> Json:
    """A Graph error body without the per-request innerError (added when encoded)."""
    return {"error": {"code": code, "message": message}}


# Handlers in their own modules; they use this module's helpers at call time.
from entrasim import deleted_items, delta, directory_audits  # noqa: E402

_RELATIONSHIPS = {r.lower(): r for r in ("memberOf", "transitiveMemberOf", "members", "transitiveMembers")}

_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (verb, re.compile(pattern + r"/?$", re.IGNORECASE), route, handler)
    for verb, pattern, route, handler in (
        ("GET", r"^/users", "GET /users", GraphApi.users_list),
        ("GET", r"^/users/(?:microsoft\.graph\.)?delta(?:\(\))?", "GET /users/delta", delta.users_delta),
        ("GET", r"^/users/([^/]+)", "GET /users/{id}", GraphApi.user_get),
        ("GET", r"^/users/([^/]+)/manager", "GET /users/{id}/manager", GraphApi.user_manager),
        ("GET", r"^/users/([^/]+)/(memberOf|transitiveMemberOf)(?:/microsoft\.graph\.(group|directoryRole))?",
         "GET /users/{id}/{rel}", GraphApi.user_member_of),
        ("GET", r"^/users/([^/]+)/authentication/methods", METHODS_ROUTE, GraphApi.user_methods),
        ("GET", r"^/groups", "GET /groups", GraphApi.groups_list),
        ("GET", r"^/groups/(?:microsoft\.graph\.)?delta(?:\(\))?", "GET /groups/delta", delta.groups_delta),
        ("GET", r"^/groups/([^/]+)", "GET /groups/{id}", GraphApi.group_get),
        ("GET", r"^/groups/([^/]+)/(members|transitiveMembers)(?:/microsoft\.graph\.(user|group))?",
         "GET /groups/{id}/{rel}", GraphApi.group_members),
        ("GET", r"^/roleManagement/directory/roleDefinitions", "GET /roleManagement/directory/roleDefinitions", GraphApi.role_definitions),
        ("GET", r"^/roleManagement/directory/roleAssignments", "GET /roleManagement/directory/roleAssignments", GraphApi.role_assignments),
        ("GET", r"^/directoryRoles", "GET /directoryRoles", GraphApi.directory_roles),
        ("GET", r"^/directoryRoles/([^/]+)/members", "GET /directoryRoles/{id}/members", GraphApi.directory_role_members),
        ("GET", r"^/reports/authenticationMethods/userRegistrationDetails", REPORT_ROUTE, GraphApi.registration_details),
        ("GET", r"^/reports/authenticationMethods/userRegistrationDetails/([^/]+)", REPORT_ROUTE + "/{id}", GraphApi.registration_detail),
        ("GET", r"^/identityProtection/riskyUsers", "GET /identityProtection/riskyUsers", GraphApi.risky_users),
        ("GET", r"^/identityProtection/riskyUsers/([^/]+)", "GET /identityProtection/riskyUsers/{id}", GraphApi.risky_user),
        ("GET", r"^/organization", "GET /organization", GraphApi.organization),
        ("GET", r"^/directory/deletedItems", "GET /directory/deletedItems", deleted_items.deleted_items_untyped),
        ("GET", r"^/directory/deletedItems/microsoft\.graph\.(\w+)", "GET /directory/deletedItems/{type}",
         deleted_items.deleted_items_list),
        ("GET", r"^/directory/deletedItems/([0-9a-fA-F-]{36})", "GET /directory/deletedItems/{id}", deleted_items.deleted_item),
        ("POST", r"^/directory/deletedItems/([0-9a-fA-F-]{36})/restore", "POST /directory/deletedItems/{id}/restore",
         deleted_items.restore_item),
        ("GET", r"^/auditLogs/directoryAudits", "GET /auditLogs/directoryAudits", directory_audits.directory_audits),
        ("POST", r"^/\$batch", BATCH_ROUTE, GraphApi.batch),
        ("GET", r"^/auditLogs/signIns", "GET /auditLogs/signIns", GraphApi.sign_ins_list),
        ("GET", r"^/auditLogs/signIns/([^/]+)", "GET /auditLogs/signIns/{id}", GraphApi.sign_in_get),
    )
]

from entrasim import device_api  # noqa: E402

_ROUTES += [(verb, re.compile(pattern + r"/?$", re.IGNORECASE), route, handler)
            for verb, pattern, route, handler in device_api.ROUTES]

from entrasim import workload_api  # noqa: E402

_ROUTES += [(verb, re.compile(pattern + r"/?$", re.IGNORECASE), route, handler)
            for verb, pattern, route, handler in workload_api.ROUTES]

_BETA_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (verb, re.compile(pattern + r"/?$", re.IGNORECASE), route, handler)
    for verb, pattern, route, handler in (
        ("GET", r"^/auditLogs/signIns", "GET /beta/auditLogs/signIns", GraphApi.sign_ins_list),
        ("GET", r"^/auditLogs/signIns/([^/]+)", "GET /beta/auditLogs/signIns/{id}", GraphApi.sign_in_get),
        *workload_api.BETA_ROUTES,
    )
]
