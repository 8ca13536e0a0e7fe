"""The log window shared by the sign-in and directory audit streams: checkpoints written before
it existed still load and resume, and the pure window arithmetic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.config import load_settings
from connector.plugin import product
from connector.streams.directory_audits import DirectoryAuditCollection
from connector.streams.log_window import (
    Cadence,
    Checkpoint,
    Source,
    open_window,
    record_key,
)
from connector.streams.sign_ins import SignInCollection

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TENANT = "contoso.onmicrosoft.com"
WINDOWING = {"overlap_minutes": 60, "deep_reread_minutes": 180, "deep_overlap_minutes": 720}
SETTINGS = load_settings({"tenant_id": TENANT, "client_id": "00000000-0000-0000-0000-000000000001",
                          "client_secret": "s3cret-value",
                          "sign_ins": {"enabled": True, **WINDOWING},
                          "directory_audits": {"enabled": True, **WINDOWING}})
CADENCE = Cadence.of(SETTINGS.sign_ins)
SOURCE = Source("test", "test records", "createdDateTime")
EPOCH_T0 = int(T0.timestamp())

#: A checkpoint as the streams wrote it before `log_window` (the same format for both), taken
#: in the middle of a deep re-read: the resume point is second 08:40:07, where "b" and "c"
#: were handled; "r" was delivered by the interrupted run, "s" by an earlier one.
MID_RUN = {
    "version": 1, "tenant_id": TENANT, "cursor": "2026-12-07T08:30:00Z",
    "deep_until": "2026-12-07T05:00:00Z",
    "seen": [["s", EPOCH_T0 - 2400]],
    "in_progress": {"since": "2026-12-06T16:30:00Z", "until": "2026-12-07T08:50:00Z",
                    "deep_until": "2026-12-07T08:50:00Z", "low": "2026-12-07T08:40:07Z",
                    "edge_ids": ["b", "c"], "recent": [["r", EPOCH_T0 - 1000]]},
}
#: A completed checkpoint written before the deep re-read existed: no `deep_until`.
BEFORE_DEEP_REREAD = {"version": 1, "tenant_id": TENANT, "cursor": "2026-12-07T08:30:00Z",
                      "seen": [["s", EPOCH_T0 - 2400]], "in_progress": None}


def _sign_ins(checkpoint: dict[str, Any]) -> SignInCollection:
    return SignInCollection(SETTINGS, checkpoint, None,  # type: ignore[arg-type]  # no Graph
                            product=product("test"), clock=lambda: T0.timestamp())


def _audits(checkpoint: dict[str, Any]) -> DirectoryAuditCollection:
    return DirectoryAuditCollection(SETTINGS, checkpoint, None,  # type: ignore[arg-type]
                                    product=product("test"), clock=lambda: T0.timestamp())


def _assert_resumes_mid_run(window: Any, previous: Checkpoint) -> None:
    low = int(datetime(2026, 12, 7, 8, 40, 7, tzinfo=UTC).timestamp())
    assert (window.since, window.until) == (T0 - timedelta(hours=16, minutes=30),
                                            T0 - timedelta(minutes=10))
    assert (window.low, window.edge, window.recent) == (low, {"b", "c"}, {"r": EPOCH_T0 - 1000})
    assert window.resume_bound() == (datetime.fromtimestamp(low + 1, UTC), low)
    assert window.delivered("b", low) and window.delivered("s", 0) and window.delivered("r", 0)
    assert not window.delivered("d", low)
    assert previous.during(window) == MID_RUN  # written back as it was read


def test_an_existing_sign_in_checkpoint_loads_and_resumes_at_its_resume_point() -> None:
    collection = _sign_ins(MID_RUN)
    previous = Checkpoint.parse(MID_RUN, TENANT, what="sign-in")
    window = collection._window(previous)
    assert (collection.summary.mode, collection.summary.deep) == ("resumed", True)
    _assert_resumes_mid_run(window, previous)


def test_an_existing_directory_audit_checkpoint_loads_and_resumes_at_its_resume_point() -> None:
    collection = _audits(MID_RUN)
    previous = Checkpoint.parse(MID_RUN, TENANT, what="directory audit")
    window = asyncio.run(collection._window(previous))
    assert (collection.summary.mode, collection.summary.deep) == ("resumed", True)
    _assert_resumes_mid_run(window, previous)


def test_a_checkpoint_from_before_the_deep_re_read_goes_on_from_its_cursor_in_both_streams(
        ) -> None:
    sign_ins = _sign_ins(BEFORE_DEEP_REREAD)
    audits = _audits(BEFORE_DEEP_REREAD)
    previous = Checkpoint.parse(BEFORE_DEEP_REREAD, TENANT, what="either")
    windows = [sign_ins._window(previous), asyncio.run(audits._window(previous))]
    assert (sign_ins.summary.mode, sign_ins.summary.deep) == ("incremental", False)
    assert (audits.summary.mode, audits.summary.deep) == ("incremental", False)
    for window in windows:
        assert (window.since, window.until) == (T0 - timedelta(minutes=90), T0)
        assert window.deep_until == T0 - timedelta(minutes=30)  # the cursor stands in
        assert window.seen == {"s": EPOCH_T0 - 2400}


def test_a_first_run_reads_the_look_back() -> None:
    opening = open_window(Checkpoint(TENANT), T0, CADENCE, SOURCE)
    assert (opening.mode, opening.deep) == ("first", False)
    assert (opening.window.since, opening.window.until) == (T0 - CADENCE.lookback, T0)
    assert opening.window.deep_until == T0


def test_a_deep_re_read_reaches_back_before_the_previous_one() -> None:
    previous = Checkpoint(TENANT, cursor=T0 - timedelta(minutes=5),
                          deep_until=T0 - timedelta(hours=3))
    opening = open_window(previous, T0, CADENCE, SOURCE)
    assert (opening.mode, opening.deep) == ("incremental", True)
    assert opening.window.since == T0 - timedelta(hours=3) - CADENCE.deep_overlap
    assert opening.window.deep_until == T0


def test_without_a_deep_re_read_only_the_overlap_is_remembered() -> None:
    cadence = Cadence(timedelta(hours=1), timedelta(days=1), timedelta(0), timedelta(hours=12))
    previous = Checkpoint(TENANT, cursor=T0 - timedelta(minutes=5),
                          deep_until=T0 - timedelta(days=2))
    opening = open_window(previous, T0, cadence, SOURCE)
    assert (opening.deep, opening.window.deep_until) == (False, None)
    assert opening.window.keep_from == EPOCH_T0 - 3600


def test_a_record_without_an_id_or_a_usable_time_has_no_key() -> None:
    assert record_key({"id": "a", "createdDateTime": "2026-12-07T09:00:00Z"},
                      "createdDateTime") == ("a", EPOCH_T0)
    assert record_key({"id": "", "createdDateTime": "soon"}, "createdDateTime") == (None, None)
    assert record_key(["not", "a", "record"], "createdDateTime") == (None, None)


@given(st.lists(st.integers(0, 30), min_size=1, max_size=40), st.data())
def test_a_run_resumed_after_any_batch_skips_exactly_what_was_handled(
        gaps: list[int], data: st.DataObject) -> None:
    """Records listed newest first, a crash after the k-th: the resumed listing (bounded by
    the resume point) finds exactly the records not yet handled still to deliver."""
    seconds = [EPOCH_T0 - 60]
    for gap in gaps[1:]:
        seconds.append(seconds[-1] - gap)
    records = [(f"id{n}", s) for n, s in enumerate(seconds)]
    k = data.draw(st.integers(0, len(records)))
    previous = Checkpoint(TENANT, cursor=T0 - timedelta(hours=2))
    first = open_window(previous, T0, CADENCE, SOURCE).window
    for record_id, second in records[:k]:
        assert not first.delivered(record_id, second)
        first.handled(record_id, second)
        first.note_delivered(record_id, second)
    stored = Checkpoint.parse(previous.during(first), TENANT, what="test")
    resumed = open_window(stored, T0 + timedelta(minutes=1), CADENCE, SOURCE)
    assert resumed.mode == "resumed"
    _, ceiling = resumed.window.resume_bound()
    listed = [r for r in records if ceiling is None or r[1] <= ceiling]
    assert [r for r in listed if not resumed.window.delivered(*r)] == records[k:]
