"""Graph routes for workload identities: `/servicePrincipals` (+ `/delta`, `/{id}`, its
`appRoleAssignments`, `appRoleAssignedTo`, `owners`, `oauth2PermissionGrants`),
`/applications` (+ `/delta`, `/{id}`, `/{id}/owners`), `/oauth2PermissionGrants`, and the
/beta service principal sign-in activity report.

What Microsoft documents and this follows (learn.microsoft.com/graph/api/...):
- "List servicePrincipals" / "List applications": Application.Read.All (or Directory.Read.All,
  Application.ReadWrite.All); `$select`, `$filter`, `$top` (default 100, at most 999),
  `$count` with `ConsistencyLevel: eventual`, `$expand`. Listing keyCredentials with `$select`
  is limited to 150 requests a minute per tenant (not modelled: a listing needs a few pages).
- "List appRoleAssignments granted to a service principal", "List appRoleAssignedTo",
  "List owners": Application.Read.All; relationship pages default to 100.
- "List oauth2PermissionGrants" (and a service principal's): **Directory.Read.All** (or
  DelegatedPermissionGrant.ReadWrite.All, Directory.ReadWrite.All) — Application.Read.All is
  not enough; `$filter` on `clientId`, `consentType`, `principalId`, `resourceId` (eq).
- "servicePrincipal: delta", "application: delta": the rules of `entrasim.delta` (`$select`
  encoded in the token, `$deltatoken=latest`, no `$expand`/`$top`/`$orderby`, `@removed`,
  stale tokens refused after `Tenant.expire_delta_tokens`).
- "List servicePrincipalSignInActivities" (/beta only): AuditLog.Read.All (or
  Directory.Read.All); a "Usage and insights" report, so Entra ID P1/P2; an identity-and-access
  report for throttling (5 requests / 10 s).

ASSUMED where the docs are silent (the stricter reading): one navigation property per
`$expand`; an expanded relationship returns at most 20 objects and no nextLink, as for every
directory relationship; relationships (app role assignments, roster, owners, consents) do not
bring a service principal or application back in delta (its properties do: `accountEnabled`,
`passwordCredentials`, `keyCredentials`, ...); `/oauth2PermissionGrants` pages at 100 with
`$top` up to 999; the sign-in activity report pages at 1,000 (`$top` up to 1,000) and refuses
a free tenant with 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from entrasim import delta as _delta
from entrasim import graph as _graph
from entrasim import resources
from entrasim.odata import (
    bad_request,
    not_found,
    parse_expand,
    parse_select,
    parse_top,
    unsupported,
)
from entrasim.workloads import SP, App, Assignment, Grant

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Request
    from entrasim.identity import Claims

Json = dict[str, Any]

APPLICATIONS = frozenset({"Directory.Read.All", "Directory.ReadWrite.All", "Application.Read.All",
                          "Application.ReadWrite.All"})
GRANTS = frozenset({"Directory.Read.All", "Directory.ReadWrite.All",
                    "DelegatedPermissionGrant.ReadWrite.All"})
AUDIT = frozenset({"AuditLog.Read.All", "Directory.Read.All"})
PAGE = 100
DELTA_PAGE = 200
REPORT_PAGE = 1000
SIGN_IN_ACTIVITY_ROUTE = "GET /beta/reports/servicePrincipalSignInActivities"

SP_PROPS: dict[str, Callable[[SP], Any]] = {
    "id": lambda s: s.id, "appId": lambda s: s.app_id, "displayName": lambda s: s.name,
    "appDisplayName": lambda s: s.name, "accountEnabled": lambda s: s.enabled,
    "servicePrincipalType": lambda s: s.sp_type, "appOwnerOrganizationId": lambda s: s.owner_org,
    "preferredSingleSignOnMode": lambda s: s.sso,
    "signInAudience": lambda s: None if s.sp_type != "Application" else (
        "AzureADMultipleOrgs" if s.kind in ("first_party", "resource", "saas") else "AzureADMyOrg"),
    "appRoleAssignmentRequired": lambda s: s.assignment_required, "createdDateTime": lambda s: s.created,
    "servicePrincipalNames": lambda s: [s.app_id],
    "passwordCredentials": lambda s: [c.json() for c in s.credentials if c.kind == "password"],
    "keyCredentials": lambda s: [c.json() for c in s.credentials if c.kind == "certificate"],
    "appRoles": lambda s: [{"allowedMemberTypes": ["Application"] if s.kind == "resource" else ["User"],
                            "id": k, "value": v, "displayName": v, "isEnabled": True,
                            "description": v, "origin": "Application"} for k, v in s.app_roles.items()],
    "tags": lambda s: ["WindowsAzureActiveDirectoryIntegratedApp"] if s.kind == "lob" else [],
    "deletedDateTime": lambda s: s.deleted,
}
SP_DEFAULT = tuple(SP_PROPS)
APP_PROPS: dict[str, Callable[[App], Any]] = {
    "id": lambda a: a.id, "appId": lambda a: a.app_id, "displayName": lambda a: a.name,
    "createdDateTime": lambda a: a.created, "signInAudience": lambda a: a.audience,
    "passwordCredentials": lambda a: [c.json() for c in a.credentials if c.kind == "password"],
    "keyCredentials": lambda a: [c.json() for c in a.credentials if c.kind == "certificate"],
    "deletedDateTime": lambda a: a.deleted,
}
APP_DEFAULT = tuple(APP_PROPS)
_SP_RELATIONS = {"approleassignments": "appRoleAssignments", "approleassignedto": "appRoleAssignedTo",
                 "owners": "owners"}
_SP_FILTER = re.compile(r"\s*(id|appId|servicePrincipalType|accountEnabled)\s+eq\s+('([^']*)'|true|false)\s*",
                        re.IGNORECASE)
_GRANT_FILTER = re.compile(r"\s*(clientId|consentType|principalId|resourceId)\s+eq\s+'([^']*)'\s*", re.IGNORECASE)


def sp_json(s: SP, props: Sequence[str]) -> Json:
    return {p: SP_PROPS[p](s) for p in props}


def app_json(a: App, props: Sequence[str]) -> Json:
    return {p: APP_PROPS[p](a) for p in props}


def assignment_json(a: Assignment) -> Json:
    principal = a.principal
    kind = "ServicePrincipal" if isinstance(principal, SP) else (
        "User" if hasattr(principal, "upn") else "Group")
    name = principal.name if not hasattr(principal, "display") else principal.display  # type: ignore[union-attr]
    return {"id": a.id, "deletedDateTime": None, "appRoleId": a.role_id, "createdDateTime": a.created,
            "principalDisplayName": name, "principalId": principal.id, "principalType": kind,
            "resourceDisplayName": a.resource.name, "resourceId": a.resource.id}


def grant_json(g: Grant) -> Json:
    return {"id": g.id, "clientId": g.client.id, "consentType": g.consent_type,
            "principalId": g.principal.id if g.principal is not None else None,
            "resourceId": g.resource.id, "scope": g.scope}


def _owner_json(u: Any, sub: Sequence[str]) -> Json:
    return resources.user_json(u, sub, typed=True)


def _sp(api: GraphApi, key: str) -> SP:
    found = api.tenant.workloads.sp(key)
    if found is None:
        raise not_found(key)
    return found


def _sp_props(req: Request) -> tuple[list[str] | None, list[str]]:
    select = parse_select(req.query, {**SP_PROPS, **{r: None for r in _SP_RELATIONS.values()}},
                          "microsoft.graph.servicePrincipal")
    props = [p for p in select if p in SP_PROPS] if select else list(SP_DEFAULT)
    if select and "id" not in props:
        props.insert(0, "id")
    return select, props


def _expansion(req: Request, relations: dict[str, str], type_name: str) -> tuple[str, list[str]] | None:
    if "," in re.sub(r"\([^)]*\)", "", req.query.get("$expand", "")):
        raise bad_request("Only one navigation property can be expanded per request.")  # ASSUMED
    expand = parse_expand(req.query)
    if expand is None:
        return None
    name, options = expand
    relation = relations.get(name.lower())
    if relation is None:
        raise bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
    sub = [s.strip() for s in options.get("$select", "").split(",") if s.strip()]
    return relation, sub or list(resources.USER_DEFAULT)


def _related(api: GraphApi, s: SP, relation: str) -> list[Any]:
    w = api.tenant.workloads
    if relation == "appRoleAssignments":
        return w.held(s)
    if relation == "appRoleAssignedTo":
        return w.assigned_to(s)
    return w.live_owners(s.owners)


def _render_related(relation: str, items: Sequence[Any], sub: Sequence[str]) -> list[Json]:
    if relation == "owners":
        return [_owner_json(u, sub) for u in items]
    return [assignment_json(a) for a in items]


def _render_sp(api: GraphApi, s: SP, props: list[str], expand: tuple[str, list[str]] | None) -> Json:
    out = sp_json(s, props)
    if expand is not None:
        relation, sub = expand
        out[relation] = _render_related(relation, _related(api, s, relation)[:_graph.EXPAND_LIMIT], sub)
    return out


def _sp_filter(req: Request) -> Callable[[SP], bool] | None:
    text = req.query.get("$filter")
    if not text:
        return None
    m = _SP_FILTER.fullmatch(text)
    if m is None:
        raise unsupported(f"Unsupported or invalid query filter clause: {text}")
    prop, literal, quoted = m.group(1), m.group(2), m.group(3)
    value: Any = quoted if quoted is not None else literal.lower() == "true"
    get = SP_PROPS[{k.lower(): k for k in SP_PROPS}[prop.lower()]]
    return lambda s: get(s) == value if not isinstance(value, str) else str(get(s)).lower() == value.lower()


def _keyset_page(api: GraphApi, req: Request, items: Sequence[Any], render: Callable[[Any], Json],
                 entity: str, path: str, select: Sequence[str] | None, *, max_top: int = 999) -> Json:
    """Pages keyed on the object id (like `/users`): a mutation mid-listing shifts nothing."""
    token = _graph._untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
    page = api._page_number(token)
    top = parse_top(req.query, PAGE, max_top)
    ids = [x.id for x in items]
    start = bisect.bisect_right(ids, token["k"]) if token else 0
    chunk = items[start:start + top]
    out: Json = {"@odata.context": api._context(req, entity, select)}
    if api._count_allowed(req) and token is None:
        out["@odata.count"] = len(items)
    if start + top < len(items):
        out["@odata.nextLink"] = api._link(req, path, "$skiptoken", {"k": chunk[-1].id, "p": page + 1})
    out["value"] = [render(x) for x in chunk]
    return out


# ---- /servicePrincipals -------------------------------------------------------------------------

def service_principals(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    select, props = _sp_props(req)
    expand = _expansion(req, _SP_RELATIONS, "microsoft.graph.servicePrincipal")
    pred = _sp_filter(req)
    with api.tenant.lock:
        items = [s for s in api.tenant.workloads.service_principals() if pred is None or pred(s)]
        return _keyset_page(api, req, items, lambda s: _render_sp(api, s, props, expand),
                            "servicePrincipals", "/servicePrincipals", select)


def service_principal(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    select, props = _sp_props(req)
    expand = _expansion(req, _SP_RELATIONS, "microsoft.graph.servicePrincipal")
    with api.tenant.lock:
        out: Json = {"@odata.context": api._context(req, "servicePrincipals", select) + "/$entity"}
        out.update(_render_sp(api, _sp(api, m.group(1)), props, expand))
        return out


def sp_relation(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    relation = _SP_RELATIONS[m.group(2).lower()]
    api._need(claims, APPLICATIONS)
    select = parse_select(req.query, resources.USER_SELECTABLE, "microsoft.graph.directoryObject") \
        if relation == "owners" else None
    sub = [p for p in select if p in resources.USER_SELECTABLE] if select else list(resources.USER_DEFAULT)
    with api.tenant.lock:
        items = _related(api, _sp(api, m.group(1)), relation)
        entity = "directoryObjects" if relation == "owners" else "appRoleAssignments"
        return api._offset_page(req, items, lambda x: _render_related(relation, [x], sub)[0], entity,
                                select=select)


def sp_grants(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, GRANTS)
    with api.tenant.lock:
        items = api.tenant.workloads.grants_of(_sp(api, m.group(1)))
        return api._offset_page(req, items, grant_json, "oauth2PermissionGrants")


# ---- /applications ----------------------------------------------------------------------------

def _connector_app(api: GraphApi, props: Sequence[str], expand: tuple[str, list[str]] | None) -> Json:
    """The connector's own registration, as the diagnostics have always read it."""
    out = {k: v for k, v in api._connector_app().items() if k in props}
    if expand is not None:
        out["owners"] = []
    return out


