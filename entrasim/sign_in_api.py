"""`GET /auditLogs/signIns` (v1.0 and beta) and `GET /auditLogs/signIns/{id}` over the
tenant's `SignInLog`: query options in, one page of Graph JSON out.

Permission, licence, throttling, faults and the `@odata.nextLink` are `GraphApi`'s business
(`entrasim.graph`), as for every other route; this module knows the sign-in log's own rules:
page size 1..1,000 (default 1,000), newest first, keyset paging on (createdDateTime, id) so
records that become visible mid-listing neither shift nor repeat the rest.

What was assumed, from Microsoft's pages ("List signIns" v1.0 and beta, its permissions table,
"Microsoft Graph service-specific throttling limits", "Analyze activity logs with Microsoft
Graph"):
- Application permission: AuditLog.Read.All is the least privileged, Directory.Read.All the
  higher one; either is enough. (Older revisions of the page listed "AuditLog.Read.All and
  Directory.Read.All" because of a since-fixed licence-check issue; we follow the current table.)
  Without either: 403 `Authorization_RequestDenied`. Checked before the licence.
- Licence: Entra ID P1 or P2, else 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`
  ("Neither tenant is B2C or tenant doesn't have premium license").
- Query options: `$top`, `$skiptoken`, `$filter`, `$orderby` (createdDateTime only) and
  `$select`; `$count`, `$search` and `$expand` are refused with 400.
- Throttling: the identity-and-access *reports* limit, 5 requests per 10 s per app per tenant,
  shared with the registration report and `signInActivity` listings. Reports are not in the
  directory's resource-unit table; like other unlisted requests each costs 1 RU here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from entrasim.odata import bad_request, not_found, parse_select, parse_top, unsupported
from entrasim.sign_in_filter import parse_filter, parse_orderby
from entrasim.sign_ins import BETA_PROPERTIES, V1_PROPERTIES, SignIn, SignInLog

Json = dict[str, Any]

MAX_PAGE = 1000
_SUPPORTED = frozenset({"$top", "$skiptoken", "$filter", "$orderby", "$select"})


def _select(query: Mapping[str, str], version: str) -> list[str] | None:
    known = dict.fromkeys(BETA_PROPERTIES if version == "beta" else V1_PROPERTIES)
    return parse_select(query, known, "microsoft.graph.signIn")


def list_page(log: SignInLog, query: Mapping[str, str], version: str, base: str,
              after: str | None) -> tuple[Json, str | None]:
    """One page (without `@odata.nextLink`) and the key to continue after, if there is more."""
    for option in query:
        if option.startswith("$") and option not in _SUPPORTED:
            raise unsupported(f"Query option '{option}' is not supported for 'signIns'.")
    top = parse_top(query, MAX_PAGE, MAX_PAGE)
    select = _select(query, version)
    ascending = parse_orderby(query.get("$orderby"))
    parsed = parse_filter(query.get("$filter"), beta=version == "beta")
    if after is not None and (len(after) < 12 or not after[:11].isdigit()):
        raise bad_request("The specified page token value is invalid.", "Directory_InvalidPageToken")
    chosen: list[SignIn] = []
    more = False
    predicate = parsed.predicate
    for rec in log.walk(parsed.kinds, lo=parsed.lo, hi=parsed.hi, after=after, ascending=ascending):
        if predicate is not None and not predicate(rec):
            continue
        if len(chosen) == top:
            more = True
            break
        chosen.append(rec)
    suffix = f"({','.join(select)})" if select else ""
    body: Json = {
        "@odata.context": f"{base}/{version}/$metadata#auditLogs/signIns{suffix}",
        "value": [log.render(r, version, select) for r in chosen],
    }
    return body, (chosen[-1].key if more else None)


def get_one(log: SignInLog, record_id: str, query: Mapping[str, str], version: str, base: str) -> Json:
    select = _select(query, version)
    rec = log.find(record_id)
    if rec is None or not rec.visible(time.monotonic()) or rec.ts < log.retention_start():
        raise not_found(record_id)
    body: Json = {"@odata.context": f"{base}/{version}/$metadata#auditLogs/signIns/$entity"}
    body.update(log.render(rec, version, select))
    return body

