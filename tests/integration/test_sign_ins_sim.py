"""The sign-in stream against the simulated tenant over real TLS: exactly once, late arrivals,
resume inside a run, expired page tokens, licence and permission refusals, /beta event types,
and the reporting budget shared with the inventory.

Runs are in-process (`tests/faults/harness.run_sign_ins`): the connector's waits are on virtual
time, the window on the wall clock like the simulator's sign-in log.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from typing import Any

import orjson
import pytest

from connector.graph.dates import parse_graph_datetime
from connector.plugin import EntraIdConnector
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from tests.cli.sign_in_truth import assert_sign_ins_match
from tests.conftest import TEST_TIME_SCALE, MakeSim
from tests.faults.harness import SignInOutcome, run_sign_ins

ROUTE = "GET /auditLogs/signIns"


def truth_of(sim: SimulatedGraph, outcome: SignInOutcome, days: int = 1,
             **kwargs: Any) -> list[dict[str, Any]]:
    """What Graph holds for the run's window, `[until - days, until]`."""
    until = parse_graph_datetime(outcome.checkpoint["cursor"])
    assert until is not None
    return sim.tenant.sign_ins(since=until - timedelta(days=days), until=until, **kwargs)


def test_a_first_run_delivers_every_sign_in_of_the_look_back_once_as_in_graph(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=3, users=200, licence="P2")
    outcome = run_sign_ins(sim, sign_ins={"page_size": 100}, batch_size=150)

    assert outcome.error is None, outcome.error
    truth = truth_of(sim, outcome)
    assert len(truth) > 300
    assert_sign_ins_match(outcome.events, truth)
    assert outcome.summary.pages == -(-len(truth) // 100)  # no empty page after the last
    assert outcome.checkpoint["in_progress"] is None
    assert {b.stream for b in outcome.batches} == {"sign_ins"}


def test_the_next_runs_deliver_exactly_the_new_and_the_late_sign_ins(make_sim: MakeSim) -> None:
    sim = make_sim(seed=4, users=200, licence="P2")
    now = sim.tenant.sign_in_now()
    # Happened before the first run but listed by Graph only after it.
    late_before_first = sim.tenant.add_sign_in(created=now - timedelta(minutes=20),
                                               visible_after_listings=1)
    first = run_sign_ins(sim)
    assert late_before_first["id"] not in first.ids

    new = [sim.tenant.add_sign_in() for _ in range(4)]
    # Happened before the second run, listed only after the second run has started.
    late_during_second = sim.tenant.add_sign_in(
        created=sim.tenant.sign_in_now() - timedelta(minutes=5), visible_after_listings=1)
    second = run_sign_ins(sim, first.checkpoint)
    third = run_sign_ins(sim, second.checkpoint)

    assert sorted(second.ids) == sorted([late_before_first["id"], *(s["id"] for s in new)])
    assert third.ids == [late_during_second["id"]]
    assert_sign_ins_match(second.events, [late_before_first, *new])
    everything = first.ids + second.ids + third.ids
    assert max(Counter(everything).values()) == 1
    assert second.summary.already_delivered > 0  # the overlap was re-read, and recognised


def test_a_quiet_incremental_run_spends_one_request_and_delivers_nothing(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=5, users=200, licence="P2")
    first = run_sign_ins(sim)
    sim.counters.reset()
    quiet = run_sign_ins(sim, first.checkpoint)

    assert quiet.events == []
    assert sim.counters.snapshot()[ROUTE]["requests"] == 1
    assert quiet.summary.mode == "incremental"
    # The checkpoint remembers only the ids inside the overlap, not the history.
    kept = {i for i, _ in quiet.checkpoint["seen"]}
    assert kept < set(first.ids)
    assert len(kept) < len(first.ids) / 4


@pytest.mark.parametrize("stop_after", [1, 2, 4, 7])
def test_a_run_cut_after_a_batch_resumes_from_its_checkpoint_losing_nothing(
        make_sim: MakeSim, stop_after: int) -> None:
    sim = make_sim(seed=6, users=200, licence="P2")
    # Sixty sign-ins in one second: batch boundaries fall inside a tie.
    tie = sim.tenant.sign_in_now() - timedelta(hours=3)
    sim.tenant.add_sign_ins(60, since=tie, until=tie)
    config = {"sign_ins": {"page_size": 100}, "batch_size": 25}
    cut = run_sign_ins(sim, stop_after=stop_after, **config)
    # The last batch was delivered but not committed (a kill before the commit).
    committed = cut.batches[stop_after - 2].checkpoint if stop_after > 1 else None
    resumed = run_sign_ins(sim, committed, **config)

    assert resumed.error is None, resumed.error
    assert resumed.summary.mode == ("resumed" if committed else "first")
    delivered = cut.ids + resumed.ids
    truth = truth_of(sim, resumed)
    assert set(delivered) == {r["id"] for r in truth}
    twice = [i for i, n in Counter(delivered).items() if n > 1]
    assert sorted(twice) == sorted(orjson.loads(e)["metadata"]["uid"]
                                   for e in cut.batches[-1].events)


@pytest.mark.parametrize("batch_size", [40, 30, 250])
def test_an_expired_page_token_relists_from_the_resume_point(make_sim: MakeSim,
                                                             batch_size: int) -> None:
    sim = make_sim(seed=8, users=200, licence="P2")
    sim.faults.expired_page_token_on_page = 3
    outcome = run_sign_ins(sim, sign_ins={"page_size": 100}, batch_size=batch_size)

    assert outcome.error is None, outcome.error
    assert outcome.summary.listing_restarts == 1
    assert_sign_ins_match(outcome.events, truth_of(sim, outcome))


def test_a_free_tenant_skips_the_stream_naming_the_licence(make_sim: MakeSim) -> None:
    sim = make_sim(seed=9, licence="free")
    outcome = run_sign_ins(sim)

    assert outcome.error is None and outcome.batches == []
    assert outcome.summary.mode == "skipped"
    assert "P1 or P2 licence" in outcome.summary.degraded["sign_ins"]


def test_an_app_without_audit_log_permission_skips_the_stream_without_asking(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=10, permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All",
                                                               "Directory.Read.All"})
    outcome = run_sign_ins(sim)

    assert outcome.batches == [] and outcome.error is None
    assert "AuditLog.Read.All" in outcome.summary.degraded["sign_ins"]
    assert ROUTE not in sim.counters.snapshot()


