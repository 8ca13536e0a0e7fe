"""The sign-in `$filter` and the keyset walk, property by property, without HTTP: whatever
time range and paging a client uses, it gets exactly the records a brute-force scan selects,
once each, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entrasim import TenantSpec
from entrasim.odata import GraphError
from entrasim.sign_in_filter import parse_filter, parse_orderby
from entrasim.sign_ins import INTERACTIVE, NON_INTERACTIVE, SERVICE_PRINCIPAL, iso_ts
from entrasim.tenant import Tenant

UNTIL = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)
TENANT = Tenant(TenantSpec(seed=21, users=60, sign_ins_per_user_per_day=6, sign_ins_until=UNTIL))
LOG = TENANT.sign_in_log
SINCE = UNTIL - timedelta(hours=6)
ALL = list(LOG.walk([INTERACTIVE], lo=SINCE.timestamp()))
STAMPS = sorted({r.ts for r in ALL})

OPS = {"ge": lambda t, v: t >= v, "gt": lambda t, v: t > v, "le": lambda t, v: t <= v,
       "lt": lambda t, v: t < v, "eq": lambda t, v: t == v}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clauses=st.lists(st.tuples(st.sampled_from(sorted(OPS)), st.sampled_from(STAMPS),
                                  st.sampled_from([-1, 0, 1])), min_size=1, max_size=3),
       page=st.integers(1, 40), ascending=st.booleans())
def test_time_filters_and_paging_select_what_a_scan_selects(
        clauses: list[tuple[str, int, int]], page: int, ascending: bool) -> None:
    text = " and ".join(f"createdDateTime {op} {iso_ts(ts + shift)}" for op, ts, shift in clauses)
    query = parse_filter(f"{text} and createdDateTime ge {iso_ts(int(SINCE.timestamp()))}", beta=False)
    expected = [r.id for r in ALL if all(OPS[op](r.ts, ts + shift) for op, ts, shift in clauses)]
    if ascending:
        expected.reverse()
    got: list[str] = []
    after = None
    while True:
        chunk = []
        for rec in LOG.walk(query.kinds, lo=query.lo, hi=query.hi, after=after, ascending=ascending):
            if query.predicate is None or query.predicate(rec):
                chunk.append(rec)
            if len(chunk) == page:
                break
        got.extend(r.id for r in chunk)
        if len(chunk) < page:
            break
        after = chunk[-1].key
    assert got == expected


def test_event_type_clauses_choose_the_logs_to_read() -> None:
    assert parse_filter(None, beta=True).kinds == (INTERACTIVE,)
    both = parse_filter("signInEventTypes/any(t: t eq 'nonInteractiveUser') or "
                        "signInEventTypes/any(t: t eq 'servicePrincipal')", beta=True)
    assert both.kinds == (NON_INTERACTIVE, SERVICE_PRINCIPAL) and both.predicate is None
    not_interactive = parse_filter("signInEventTypes/any(t: t ne 'interactiveUser')", beta=True)
    assert INTERACTIVE not in not_interactive.kinds and len(not_interactive.kinds) == 3


@pytest.mark.parametrize("text", [
    "createdDateTime ge 2026-11-20T00:00:00Z and",
    "(createdDateTime ge 2026-11-20T00:00:00Z",
    "signInEventTypes/any(t: t eq 'robot')",
    "startswith(userId,'a')",
    "status/errorCode eq 'x'",
])
def test_malformed_filters_are_graph_errors(text: str) -> None:
    with pytest.raises(GraphError) as caught:
        parse_filter(text, beta=True)
    assert caught.value.status == 400


def test_orderby_accepts_created_date_time_only() -> None:
    assert parse_orderby(None) is False
    assert parse_orderby("createdDateTime") is True
    assert parse_orderby("createdDateTime desc") is False
    with pytest.raises(GraphError):
        parse_orderby("createdDateTime sideways")
