"""Whatever Graph sends in a page of users, the run's join step never crashes and never emits junk.

Hypothesis builds pages of users with missing fields, wrong types, invalid or extreme dates,
huge and non-ASCII strings, unexpected `@odata.type`, duplicate ids and items that are not
objects at all, plus lookups (groups, roles, MFA) for some of those users. The inventory's
per-page step (`PageJoin`: filter, join with the lookups, map to OCSF) must turn every item into
exactly one of: a valid event, a counted and logged skip naming the user id, a filtered-out
user, or a user already delivered; and the checkpoint it leaves must still serialise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.graph.sources import Memberships, MfaTable
from connector.ocsf import user_inventory as ocsf
from connector.streams.users import Lookups, PageJoin, Progress, Summary, make_filter
from connector.validation import EventValidator

VALIDATOR = EventValidator()
PRODUCT = ocsf.Product(name="Entra ID user inventory", vendor_name="Microsoft", version="0.1.0")
STARTED = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

huge = st.sampled_from(["é" * 70_000, "x" * 100_000, "\u202e" * 5_000, "😀" * 20_000])
strings = st.text(max_size=30) | huge | st.sampled_from(["", " ", "\x00", "null", "Unknown"])
ids = st.uuids().map(str) | huge | st.sampled_from(
    ["u-1", "u-2", "ÜSER-ü", "id\nwith newline", " padded ", "null", "N/A", "Unknown"])
dates = st.sampled_from([
    "2026-10-31T23:59:59Z", "2024-02-30T00:00:00Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00", "2026-13-01", "yesterday", "",
    "2026-11-01T08:00:00.1234567Z", "2026-11-01T08:00:00+14:00",
]) | st.datetimes().map(lambda d: d.isoformat())
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | strings
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(strings, inner, max_size=3),
    max_leaves=5,
)


def plausibly(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually a value of the right kind, sometimes null, sometimes anything at all."""
    return st.one_of(good, good, st.none(), anything)


USER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "createdDateTime": plausibly(dates),
    "userType": plausibly(st.sampled_from(["Member", "Guest", "member", "Other"])),
    "userPrincipalName": plausibly(st.emails() | strings),
    "mail": plausibly(st.emails() | strings),
    "accountEnabled": plausibly(st.booleans()),
    "manager": plausibly(st.fixed_dictionaries(
        {}, optional={"id": plausibly(ids), "displayName": plausibly(strings),
                      "userPrincipalName": plausibly(strings)})),
    "signInActivity": plausibly(st.fixed_dictionaries(
        {}, optional={"lastSignInDateTime": plausibly(dates),
                      "lastSuccessfulSignInDateTime": plausibly(dates)})),
    "@odata.type": plausibly(st.sampled_from(["#microsoft.graph.user", "#microsoft.graph.group",
                                              "#microsoft.graph.servicePrincipal", "user"])),
}
for name in ocsf.GRAPH_USER_FIELDS:
    if name != "id":
        USER_FIELDS.setdefault(name, plausibly(strings))

users = st.fixed_dictionaries({"id": plausibly(ids)}, optional=USER_FIELDS)
items = st.one_of(users, users, users, anything)
pages = st.lists(st.lists(items, max_size=8), min_size=1, max_size=3)


@st.composite
def lookups_for(draw: st.DrawFn, page_list: list[list[Any]]) -> tuple[Lookups, MfaTable | None]:
    """Groups, roles and MFA facts for some of the users in the pages (or unknown for all)."""
    known = [i["id"] for page in page_list for i in page
             if isinstance(i, dict) and isinstance(i.get("id"), str)]
    chosen = draw(st.lists(st.sampled_from(known), max_size=4)) if known else []
    memberships: Memberships | None = None
    if draw(st.booleans()):
        memberships = Memberships()
        for uid in chosen:
            memberships.add_member(uid, memberships.add_group(draw(ids), draw(st.none() | strings)))
    roles = {uid: tuple(draw(st.lists(strings, max_size=2))) for uid in chosen} \
        if draw(st.booleans()) else None
    mfa: MfaTable | None = None
    if draw(st.booleans()):
        mfa = MfaTable()
        for uid in chosen:
            mfa.add(uid, draw(st.booleans()), draw(st.lists(strings, max_size=3)))
    return Lookups(memberships=memberships, roles=roles), mfa


@contextmanager
def logged() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.DEBUG)
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(page_list=pages, data=st.data(), include_guests=st.booleans(),
       domains=st.sampled_from([(), ("contoso.com",)]))
def test_any_page_of_users_gives_valid_events_or_counted_named_skips(
        page_list: list[list[Any]], data: st.DataObject, include_guests: bool,
        domains: tuple[str, ...]) -> None:
    lookups, mfa = data.draw(lookups_for(page_list))
    summary = Summary()
    progress = Progress(collected_at_ms=1_790_000_000_000, since=None,
                        overlap=timedelta(minutes=60), started=STARTED)
    join = PageJoin(lookups=lookups, keep=make_filter(include_guests, domains), summary=summary,
                    tenant_uid="00000000-0000-4000-8000-0000000000aa", product=PRODUCT,
                    collected_at_ms=progress.collected_at_ms)
    seen: set[str] = set()
    emitted: list[str] = []
    with logged() as records:
        for page in page_list:
            fresh = join.fresh(page, seen, progress)
            page_ids = [uid for uid, event in join.events(fresh, mfa, seen, progress)
                        if _valid(uid, event)]
            emitted += page_ids
            orjson.dumps(progress.to_json("https://graph.example/v1.0/users?$skiptoken=x",
                                          page_ids))

    listed = sum(len(page) for page in page_list)
    assert summary.users_listed == listed
    assert len(emitted) + len(summary.skipped) + summary.filtered_out \
        + summary.already_delivered == listed
    assert len(emitted) == len(set(emitted)), "a user was emitted twice"
    text = "\n".join(r.getMessage() for r in records)
    for skip in summary.skipped:
        assert skip.reason
        if skip.user_id is not None:
            assert skip.user_id in text, "a skip must be logged naming the user id"


def _valid(uid: str, data: bytes) -> bool:
    event = orjson.loads(data)
    assert event["user"]["uid"] == uid.strip()
    assert VALIDATOR.errors(event) == []
    return True
