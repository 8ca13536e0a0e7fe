"""Change tracking under Graph's failures and a killed process: nothing lost, little repeated.

- A fault storm (429s with and without Retry-After, 503s, dropped connections, a token that
  expires mid-run) during the run that reads the changes: the latest event of every user still
  equals the ground truth (in-process, waits on virtual time).
- SIGKILL of `python -m connector run` right after the intake acknowledged a batch of change
  events, before (or while) the state is committed: the next run delivers whatever was missing,
  and at most one batch is delivered twice.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from connector.state import StateStore
from entrasim import SimulatedGraph, TenantSpec
from entrasim.mixed_changes import KINDS
from tests.cli.truth import assert_valid, inventory_problems, latest_per_user
from tests.faults.harness import (
    kill,
    run_to_end,
    run_tracked,
    start_run,
    wait_for_batches,
    write_run_config,
)
from tests.intake_receiver import IntakeReceiver


def test_changes_read_through_a_fault_storm_leave_every_user_true(tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=61, users=600, licence="P2"), fault_seed=3) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        assert first.error is None, first.error
        changes = sim.tenant.apply_mixed_changes(2 * len(KINDS), seed=12)
        late = {c.object_id for c in changes if c.kind == "new_user_late"}
        faults = sim.faults
        faults.p_429 = 0.10 / 3
        faults.p_429_retry_after = 0.20 / 3
        faults.retry_after_seconds = 30
        faults.p_503 = 0.05
        faults.p_drop = 0.03
        sim.identity.token_lifetime_seconds = 1
        second = run_tracked(sim, store, batch_size=25)
        faults.reset()
        truth = sim.tenant.truth(include_deleted=True)

    assert second.error is None, second.error
    assert second.summary.throttled > 0 and second.summary.retries > 0
    assert second.summary.full_reason is None
    assert_valid(second.events)
    ids = Counter(second.ids)
    assert max(ids.values()) == 1, "a user was emitted twice in one run"
    found = inventory_problems(latest_per_user([*first.events, *second.events]), truth,
                               skip=late)
    assert not found, f"{len(found)} problems, first: {found[:10]}"


BATCH = 20


@pytest.mark.parametrize("later", [0.0, 0.004, 0.03])
def test_a_run_killed_between_delivering_change_events_and_committing_loses_nothing(
        tmp_path: Path, receiver: IntakeReceiver, later: float) -> None:
    with SimulatedGraph(TenantSpec(seed=62, users=300, licence="P2")) as sim:
        paths = write_run_config(tmp_path, sim, receiver, batch_size=BATCH,
                                 intake={"batch_size": BATCH})
        paths = type(paths)(paths.config, tmp_path / "state.db")
        first = run_to_end(paths)
        assert first.returncode == 0, first.stderr
        first_events = len(receiver.events)
        before = len(receiver.batches)
        changes = sim.tenant.apply_mixed_changes(3 * len(KINDS), seed=13)
        late = {c.object_id for c in changes if c.kind == "new_user_late"}

        killed = start_run(paths)
        wait_for_batches(receiver, before + 3, killed)  # new users, then change events
        time.sleep(later)
        kill(killed)
        delivered_before_kill = len(receiver.events)
        rerun = run_to_end(paths)
        truth = sim.tenant.truth(include_deleted=True)

    assert rerun.returncode == 0, rerun.stderr
    second_round = receiver.events[first_events:]
    found = inventory_problems(latest_per_user(receiver.events), truth, skip=late)
    assert not found, f"{len(found)} problems, first: {found[:10]}"
    twice = sum(n - 1 for n in Counter(e["user"]["uid"] for e in second_round).values())
    assert twice <= BATCH, f"{twice} events delivered twice (killed after " \
                           f"{delivered_before_kill})"
