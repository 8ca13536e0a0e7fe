"""The directory audit stream in process against the simulated tenant over real TLS, waits on
virtual time: a run killed between delivering and committing a batch re-delivers that batch and
nothing else; an expired page token restarts from the resume point; a straggler listed later
than the overlap is delivered once by the deep re-read; a quiet run costs one request; MFA
records ride with their batch as notes for change tracking, and separate schedules of the audit
stream and the inventory hand every MFA change over with one read of the log."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from connector.state import StateStore
from connector.streams import mfa_handoff
from tests.conftest import MakeSim
from tests.faults.harness import run_directory_audits, run_tracked

SMALL_PAGES = {"page_size": 40}


def _history(sim: Any, count: int, hours: float = 1.0) -> set[str]:
    now = datetime.now(UTC)
    sim.tenant.add_audit_history(count, since=now - timedelta(hours=hours),
                                 until=now - timedelta(seconds=5), seed=5)
    with sim.tenant.lock:
        return {r.id for r in sim.tenant.audit.records}


def test_a_run_killed_before_committing_a_batch_redelivers_that_batch_and_nothing_else(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=71, users=200, licence="P2")
    written = _history(sim, 300)
    killed = run_directory_audits(sim, audits=SMALL_PAGES, batch_size=25, stop_after=5)
    assert killed.error is None and len(killed.batches) == 5
    committed = killed.batches[3].checkpoint  # the fifth was delivered, never committed
    resumed = run_directory_audits(sim, committed, audits=SMALL_PAGES, batch_size=25)

    assert resumed.summary.mode == "resumed" and resumed.error is None
    delivered = Counter(killed.ids + resumed.ids)
    assert set(delivered) == written
    unacknowledged = [orjson.loads(e)["metadata"]["uid"] for e in killed.batches[4].events]
    assert sorted(i for i, n in delivered.items() if n > 1) == sorted(unacknowledged)


def test_an_expired_page_token_restarts_the_listing_without_losing_or_repeating(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=72, users=200, licence="P2")
    written = _history(sim, 200)
    sim.faults.expired_page_token_on_page = 3
    outcome = run_directory_audits(sim, audits=SMALL_PAGES)

    assert outcome.error is None and outcome.summary.listing_restarts == 1
    assert Counter(outcome.ids) == Counter(written)


def test_a_straggler_later_than_the_overlap_is_delivered_once_by_the_deep_re_read(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=73, users=200, licence="P2")
    start = datetime.now(UTC).replace(microsecond=0)
    user = sim.tenant.users()[4]
    sim.tenant.audit_lag_listings = 2  # Graph lists it from the third listing on
    sim.tenant.update_user(user.id, jobTitle="Straggler")
    sim.tenant.audit_lag_listings = 0
    straggler = sim.tenant.audit.records[-1]
    settings = {"overlap_minutes": 5, "deep_reread_minutes": 30, "deep_overlap_minutes": 120}
    runs: list[Any] = []
    checkpoint: dict[str, Any] | None = None
    # Runs 10 minutes apart on the run clock; the record happened at the first run's start.
    for i in range(5):
        moment = (start + timedelta(minutes=10 * i, seconds=1)).timestamp()
        outcome = run_directory_audits(sim, checkpoint, audits=settings,
                                       clock=lambda m=moment: m)
        assert outcome.error is None
        runs.append(outcome)
        checkpoint = outcome.checkpoint

    found = [i for i, run in enumerate(runs) if straggler.id in run.ids]
    assert found == [3]  # runs 1 and 2 list it too late for their overlap; run 3 is deep
    assert [run.summary.deep for run in runs[1:]] == [False, False, True, False]
    assert max(Counter(i for run in runs for i in run.ids).values()) == 1


def test_a_quiet_run_costs_one_request(make_sim: MakeSim) -> None:
    sim = make_sim(seed=74, users=200, licence="P2")
    _history(sim, 50)
    first = run_directory_audits(sim)
    quiet = run_directory_audits(sim, first.checkpoint)

    assert quiet.events == [] and quiet.summary.mode == "incremental"
    assert quiet.client.stats.requests == 1


def test_mfa_records_ride_with_their_batch_as_notes_and_the_last_batch_says_how_far(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=75, users=200, licence="P2")
    user = sim.tenant.users()[6]
    sim.tenant.register_method(user.id, "fido2SecurityKey")
    sim.tenant.update_user(user.id, jobTitle="Not an MFA change")
    stale = mfa_handoff.note("old-record", "2020-01-01T00:00:00Z", ["someone"])
    outcome = run_directory_audits(sim, handoff=dict([stale]))

    with_events = [b for b in outcome.batches if b.events]
    notes = {k: v for b in with_events
             for k, v in (b.writes.entities.get(mfa_handoff.KIND, {}) if b.writes else {}).items()}
    record = next(r for r in sim.tenant.audit.records if "security info" in r.activity)
    assert list(notes) == [record.id]
    assert (notes[record.id] or {})["users"] == [user.id]
    last = outcome.batches[-1].writes
    assert last is not None
    assert last.cursors[mfa_handoff.COVERED] == outcome.summary.until
    assert last.entities[mfa_handoff.KIND] == {stale[0]: None}  # past the retention: dropped
    assert outcome.summary.mfa_notes == 1
    factors = [e.get("auth_factors") for e in outcome.events if e["class_uid"] == 3001
               and e["activity_id"] == 10]
    assert factors == [[{"factor_type_id": 10, "factor_type": "WebAuthn"}]]


def test_a_record_without_an_id_is_counted_and_skipped_and_the_run_goes_on(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=76, users=200, licence="P2")
    t = sim.tenant
    t.update_user(t.users()[2].id, jobTitle="Before")
    with t.lock:
        t.audit.records.append(dataclasses.replace(t.audit.records[-1], id=""))
    t.update_user(t.users()[3].id, jobTitle="After")
    outcome = run_directory_audits(sim)

    assert outcome.error is None and outcome.summary.completed
    assert len(outcome.ids) == 2 and outcome.summary.skipped_count == 1
    assert outcome.summary.as_dict()["skipped"] == [
        {"record_id": None, "reason": "no id or no usable activityDateTime"}]


AUDIT_ROUTE = "GET /auditLogs/directoryAudits"


def _audit_requests(sim: Any) -> int:
    return int(sim.counters.snapshot().get(AUDIT_ROUTE, {}).get("requests", 0))


def _without_mfa(sim: Any, n: int) -> list[str]:
    return [uid for uid, u in sorted(sim.tenant.truth().items())
            if not u.has_strong_mfa and u.enabled][:n]


def test_separate_schedules_hand_every_mfa_change_over_and_fall_back_when_the_stream_lags(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=77, users=150, licence="P2")
    store = StateStore(tmp_path / "state.db")
    enabled = {"enabled": True}
    t0 = datetime.now(UTC).timestamp()
    assert run_tracked(sim, store, clock=lambda: t0, directory_audits=enabled).error is None
    run_directory_audits(sim, store=store, clock=lambda: t0 + 60)
    first, second, third = _without_mfa(sim, 3)
    sim.tenant.register_method(first, "microsoftAuthenticatorPush")
    run_directory_audits(sim, store=store, clock=lambda: t0 + 120)
    sim.tenant.register_method(second, "fido2SecurityKey")
    run_directory_audits(sim, store=store, clock=lambda: t0 + 180)
    before = _audit_requests(sim)
    shared = run_tracked(sim, store, clock=lambda: t0 + 240, directory_audits=enabled)

    assert shared.error is None and _audit_requests(sim) == before  # no second read
    assert {first, second} <= set(shared.ids)
    assert store.ids(mfa_handoff.KIND) == set()

    sim.tenant.register_method(third, "microsoftAuthenticatorPush")  # the stream did not run
    lagging = run_tracked(sim, store, clock=lambda: t0 + 300, directory_audits=enabled)

    assert lagging.error is None and _audit_requests(sim) == before + 1  # its own read
    assert third in lagging.ids and first not in lagging.ids
