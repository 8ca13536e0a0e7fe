"""The sign-in log listing: `GET /auditLogs/signIns` between two instants, page by page.

What Graph documents, and this module relies on (see docs/setup.md, "Sign-in logs"):

- Application permission AuditLog.Read.All (older pages also asked for Directory.Read.All, a
  known issue since lifted) and an Entra ID P1 or P2 licence; without the licence Graph answers
  403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, without the permission 403
  `Authorization_RequestDenied`.
- Pages of at most 1,000 (also the default), **newest first** by `createdDateTime`;
  `$filter` on `createdDateTime` with `ge`, `le`, `lt`; `@odata.nextLink` until the end.
- Records are kept 30 days, and appear minutes to hours after `createdDateTime`.
- Every request counts against the reporting budget (5 requests / 10 s per app and tenant),
  shared with `signInActivity` listings and the registration report (`throttle.is_reporting`).
- v1.0 lists interactive user sign-ins only. Non-interactive, service-principal and
  managed-identity sign-ins exist on `/beta`, selected with `signInEventTypes/any(...)`.

Only date-time literals in whole seconds are sent: Graph's own values carry up to seven
fractional digits, and a whole-second bound is exact in both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connector.graph.client import API_VERSION, GraphClient, Page
from connector.graph.odata import build_url, odata_datetime

__all__ = ["BETA", "MAX_PAGE_SIZE", "SIGN_INS_PATH", "SignInQuery", "sign_in_pages"]

SIGN_INS_PATH = "/auditLogs/signIns"
MAX_PAGE_SIZE = 1000
BETA = "beta"


@dataclass(frozen=True, slots=True)
class SignInQuery:
    """Which sign-ins to list: page size, and the /beta event types (empty: v1.0, interactive)."""

    page_size: int = MAX_PAGE_SIZE
    event_types: tuple[str, ...] = ()

    @property
    def beta(self) -> bool:
        return bool(self.event_types)

    def url(self, client: GraphClient, since: datetime, *, upto: datetime,
            inclusive: bool = True) -> str:
        """The first page's URL: `since <= createdDateTime <= upto` (`< upto` if not inclusive)."""
        bound = "le" if inclusive else "lt"
        clauses = [f"createdDateTime ge {odata_datetime(since)}",
                   f"createdDateTime {bound} {odata_datetime(upto)}"]
        if self.event_types:
            kinds = " or ".join(f"signInEventTypes/any(t: t eq '{kind}')"
                                for kind in self.event_types)
            clauses.append(f"({kinds})")
        relative = build_url(SIGN_INS_PATH, {"$filter": " and ".join(clauses),
                                             "$top": self.page_size})
        if not self.beta:
            return relative
        return client.base_url.removesuffix("/" + API_VERSION) + "/" + BETA + relative


def whole_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


async def sign_in_pages(client: GraphClient, query: SignInQuery, since: datetime,
                        upto: datetime, *, inclusive: bool = True,
                        headers: Sequence[tuple[str, str]] = ()) -> AsyncIterator[Page]:
    """Every page of sign-ins created in [since, upto], newest first, nextLink to the end."""
    url = query.url(client, whole_second(since), upto=whole_second(upto), inclusive=inclusive)
    async for page in client.pages(url, dict(headers) or None):
        yield page
