"""A run killed (SIGKILL) at any point, then started again, loses nobody and repeats little.

Each case kills `python -m connector run` once the intake has acknowledged a given number of
batches (plus a few milliseconds, so the kill lands in different phases: right after the intake's
acknowledgement, while the checkpoint is written, while Graph is read), then lets a normal run
finish: together they must deliver every user, with at most one batch delivered twice, and the
state file must parse after the kill.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from entrasim import SimulatedGraph
from tests.faults.harness import (
    kill,
    load_state,
    received_ids,
    run_to_end,
    start_run,
    wait_for_batches,
    write_run_config,
)
from tests.intake_receiver import IntakeReceiver

BATCH = 500


@pytest.mark.slow
@pytest.mark.parametrize(("acknowledged", "later"),
                         [(1, 0.0), (3, 0.03), (6, 0.08), (10, 0.0), (15, 0.15)])
def test_a_run_killed_after_some_batches_then_rerun_delivers_everyone_at_most_one_batch_twice(
        fast_10k: SimulatedGraph, receiver: IntakeReceiver, tmp_path: Path,
        acknowledged: int, later: float) -> None:
    paths = write_run_config(tmp_path, fast_10k, receiver, batch_size=BATCH)

    killed = start_run(paths)
    wait_for_batches(receiver, acknowledged, killed)
    time.sleep(later)
    kill(killed)
    state_after_kill = load_state(paths)
    delivered_before_kill = len(receiver.events)

    rerun = run_to_end(paths)

    assert rerun.returncode == 0, rerun.stderr
    assert state_after_kill is None or state_after_kill["version"] == 1
    assert load_state(paths) is not None
    ids = received_ids(receiver)
    assert set(ids) == set(fast_10k.tenant.truth())
    twice = sum(n - 1 for n in Counter(ids).values())
    assert twice <= BATCH, f"{twice} events delivered twice (killed after {delivered_before_kill})"
