"""Whole collections through Graph's failures: throttling, outages, expiring tokens and links.

Runs are in-process against the simulated tenant over real TLS; only the connector's waits are
on virtual time (`tests/faults/harness.py`), so a 200 s Retry-After costs nothing to test.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from connector.graph.client import GraphUnavailable
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.truth import Known, assert_matches_truth, assert_valid
from tests.cli.virtual_time import EventTime
from tests.faults.harness import ObservedTime, run_collection


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=71, users=600, licence="P2"), fault_seed=5) as running:
        yield running


@pytest.mark.slow
def test_ten_thousand_users_through_a_fault_storm_arrive_exactly_once_and_valid() -> None:
    with SimulatedGraph(TenantSpec(seed=5, users=10_000, licence="P2"), fault_seed=1) as storm:
        faults = storm.faults
        faults.p_429 = 0.10 / 3  # a third of the 429s carry no Retry-After
        faults.p_429_retry_after = 0.20 / 3
        faults.retry_after_seconds = 1
        faults.p_503 = 0.02
        faults.p_drop = 0.01
        faults.expired_page_token_on_page = 15  # only the users listing has 15 pages
        storm.identity.token_lifetime_seconds = 2  # expires mid-run (the run takes longer)
        outcome = run_collection(storm)
        truth = storm.tenant.truth()
        tokens = storm.identity.tokens_issued

    assert outcome.error is None, outcome.error
    ids = Counter(outcome.ids)
    assert set(ids) == set(truth)
    assert max(ids.values()) == 1, "a user was delivered twice"
    assert_valid(outcome.events)
    assert outcome.summary.throttled > 0
    assert outcome.summary.listing_restarts == 1
    assert tokens >= 2


def test_a_retry_after_of_200_seconds_is_waited_out_not_given_up(sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.p_429_retry_after = 1.0
    sim.faults.retry_after_seconds = 200

    def throttled_until_waited(seconds: float) -> None:
        if seconds >= 200:
            sim.faults.p_429_retry_after = 0.0

    waits = ObservedTime(throttled_until_waited)
    outcome = run_collection(sim, time_source=waits, retry_deadline_seconds=900)

    assert outcome.error is None, outcome.error
    assert sorted(outcome.ids) == sorted(sim.tenant.truth())
    assert max(waits.slept) >= 200


def test_a_retry_after_beyond_the_retry_deadline_fails_at_once_naming_both(
        sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.p_429_retry_after = 1.0
    sim.faults.retry_after_seconds = 200
    waits = EventTime()
    outcome = run_collection(sim, time_source=waits, retry_deadline_seconds=100)

    assert isinstance(outcome.error, GraphUnavailable)
    message = str(outcome.error)
    assert "wait 200 s (Retry-After)" in message
    assert "100 s retry deadline (retry_deadline_seconds)" in message
    assert outcome.batches == []
    assert sum(waits.slept) < 100


def test_a_throttling_storm_is_given_up_after_the_retry_deadline_not_before(
        sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.p_429 = 1.0  # no Retry-After: the connector's own backoff decides

    def runaway(_: float) -> None:
        if waits.now > 3_000:
            raise AssertionError("still retrying after ten times the retry deadline")

    waits = ObservedTime(runaway)
    outcome = run_collection(sim, time_source=waits, retry_deadline_seconds=300)

    assert isinstance(outcome.error, GraphUnavailable), outcome.error
    assert "429" in str(outcome.error)
    assert outcome.batches == []
    assert 240 <= waits.now <= 300


@pytest.mark.parametrize("fault", ["p_500", "p_503", "p_504", "p_drop"])
def test_server_errors_and_dropped_connections_cost_nobody(sim: SimulatedGraph,
                                                           fault: str) -> None:
    setattr(sim.faults, fault, 0.15)
    outcome = run_collection(sim, page_size=100)

    assert outcome.error is None, outcome.error
    assert outcome.summary.retries > 0
    assert_matches_truth(outcome.events, sim.tenant.truth(), Known())


def test_throttled_batch_items_are_retried_and_their_facts_kept(sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /groups/{id}/members",
                                   "GET /users/{id}/authentication/methods"})
    sim.faults.p_429 = 0.3
    sim.faults.p_429_retry_after = 0.2
    outcome = run_collection(sim)

    assert outcome.error is None, outcome.error
    throttled_items = sum(c["throttled"] for route, c in sim.counters.snapshot().items()
                          if route in sim.faults.routes)
    assert throttled_items > 0
    assert_matches_truth(outcome.events, sim.tenant.truth(), Known())


def test_a_token_that_expires_between_batches_is_replaced(sim: SimulatedGraph) -> None:
    sim.identity.token_lifetime_seconds = 1
    issued = sim.identity.tokens_issued
    try:
        outcome = run_collection(sim, batch_size=100, page_size=100,
                                 on_batch=lambda n: time.sleep(1.1) if n == 2 else None)
    finally:
        sim.identity.token_lifetime_seconds = sim.spec.token_lifetime_seconds
    assert outcome.error is None, outcome.error
    assert sorted(outcome.ids) == sorted(sim.tenant.truth())
    assert sim.identity.tokens_issued - issued >= 2


def test_a_resumed_run_whose_resume_link_expired_still_delivers_everyone(
        sim: SimulatedGraph) -> None:
    first = run_collection(sim, batch_size=100, page_size=100,
                           on_batch=lambda n: _stop() if n == 3 else None)
    assert isinstance(first.error, _Stopped)
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.expired_page_token_on_page = 3  # the stored resume link (page 3)
    resumed = run_collection(sim, first.batches[-1].checkpoint, batch_size=100, page_size=100)

    assert resumed.error is None, resumed.error
    assert resumed.summary.listing_restarts == 1
    assert set(first.ids) | set(resumed.ids) == set(sim.tenant.truth())
    assert len(first.ids) + len(resumed.ids) - len(sim.tenant.truth()) <= 100


class _Stopped(Exception):
    """Ends a run between two batches, as a kill would."""


def _stop() -> None:
    raise _Stopped
