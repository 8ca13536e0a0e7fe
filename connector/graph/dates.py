"""Graph's date-time strings (`2026-01-01T00:00:00Z`, up to 7 fractional digits) <-> UTC datetimes.

One reader for checkpoints, `createdDateTime` cursors and credential end dates. The OCSF mapping
keeps its own, faster variant that goes straight to epoch milliseconds on the hot path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def parse_graph_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime, or None for anything unparsable or Graph's year-1 "never"."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment.year <= 1:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def format_graph_datetime(moment: datetime) -> str:
    """`2026-01-01T00:00:00Z`: whole seconds in UTC, the form Graph's `$filter` literals,
    checkpoints and cursors use (the one writer; `parse_graph_datetime` reads it back)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
