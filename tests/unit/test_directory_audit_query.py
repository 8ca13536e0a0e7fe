"""The first URL of a directory-audit listing: only what Graph documents for the resource."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

from connector.graph.directory_audits import (
    DIRECTORY_AUDITS_PATH,
    MAX_PAGE_SIZE,
    AuditQuery,
    whole_second,
)

SINCE = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)
UPTO = datetime(2026, 3, 2, 8, 0, 0, tzinfo=UTC)


def options(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    assert parts.path == DIRECTORY_AUDITS_PATH
    return {key: values[0] for key, values in parse_qs(parts.query).items()}


def test_the_window_uses_ge_and_le_the_only_range_operators_graph_documents() -> None:
    query = options(AuditQuery().url(SINCE, UPTO))
    assert query["$filter"] == ("activityDateTime ge 2026-03-01T08:00:00Z and "
                                "activityDateTime le 2026-03-02T08:00:00Z")
    assert query["$top"] == str(MAX_PAGE_SIZE) == "999"
    assert "$orderby" not in query  # Graph lists newest first by default


def test_ascending_asks_graph_to_order_by_activity_date_time() -> None:
    assert options(AuditQuery(ascending=True).url(SINCE, UPTO))["$orderby"] == \
        "activityDateTime asc"


def test_services_narrow_the_listing_and_quotes_are_escaped() -> None:
    one = options(AuditQuery(services=("Authentication Methods",)).url(SINCE, UPTO))
    assert one["$filter"].endswith(" and loggedByService eq 'Authentication Methods'")
    two = options(AuditQuery(services=("PIM", "O'Brien")).url(SINCE, UPTO))
    assert two["$filter"].endswith(
        " and (loggedByService eq 'PIM' or loggedByService eq 'O''Brien')")


def test_instants_are_sent_in_whole_utc_seconds() -> None:
    local = datetime(2026, 3, 1, 9, 0, 0, 999_999, tzinfo=timezone(timedelta(hours=1)))
    assert whole_second(local) == SINCE
