"""`GET /auditLogs/directoryAudits`: the tenant's audit log (`audit.py`) as Graph lists it.

Graph (learn.microsoft.com "List directoryAudits", "directoryAudit resource type"):
- Application permission AuditLog.Read.All (the current page lists "AuditLog.Read.All and
  Directory.Read.All"; the simulator asks for AuditLog.Read.All alone, as the older pages did);
  without it 403 `Authorization_RequestDenied`. No premium licence is needed.
- `$filter` on `activityDateTime` (eq, ge, le), `activityDisplayName` (eq, startswith),
  `category`, `loggedByService`, `operationType`, `id`, `correlationId` (eq),
  `initiatedBy/user/id` and `initiatedBy/app/appId` (eq), joined with `and`/`or`.
  STRICTER (ASSUMED): `gt` and `lt` on `activityDateTime` are refused with 400, since the page
  documents only eq, ge and le.
- `$orderby=activityDateTime [asc|desc]`; newest first by default. `$select` (not listed on
  the page, accepted by Graph as on other resources) projects the record's properties.
- `$top`: the page names no maximum; ASSUMED as for directory listings ("Use query
  parameters"): 1..999, default 100. `@odata.nextLink` carries a keyset `$skiptoken` on
  (activityDateTime, id), so a late record that becomes visible mid-listing neither shifts nor
  repeats the rest of the listing.
- Retention ("Microsoft Entra data retention"): 7 days on a free tenant, 30 days on P1/P2;
  older records are not listed.
- Late arrival: a record written with `visible_after_listings=N` is left out of the next N
  listings (a listing starts with a request without `$skiptoken`).
- Requests count against the identity reports budget (5 requests per 10 s, "any request to
  /auditLogs or /reports").

Why this is the MFA change source: the registration report's `lastUpdatedDateTime` is not
filterable ("userRegistrationDetails resource type" lists `$filter` for other properties only),
so the report cannot say "who changed since"; the audit log can, for a few requests.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from entrasim import graph as _graph
from entrasim.audit import AUDIT_FILTER, AuditRecord, record_json
from entrasim.odata import (
    CompiledFilter,
    bad_request,
    compile_filter,
    parse_select,
    parse_top,
    unsupported,
)

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Request
    from entrasim.identity import Claims

Json = dict[str, Any]

DEFAULT_PAGE = 100
MAX_PAGE = 999
RETENTION_DAYS = {"free": 7, "P1": 30, "P2": 30}
_SUPPORTED = frozenset({"$top", "$skiptoken", "$filter", "$orderby", "$select"})
_PROPERTIES = dict.fromkeys((
    "id", "category", "correlationId", "result", "resultReason", "activityDisplayName",
    "activityDateTime", "loggedByService", "operationType", "initiatedBy", "targetResources",
    "additionalDetails"))
_STRICT_TIME = re.compile(r"activityDateTime\s+(gt|lt)\s", re.IGNORECASE)


@lru_cache(maxsize=64)
def _compiled(text: str) -> CompiledFilter:
    if (m := _STRICT_TIME.search(text)) is not None:
        raise unsupported(f"Operator '{m.group(1)}' is not supported for 'activityDateTime'.")
    return compile_filter(text, AUDIT_FILTER, "DirectoryAudit")


def _newest_first(query: dict[str, str]) -> bool:
    if "$orderby" not in query:
        return True
    name, _, direction = query["$orderby"].strip().partition(" ")
    if name != "activityDateTime" or direction.strip().lower() not in ("", "asc", "desc"):
        raise unsupported(f"Sorting by '{query['$orderby']}' is not supported.")
    return direction.strip().lower() == "desc"


def _after(token: Json | None) -> tuple[str, str] | None:
    if token is None or "k" not in token:
        return None
    key = token["k"]
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise bad_request("The specified page token value is invalid.", "Directory_InvalidPageToken")
    return key[0], key[1]


def _key(r: AuditRecord) -> tuple[str, str]:
    return r.when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f"), r.id


def directory_audits(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, _graph.AUDIT)
    for option in req.query:
        if option.startswith("$") and option not in _SUPPORTED:
            raise unsupported(f"Query option '{option}' is not supported for 'directoryAudits'.")
    flt = _compiled(req.query["$filter"]) if req.query.get("$filter") else None
    top = parse_top(req.query, DEFAULT_PAGE, MAX_PAGE)
    select = parse_select(req.query, _PROPERTIES, "microsoft.graph.directoryAudit")
    newest_first = _newest_first(req.query)
    token = _graph._untoken(req.query["$skiptoken"]) if "$skiptoken" in req.query else None
    page = api._page_number(token)
    after = _after(token)
    oldest = datetime.now(UTC) - timedelta(days=RETENTION_DAYS[api.spec.licence])
    with api.tenant.lock:
        log = api.tenant.audit
        if token is None:
            log.note_listing()
        visible = log.visible(oldest)
    ordered = reversed(visible) if newest_first else iter(visible)
    chosen: list[AuditRecord] = []
    more = False
    for r in ordered:
        if after is not None and (_key(r) >= after if newest_first else _key(r) <= after):
            continue
        if flt is not None and not flt.predicate(r):
            continue
        if len(chosen) == top:
            more = True
            break
        chosen.append(r)
    out: Json = {"@odata.context": api._context(req, "auditLogs/directoryAudits", select)}
    if more:
        out["@odata.nextLink"] = api._link(req, req.path, "$skiptoken",
                                           {"k": list(_key(chosen[-1])), "p": page + 1})
    rendered = [record_json(r) for r in chosen]
    out["value"] = rendered if not select else [{k: item[k] for k in select} for item in rendered]
    return out
