"""The fault harness itself: a run started by `start_run` is never held up by the test."""

from __future__ import annotations

from pathlib import Path

from entrasim import SimulatedGraph, TenantSpec
from tests.faults.conftest import FAST_PERMISSIONS
from tests.faults.harness import finish, start_run, wait_for_batches, write_run_config
from tests.intake_receiver import IntakeReceiver


def test_a_talkative_run_is_not_blocked_by_output_nobody_reads_yet(
        tmp_path: Path, receiver: IntakeReceiver) -> None:
    with SimulatedGraph(TenantSpec(seed=72, users=200, licence="P2",
                                   permissions=FAST_PERMISSIONS)) as sim:
        paths = write_run_config(tmp_path, sim, receiver, page_size=5,
                                 intake={"batch_size": 100})
        running = start_run(paths, "--debug", "-v")  # well over 64 KiB of logs per batch
        wait_for_batches(receiver, 2, running, timeout=30)
        done = finish(running)

    assert done.returncode == 0, done.stderr[-2000:]
    assert len(done.stderr) > 2 * 65536
