"""The directory audit log listing: `GET /auditLogs/directoryAudits` between two instants.

What Graph documents (learn.microsoft.com "List directoryAudits", "directoryAudit resource
type", "Microsoft Entra data retention", "Microsoft Graph throttling limits"), and this module
relies on:

- Application permission AuditLog.Read.All (the current page lists "AuditLog.Read.All and
  Directory.Read.All"; older ones AuditLog.Read.All alone); without it Graph answers 403
  `Authorization_RequestDenied`. Unlike sign-ins, the audit log needs **no** premium licence.
- Retention: **7 days** on Microsoft Entra ID Free, **30 days** on P1/P2. A window that starts
  before the retention simply returns nothing older; the caller's lookback should not exceed it.
- `$filter` on `activityDateTime` with `eq`, `ge`, `le` (no `lt`, no `gt`), on
  `activityDisplayName` (`eq`, `startswith`), `loggedByService`, `category`, `correlationId`,
  `id`, `initiatedBy/...` and `targetResources/any(...)`, joined with `and`.
  `$orderby=activityDateTime` is supported; the default order is newest first.
- `$top` "sets the page size"; the page names no maximum. ASSUMED, as for other directory
  listings ("Use query parameters": 999 maximum, 100 default): 999, the largest page that
  cannot be refused. `@odata.nextLink` (a `$skiptoken`) until the end.
- Every request counts against the identity-and-access *reports* budget (5 requests / 10 s per
  app and tenant; `directoryAudit` is named on the throttling page), shared with sign-ins,
  `signInActivity` and the registration report (`connector.graph.throttle.is_reporting`).
- Records appear after the activity (Microsoft quotes minutes at the 99th percentile;
  practitioners see tens of minutes): an incremental reader overlaps its windows and
  de-duplicates by record `id`, exactly like the sign-in stream.

Only whole-second date-time literals are sent; `since <= activityDateTime <= upto` uses `ge` and
`le` because Graph offers no `lt` here (a half-open window is the caller's de-duplication).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.graph.client import GraphClient, GraphError, Page
from connector.graph.odata import build_url, odata_datetime, refusal_reason

__all__ = ["DIRECTORY_AUDITS_PATH", "FREE_RETENTION_DAYS", "MAX_PAGE_SIZE",
           "PREMIUM_RETENTION_DAYS", "PROBES", "AuditQuery", "directory_audit_pages",
           "probe_refusal", "whole_second"]

DIRECTORY_AUDITS_PATH = "/auditLogs/directoryAudits"
MAX_PAGE_SIZE = 999
FREE_RETENTION_DAYS = 7
PREMIUM_RETENTION_DAYS = 30
#: What `connector test` asks to report the audit stream's feature: (feature, label, URL).
PROBES = (("directory_audits", "audit log (directoryAudits)",
           build_url(DIRECTORY_AUDITS_PATH, {"$top": 1})),)


def probe_refusal(feature: str, error: GraphError) -> str:
    """Why a `PROBES` request was refused, in the words the run's warning uses."""
    return refusal_reason(error)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which audit records to list: page size, order, and optional narrowing by service.

    `services` (`loggedByService eq ...`, joined with `or`) lets a reader that needs only part
    of the log (the MFA change detection reads `Authentication Methods`) ask for that part; the
    directory-audit stream leaves it empty and reads everything, which one read can then serve
    to both.
    """

    page_size: int = MAX_PAGE_SIZE
    ascending: bool = False
    services: tuple[str, ...] = ()

    def url(self, since: datetime, upto: datetime) -> str:
        """The first page's URL: `since <= activityDateTime <= upto`."""
        clauses = [f"activityDateTime ge {odata_datetime(since)}",
                   f"activityDateTime le {odata_datetime(upto)}"]
        if self.services:
            services = " or ".join(f"loggedByService eq {_quoted(s)}" for s in self.services)
            clauses.append(f"({services})" if len(self.services) > 1 else services)
        params: dict[str, str | int | None] = {"$filter": " and ".join(clauses),
                                               "$top": self.page_size}
        if self.ascending:
            params["$orderby"] = "activityDateTime asc"
        return build_url(DIRECTORY_AUDITS_PATH, params)


def whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


async def directory_audit_pages(client: GraphClient, query: AuditQuery, since: datetime,
                                upto: datetime, *, headers: Sequence[tuple[str, str]] = ()
                                ) -> AsyncIterator[Page]:
    """Every page of audit records with activityDateTime in [since, upto] (whole seconds),
    newest first unless the query asks otherwise, nextLink to the end."""
    url = query.url(whole_second(since), whole_second(upto))
    async for page in client.pages(url, dict(headers) or None):
        yield page