def test_beta_event_types_add_non_interactive_sign_ins(make_sim: MakeSim) -> None:
    sim = make_sim(seed=11, users=100, licence="P2")
    types = ["interactiveUser", "nonInteractiveUser"]
    outcome = run_sign_ins(sim, sign_ins={"event_types": types})

    assert outcome.error is None, outcome.error
    truth = truth_of(sim, outcome, event_types=types, version="beta")
    assert sorted(outcome.ids) == sorted(r["id"] for r in truth)
    kinds = Counter(e["unmapped"]["signInEventTypes"][0] for e in outcome.events)
    assert set(kinds) == set(types)
    assert "GET /beta/auditLogs/signIns" in sim.counters.snapshot()
    assert ROUTE not in sim.counters.snapshot()


@pytest.mark.slow
def test_both_streams_share_the_reporting_budget_without_a_429_and_neither_starves(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=12, users=200, licence="P2", throttling=True)
    sim.throttle.time_scale = TEST_TIME_SCALE  # the connector's planner runs on this scale too
    config = sim.connector_config(batch_size=40, sign_ins={"enabled": True, "lookback_days": 1,
                                                           "page_size": 100})
    connector = EntraIdConnector(config)
    batches = list(connector.batches())

    order = [b.stream for b in batches if b.events]
    # Neither starves: both complete. Their order is the planner's (the sign-in log goes first
    # on the reports budget, connector.graph.budget), not a turn-taking this test could see.
    assert set(order) == {"users", "sign_ins"}
    totals = sim.counters.totals()
    assert totals["throttled"] == 0
    users = [orjson.loads(e) for b in batches if b.stream == "users" for e in b.events]
    assert {e["user"]["uid"] for e in users} == set(sim.tenant.truth())
    sign_ins = [orjson.loads(e) for b in batches if b.stream == "sign_ins" for e in b.events]
    final = next(b.checkpoint for b in reversed(batches) if b.stream == "sign_ins")
    cursor = parse_graph_datetime(final["cursor"])
    assert cursor is not None
    assert_sign_ins_match(sign_ins, sim.tenant.sign_ins(since=cursor - timedelta(days=1),
                                                        until=cursor))


def test_a_consumer_that_stops_after_one_batch_ends_both_streams_at_once(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=13, users=200, licence="P2")
    config = sim.connector_config(batch_size=20, sign_ins={"enabled": True, "lookback_days": 1})
    connector = EntraIdConnector(config)
    stream = connector.batches()
    first = next(stream)
    started = time.monotonic()
    stream.close()  # what a failed delivery does to the CLI's loop

    assert first.events
    assert time.monotonic() - started < 5
    assert connector.failures == {}