def applications(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    select = parse_select(req.query, {**APP_PROPS, "owners": None}, "microsoft.graph.application")
    props = [p for p in select if p in APP_PROPS] if select else list(APP_DEFAULT)
    if select and "id" not in props:
        props.insert(0, "id")
    expand = _expansion(req, {"owners": "owners"}, "microsoft.graph.application")
    text = req.query.get("$filter", "")
    wanted: str | None = None
    if text:
        m = re.fullmatch(r"\s*appId\s+eq\s+'([^']*)'\s*", text, re.IGNORECASE)
        if not m:
            raise unsupported("Unsupported or invalid query filter clause specified for property "
                              f"'{text.split()[0]}' of resource 'Application'.")
        wanted = m.group(1).lower()
    spec = api.spec
    with api.tenant.lock:
        apps = [a for a in api.tenant.workloads.applications() if wanted is None or a.app_id.lower() == wanted]

        def render(a: App) -> Json:
            if a.app_id == spec.client_id:
                return _connector_app(api, props, expand)
            out = app_json(a, props)
            if expand is not None:
                out["owners"] = [_owner_json(u, expand[1])
                                 for u in api.tenant.workloads.live_owners(a.owners)[:_graph.EXPAND_LIMIT]]
            return out

        return _keyset_page(api, req, apps, render, "applications", "/applications", select)


def _app(api: GraphApi, key: str) -> App:
    found = api.tenant.workloads.app(key)
    if found is None:
        raise not_found(key)
    return found


def application(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    select = parse_select(req.query, APP_PROPS, "microsoft.graph.application")
    with api.tenant.lock:
        a = _app(api, m.group(1))
        props = select or list(APP_DEFAULT)
        return _connector_app(api, props, None) if a.app_id == api.spec.client_id else app_json(a, props)


def application_owners(api: GraphApi, req: Request, claims: Claims, m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    select = parse_select(req.query, resources.USER_SELECTABLE, "microsoft.graph.directoryObject")
    sub = list(select) if select else list(resources.USER_DEFAULT)
    with api.tenant.lock:
        owners = api.tenant.workloads.live_owners(_app(api, m.group(1)).owners)
        return api._offset_page(req, owners, lambda u: _owner_json(u, sub), "directoryObjects", select=select)


# ---- /oauth2PermissionGrants ----------------------------------------------------------------------

def permission_grants(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, GRANTS)
    text = req.query.get("$filter", "")
    pred: Callable[[Json], bool] | None = None
    if text:
        m = _GRANT_FILTER.fullmatch(text)
        if m is None:
            raise unsupported(f"Unsupported or invalid query filter clause: {text}")
        key = {k.lower(): k for k in ("clientId", "consentType", "principalId", "resourceId")}[m.group(1).lower()]
        value = m.group(2)
        pred = lambda g: str(g.get(key)).lower() == value.lower()  # noqa: E731
    with api.tenant.lock:
        items = [j for j in (grant_json(g) for g in api.tenant.workloads.live_grants()) if pred is None or pred(j)]
    return api._offset_page(req, items, lambda j: j, "oauth2PermissionGrants")


# ---- delta ----------------------------------------------------------------------------------

def _delta_round(api: GraphApi, req: Request, resource: str, props_of: dict[str, Any],
                 default: Sequence[str], type_name: str, objects: Callable[[], dict[str, Any]],
                 log_of: Callable[[], Any], render: Callable[[Any, list[str]], Json]) -> Json:
    select = parse_select(req.query, props_of, type_name) if "$skiptoken" not in req.query else None
    state = _delta._round_state(api, req, resource, select)
    if state is None:
        return _delta._latest(api, req, resource, select)
    api._page_number(state)
    size = DELTA_PAGE
    prefer = req.headers.get("prefer", "")
    if "odata.maxpagesize=" in prefer:
        with contextlib.suppress(ValueError):
            size = max(1, min(999, int(prefer.split("odata.maxpagesize=")[1].split(",")[0])))
    sel: list[str] | None = state.get("sel")
    props = list(sel) if sel else list(default)
    if "id" not in props:
        props.append("id")
    upto, after = int(state["u"]), state.get("k")
    items: list[Json] = []
    last = after
    more = False
    with api.tenant.lock:
        everything = objects()
        if state["full"]:
            candidates = sorted(k for k, o in everything.items() if o.deleted is None and o.version <= upto)
        else:
            candidates = sorted({e.object_id for e in log_of().between(int(state["s"]), upto)})
        start = 0 if after is None else bisect.bisect_right(candidates, after)
        for object_id in candidates[start:]:
            if len(items) == size:
                more = True
                break
            found = everything.get(object_id)
            items.append(render(found, props) if found is not None and found.deleted is None
                          else {"id": object_id, "@removed": {"reason": "changed"}})
            last = object_id
    return _delta._finish(api, req, resource, state, items, more, {"k": last})


def service_principals_delta(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    """A deleted service principal is soft-deleted (restorable 30 days): `@removed` `changed`."""
    api._need(claims, APPLICATIONS)
    w = api.tenant.workloads
    return _delta_round(api, req, "servicePrincipals", SP_PROPS, SP_DEFAULT, "microsoft.graph.servicePrincipal",
                        lambda: w.sps, lambda: w.sp_log, sp_json)


def applications_delta(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, APPLICATIONS)
    w = api.tenant.workloads

    def render(a: App, props: list[str]) -> Json:
        return _connector_app(api, props, None) if a.app_id == api.spec.client_id else app_json(a, props)

    return _delta_round(api, req, "applications", APP_PROPS, APP_DEFAULT, "microsoft.graph.application",
                        lambda: w.apps, lambda: w.app_log, render)


# ---- /beta/reports/servicePrincipalSignInActivities -------------------------------------------------

def sign_in_activities(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, AUDIT)
    api._premium()
    for option in ("$expand", "$select"):
        if option in req.query:
            raise unsupported(f"The query option '{option}' is not supported.")
    with api.tenant.lock:
        items = [s for s in api.tenant.workloads.service_principals() if s.last_sign_in is not None]

        def render(s: SP) -> Json:
            last = {"lastSignInDateTime": s.last_sign_in, "lastSignInRequestId": None}
            return {"id": s.app_id.replace("-", "")[:20], "appId": s.app_id, "lastSignInActivity": last,
                    "applicationAuthenticationClientSignInActivity": last,
                    "delegatedClientSignInActivity": {"lastSignInDateTime": None, "lastSignInRequestId": None}}

        return api._offset_page(req, items, render, "reports/servicePrincipalSignInActivities",
                                default_top=REPORT_PAGE, max_top=REPORT_PAGE)


#: (verb, path pattern, route name, handler), in match order (delta before `{id}`).
ROUTES: tuple[tuple[str, str, str, Any], ...] = (
    ("GET", r"^/servicePrincipals", "GET /servicePrincipals", service_principals),
    ("GET", r"^/servicePrincipals/(?:microsoft\.graph\.)?delta(?:\(\))?", "GET /servicePrincipals/delta",
     service_principals_delta),
    ("GET", r"^/servicePrincipals/([^/]+)", "GET /servicePrincipals/{id}", service_principal),
    ("GET", r"^/servicePrincipals/([^/]+)/(appRoleAssignments|appRoleAssignedTo|owners)",
     "GET /servicePrincipals/{id}/relation", sp_relation),
    ("GET", r"^/servicePrincipals/([^/]+)/oauth2PermissionGrants", "GET /servicePrincipals/{id}/oauth2PermissionGrants",
     sp_grants),
    ("GET", r"^/applications", "GET /applications", applications),
    ("GET", r"^/applications/(?:microsoft\.graph\.)?delta(?:\(\))?", "GET /applications/delta",
     applications_delta),
    ("GET", r"^/applications/([^/]+)", "GET /applications/{id}", application),
    ("GET", r"^/applications/([^/]+)/owners", "GET /applications/{id}/owners", application_owners),
    ("GET", r"^/oauth2PermissionGrants", "GET /oauth2PermissionGrants", permission_grants),
)

BETA_ROUTES: tuple[tuple[str, str, str, Any], ...] = (
    ("GET", r"^/reports/servicePrincipalSignInActivities", SIGN_IN_ACTIVITY_ROUTE, sign_in_activities),
)
