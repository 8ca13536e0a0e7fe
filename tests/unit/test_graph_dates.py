"""Graph date-time strings as read for checkpoints, cursors and credential end dates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connector.graph.dates import parse_graph_datetime


def test_graph_seven_digit_fractions_and_z_are_read_as_utc() -> None:
    assert parse_graph_datetime("2026-01-02T03:04:05.1234567Z") == datetime(
        2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_a_time_without_a_zone_is_taken_as_utc() -> None:
    assert parse_graph_datetime("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, 17, "", "yesterday", "0001-01-01T00:00:00Z"])
def test_unparsable_values_and_graphs_year_one_never_are_unknown(value: object) -> None:
    assert parse_graph_datetime(value) is None
