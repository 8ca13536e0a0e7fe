"""The sign-in stream through Graph's failures and a SIGKILL: nothing lost, at most one batch twice.

The storm runs in-process on virtual time (`harness.run_sign_ins`); the kill runs the CLI as a
separate process delivering to an intake, killed once a given number of batches were
acknowledged, then run again to the end.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from connector.graph.dates import parse_graph_datetime
from connector.state import StateStore
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.sign_in_truth import assert_sign_ins_match
from tests.faults.harness import (
    kill,
    run_sign_ins,
    run_to_end,
    start_run,
    wait_for_batches,
    write_run_config,
)
from tests.intake_receiver import IntakeReceiver

BATCH = 100
ONLY_SIGN_INS = ("--stream", "sign_ins")


@pytest.fixture(scope="module")
def busy() -> Iterator[SimulatedGraph]:
    """2,000 users and a day of their sign-ins (about 6,000): six full pages."""
    with SimulatedGraph(TenantSpec(seed=61, users=2000, licence="P2"), fault_seed=3) as sim:
        yield sim


def test_a_fault_storm_still_delivers_every_sign_in_exactly_once(busy: SimulatedGraph) -> None:
    faults = busy.faults
    faults.routes = frozenset({"GET /auditLogs/signIns"})
    faults.p_429 = 0.1
    faults.p_429_retry_after = 0.1
    faults.retry_after_seconds = 3
    faults.p_503 = 0.05
    faults.p_504 = 0.05
    faults.p_drop = 0.05
    faults.expired_page_token_on_page = 4
    busy.identity.token_lifetime_seconds = 1
    try:
        outcome = run_sign_ins(busy, batch_size=BATCH)
    finally:
        faults.reset()
        busy.identity.token_lifetime_seconds = 3600

    assert outcome.error is None, outcome.error
    cursor = parse_graph_datetime(outcome.checkpoint["cursor"])
    assert cursor is not None
    assert_sign_ins_match(outcome.events, busy.tenant.sign_ins(since=cursor - timedelta(days=1),
                                                                until=cursor))
    assert outcome.summary.listing_restarts == 1
    assert outcome.client.stats.throttled > 0 and outcome.client.stats.retries > 0


@pytest.mark.slow
@pytest.mark.parametrize(("acknowledged", "later"), [(1, 0.0), (12, 0.02), (33, 0.0),
                                                     (52, 0.05)])
def test_a_sign_in_run_killed_mid_way_then_rerun_loses_none_and_repeats_at_most_one_batch(
        busy: SimulatedGraph, receiver: IntakeReceiver, tmp_path: Path, acknowledged: int,
        later: float) -> None:
    paths = write_run_config(tmp_path, busy, receiver, batch_size=BATCH,
                             sign_ins={"enabled": True, "lookback_days": 1})

    killed = start_run(paths, run_args=ONLY_SIGN_INS)
    wait_for_batches(receiver, acknowledged, killed)
    time.sleep(later)
    kill(killed)
    after_kill = StateStore(paths.state).load("sign_ins")
    rerun = run_to_end(paths, run_args=ONLY_SIGN_INS)

    assert rerun.returncode == 0, rerun.stderr
    assert after_kill is None or after_kill["version"] == 1
    checkpoint = StateStore(paths.state).load("sign_ins")
    assert checkpoint is not None and checkpoint["in_progress"] is None
    cursor = parse_graph_datetime(checkpoint["cursor"])
    assert cursor is not None
    truth = {r["id"] for r in busy.tenant.sign_ins(since=cursor - timedelta(days=1),
                                                   until=cursor)}
    ids = [e["metadata"]["uid"] for e in receiver.events if e["class_uid"] == 3002]
    assert set(ids) == truth
    twice = sum(n - 1 for n in Counter(ids).values())
    assert twice <= BATCH, f"{twice} sign-ins delivered twice"
