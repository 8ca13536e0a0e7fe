"""The checkpoint's bookkeeping and the record filters, without Graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.streams.users import (
    CHECKPOINT_VERSION,
    Checkpoint,
    Progress,
    SkippedRecord,
    Summary,
    make_filter,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _progress(started: datetime = T0 + 24 * HOUR) -> Progress:
    return Progress(collected_at_ms=1, since=None, overlap=HOUR, started=started)


def test_watermark_is_the_newest_creation_delivered() -> None:
    progress = _progress()
    progress.note_delivered("a", T0 - HOUR)
    progress.note_delivered("b", T0)
    progress.note_delivered("c", None)
    assert progress.watermark() == T0


def test_watermark_never_passes_the_start_of_the_run() -> None:
    progress = _progress(started=T0)
    progress.note_delivered("future", T0 + HOUR)
    assert progress.watermark() == T0


def test_recent_ids_are_those_inside_the_overlap_before_the_watermark() -> None:
    progress = _progress()
    progress.note_delivered("old", T0 - 2 * HOUR)
    progress.note_delivered("edge", T0 - HOUR)
    progress.note_delivered("new", T0)
    assert progress.recent_ids() == ["edge", "new"]


def test_recent_ids_stay_bounded_while_the_watermark_moves() -> None:
    progress = _progress(started=T0 + 10_000 * HOUR)
    for i in range(10_000):
        progress.note_delivered(f"u{i}", T0 + i * HOUR)
    assert len(progress.recent) < 3000
    assert progress.recent_ids() == ["u9998", "u9999"]


def test_progress_survives_a_round_trip_through_the_checkpoint() -> None:
    from connector.streams.users import _restore

    progress = _progress()
    progress.note_delivered("a", T0)
    saved = progress.to_json("/users?$skiptoken=x", ["a"])
    again = _progress()
    _restore(again, saved)
    assert again.max_created == T0 and again.recent == {"a": T0}
    assert saved["resume_url"] == "/users?$skiptoken=x" and saved["skip_ids"] == ["a"]


def test_checkpoint_parse_accepts_its_own_output() -> None:
    raw = Checkpoint("t", T0, frozenset({"a"}), None).to_json(None)
    assert raw == {"version": CHECKPOINT_VERSION, "tenant_id": "t",
                   "watermark": "2026-11-20T10:00:00Z", "recent_ids": ["a"], "in_progress": None}
    parsed = Checkpoint.parse(raw, "T")  # tenant ids compare case-insensitively
    assert parsed.watermark == T0 and parsed.recent_ids == {"a"}


def test_checkpoint_of_another_tenant_or_version_is_ignored() -> None:
    raw = Checkpoint("t", T0).to_json(None)
    assert Checkpoint.parse(raw, "other").watermark is None
    assert Checkpoint.parse({**raw, "version": 99}, "t").watermark is None
    assert Checkpoint.parse(None, "t").watermark is None


def test_checkpoint_without_a_resume_link_has_nothing_in_progress() -> None:
    raw = {**Checkpoint("t", T0).to_json(None), "in_progress": {"resume_url": ""}}
    assert Checkpoint.parse(raw, "t").in_progress is None


def test_filter_drops_guests_when_asked() -> None:
    keep = make_filter(include_guests=False, domains=())
    assert keep({"userType": "Member"})
    assert not keep({"userType": "Guest"})
    assert not keep({})


def test_filter_keeps_users_whose_upn_or_mail_domain_is_listed() -> None:
    keep = make_filter(include_guests=True, domains=("Contoso.com",))
    assert keep({"userPrincipalName": "a@contoso.com"})
    assert keep({"userPrincipalName": "a_x#EXT#@t.onmicrosoft.com", "mail": "a@CONTOSO.com"})
    assert not keep({"userPrincipalName": "a@sub.contoso.com"})
    assert not keep({"userPrincipalName": "a@contoso.com.evil.org"})


def test_summary_names_skipped_users_and_degraded_features() -> None:
    summary = Summary(events=3, users_listed=4, degraded={"mfa": "no licence"})
    summary.skipped.add(SkippedRecord("u-1", "MappingError: bad"), "u-1", "MappingError: bad",
                        "user")
    text = "\n".join(summary.lines())
    assert "skipped 1 bad records: u-1" in text
    assert "not collected: mfa: no licence" in text
    assert summary.as_dict()["skipped"] == [{"user_id": "u-1", "reason": "MappingError: bad"}]


def test_delivery_in_id_order_is_remembered_as_a_single_id() -> None:
    from connector.streams.users import _restore

    first = _progress(started=T0)
    for uid in ("a1", "b2", "c3"):
        first.note_emitted(uid)
    saved = first.to_json("/users?$skiptoken=x", [])
    assert saved["ordered_upto"] == "c3"
    again = _progress(started=T0 + HOUR)
    _restore(again, saved)
    assert again.started == T0  # the interrupted run's start still bounds the watermark
    assert again.delivered_before("b2", T0 - 2 * HOUR)
    assert not again.delivered_before("d4", T0 - 2 * HOUR)  # after what was delivered
    assert not again.delivered_before("b2", T0 - HOUR / 2)  # maybe not replicated back then


def test_delivery_out_of_id_order_remembers_nothing_by_range() -> None:
    progress = _progress()
    for uid in ("b", "a"):
        progress.note_emitted(uid)
    assert progress.to_json("/users", [])["ordered_upto"] is None


def test_a_checkpoint_of_another_version_or_tenant_is_not_used() -> None:
    from connector.streams.base import usable_checkpoint

    good = {"version": 1, "tenant_id": "T"}
    assert usable_checkpoint(good, version=1, tenant_id="t", what="x", instead="y") == good
    assert usable_checkpoint({**good, "version": 2}, version=1, tenant_id="t", what="x",
                             instead="y") is None
    assert usable_checkpoint(good, version=1, tenant_id="other", what="x", instead="y") is None
    assert usable_checkpoint(None, version=1, tenant_id="t", what="x", instead="y") is None


def test_listing_restarts_only_on_an_expired_page_token_and_only_so_often() -> None:
    from connector.graph.client import EXPIRED_PAGE_TOKEN, GraphError
    from connector.streams.base import Restarts

    restarts = Restarts("users", limit=2)
    expired = GraphError(400, EXPIRED_PAGE_TOKEN, "expired")
    assert not restarts.allow(GraphError(400, "BadRequest", "no"))
    assert restarts.allow(expired) and restarts.allow(expired)
    assert not restarts.allow(expired)
    assert restarts.count == 2


def test_skips_count_every_record_and_keep_only_the_first_few() -> None:
    from connector.streams.base import Skips

    skips: Skips[str] = Skips(kept=2)
    for i in range(5):
        skips.add(f"r{i}", f"r{i}", "bad", "thing")
    assert skips.total == 5 and list(skips) == ["r0", "r1"]
    assert skips.shown(list(skips), "things") == "skipped 5 bad things: r0, r1 and 3 more"
