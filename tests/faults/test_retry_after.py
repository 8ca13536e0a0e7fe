"""`Retry-After`, read once for Graph and the intake (`connector/backoff.py`)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.backoff import next_wait, parse_retry_after

NOW = 1_000_000.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    (" 1.5 ", 1.5),
    ("200", 200.0),
    ("-3", 0.0),
    ("Mon, 12 Jan 1970 13:46:40 GMT", 0.0),
    ("Mon, 12 Jan 1970 13:47:40 GMT", 60.0),
    ("Mon, 12 Jan 1970 13:47:40 -0000", 60.0),
])
def test_delta_seconds_and_http_dates_become_seconds_from_now(header: str,
                                                                seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "  ", "soon", "inf", "nan", "1e999",
                                    "Mon, 99 Foo 1970"])
def test_an_absent_or_unusable_header_means_no_answer(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@given(st.text(max_size=40))
def test_any_header_gives_a_finite_wait_or_none(header: str) -> None:
    seconds = parse_retry_after(header, now=NOW)
    assert seconds is None or 0.0 <= seconds < float("inf")


def test_a_zero_retry_after_falls_back_to_our_own_backoff() -> None:
    assert next_wait(0.0, 2.5) == 2.5
    assert next_wait(None, 2.5) == 2.5
    assert next_wait(240.0, 2.5) == 240.0
