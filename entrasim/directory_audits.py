"""`GET /auditLogs/directoryAudits`: the tenant's audit log (`audit.py`) as Graph lists it.

Graph (learn.microsoft.com "List directoryAudits"): application permission AuditLog.Read.All
(newer pages add Directory.Read.All; the simulator asks for AuditLog.Read.All alone, as the
older pages did); `$filter` on `activityDateTime` (eq, ge, le), `activityDisplayName` (eq,
startswith), `category`, `loggedByService`, `id` (eq), joined with `and`;
`$orderby=activityDateTime [asc|desc]`; `$top` (ASSUMED max 999, default 100); newest first by
default; `@odata.nextLink` paging. Requests count against the
identity reports budget (5 requests per 10 s, "any request to /auditLogs or /reports").
Available on every licence (free tenants keep 7 days of history; retention is not modelled).

Why this is the MFA change source: the registration report's `lastUpdatedDateTime` is not
filterable ("userRegistrationDetails resource type" lists `$filter` for other properties only),
so the report cannot say "who changed since"; the audit log can, for a few requests.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from entrasim import graph as _graph
from entrasim.audit import AUDIT_FILTER, record_json
from entrasim.odata import CompiledFilter, compile_filter, parse_top, unsupported

if TYPE_CHECKING:
    from entrasim.graph import GraphApi, Request
    from entrasim.identity import Claims

Json = dict[str, Any]


@lru_cache(maxsize=64)
def _compiled(text: str) -> CompiledFilter:
    return compile_filter(text, AUDIT_FILTER, "DirectoryAudit")


def directory_audits(api: GraphApi, req: Request, claims: Claims, _m: re.Match[str]) -> Json:
    api._need(claims, _graph.AUDIT)
    flt = _compiled(req.query["$filter"]) if req.query.get("$filter") else None
    parse_top(req.query, 100)
    newest_first = True
    if "$orderby" in req.query:
        name, _, direction = req.query["$orderby"].strip().partition(" ")
        if name != "activityDateTime" or direction.strip().lower() not in ("", "asc", "desc"):
            raise unsupported(f"Sorting by '{req.query['$orderby']}' is not supported.")
        newest_first = direction.strip().lower() == "desc"
    with api.tenant.lock:
        ordered = reversed(api.tenant.audit.records) if newest_first else iter(api.tenant.audit.records)
        records = [r for r in ordered if flt is None or flt.predicate(r)]
    return api._offset_page(req, records, record_json, "auditLogs/directoryAudits")
