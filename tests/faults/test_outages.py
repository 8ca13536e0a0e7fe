"""Outages longer than the connector's patience: the run stops, clearly, without losing anyone.

`python -m connector run` in a subprocess (real time, real sockets) against a simulated tenant
and a loopback intake. A run that gives up exits 1 with one clear line and leaves a checkpoint
that covers exactly what was acknowledged, so the next run delivers the rest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from entrasim import SimulatedGraph
from tests.conftest import MakeSim
from tests.faults.conftest import FAST_PERMISSIONS
from tests.faults.harness import (
    Finished,
    Paths,
    finish,
    load_state,
    received_ids,
    run_to_end,
    start_run,
    wait_for_batches,
    wait_until_listening,
    write_run_config,
)
from tests.intake_receiver import IntakeReceiver

BATCH = 200
DEADLINE = 1  # seconds: delivery_deadline_seconds and retry_deadline_seconds


def _small(make_sim: MakeSim) -> SimulatedGraph:
    return make_sim(seed=61, users=2000, licence="P2", permissions=FAST_PERMISSIONS)


def _assert_a_rerun_delivers_the_rest(paths: Paths, receiver: IntakeReceiver,
                                      sim: SimulatedGraph) -> None:
    """A normal run after the failed one: everyone delivered, at most one batch of them twice."""
    rerun = run_to_end(paths)
    assert rerun.returncode == 0, rerun.stderr
    ids = received_ids(receiver)
    assert set(ids) == set(sim.tenant.truth())
    assert sum(n - 1 for n in Counter(ids).values()) <= BATCH


def _break_after_three_batches(paths: Paths, receiver: IntakeReceiver,
                               breakage: Callable[[], None]) -> Finished:
    """A run that meets `breakage` once the intake has acknowledged three batches."""
    running = start_run(paths)
    wait_for_batches(receiver, 3, running)
    breakage()
    return finish(running)


def test_an_intake_down_past_the_delivery_deadline_stops_the_run_and_the_next_delivers_the_rest(
        make_sim: MakeSim, receiver: IntakeReceiver, tmp_path: Path) -> None:
    sim = _small(make_sim)
    paths = write_run_config(tmp_path, sim, receiver, batch_size=BATCH, page_size=100,
                             intake={"delivery_deadline_seconds": DEADLINE})
    failed = _break_after_three_batches(paths, receiver, receiver.go_down)
    receiver.come_back()
    acknowledged = len(receiver.events)

    assert failed.returncode == 1
    assert f"gave up delivering a batch of {BATCH} events to {receiver.url}" in failed.stderr
    assert f"deadline {DEADLINE} s" in failed.stderr
    assert "the next run resumes" in failed.stderr
    assert 3 * BATCH <= acknowledged < len(sim.tenant.truth())

    wait_until_listening(receiver)
    _assert_a_rerun_delivers_the_rest(paths, receiver, sim)


def test_a_failed_delivery_leaves_the_checkpoint_file_exactly_as_it_was(
        make_sim: MakeSim, receiver: IntakeReceiver, tmp_path: Path) -> None:
    sim = _small(make_sim)
    # No per-user MFA fallback: later runs would also emit the users whose MFA they learn.
    paths = write_run_config(tmp_path, sim, receiver, batch_size=BATCH, mfa_fallback="never",
                             intake={"delivery_deadline_seconds": DEADLINE})
    assert run_to_end(paths).returncode == 0
    committed = paths.state.read_bytes()
    new = {sim.tenant.add_user().id for _ in range(5)}

    receiver.go_down()  # until the run gave up, however long it takes to get there
    failed = run_to_end(paths)
    receiver.come_back()
    assert failed.returncode == 1
    assert "gave up delivering a batch of 5 events" in failed.stderr
    assert paths.state.read_bytes() == committed

    wait_until_listening(receiver)
    before = len(receiver.events)
    assert run_to_end(paths).returncode == 0
    assert {e["user"]["uid"] for e in receiver.events[before:]} == new


def test_graph_failing_past_the_retry_deadline_stops_the_run_and_the_next_delivers_the_rest(
        make_sim: MakeSim, receiver: IntakeReceiver, tmp_path: Path) -> None:
    sim = _small(make_sim)
    paths = write_run_config(tmp_path, sim, receiver, batch_size=BATCH, page_size=100,
                             retry_deadline_seconds=DEADLINE)
    # Graph stops answering from the users listing's eighth page on: the outage begins after
    # 700 users were listed (three batches), however far ahead the listing reads.
    sim.faults.unavailable_from_page = 8
    failed = run_to_end(paths)
    sim.faults.reset()
    state = load_state(paths)

    assert failed.returncode == 1
    assert "gave up" in failed.stderr and "503" in failed.stderr
    assert "the next run resumes" in failed.stderr
    assert state is not None and state["in_progress"] is not None
    assert 3 * BATCH <= len(receiver.events) < len(sim.tenant.truth())
    _assert_a_rerun_delivers_the_rest(paths, receiver, sim)


def test_graph_unavailable_from_the_start_fails_in_one_line_and_writes_no_checkpoint(
        make_sim: MakeSim, receiver: IntakeReceiver, tmp_path: Path) -> None:
    sim = _small(make_sim)
    sim.faults.p_503 = 1.0  # every source at once: several fail together
    paths = write_run_config(tmp_path, sim, receiver, retry_deadline_seconds=DEADLINE)
    failed = run_to_end(paths)

    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    assert failed.stderr.rstrip().splitlines()[-1].startswith("error: Graph answered 503")
    assert not paths.state.exists()
    assert receiver.batches == []
