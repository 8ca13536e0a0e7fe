"""The client secret and the intake API key never leave the connector, whatever goes wrong.

Every failure path of the other fault tests is driven with a sentinel client secret and a
sentinel API key, through the CLI with `--debug -v` (the most talkative it gets: debug logs of
every library, tracebacks) and in-process (log records, exception chains as a traceback shows
them). The sentinels must appear in none of: stdout, stderr, log records, events, the state
file, exception text.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from connector.config import load_settings
from connector.errors import ConfigError
from connector.sinks import DeliveryError, HttpIntakeSink
from entrasim import SimulatedGraph, TenantSpec
from tests.faults.conftest import FAST_PERMISSIONS
from tests.faults.harness import (
    Finished,
    Running,
    finish,
    kill,
    run_collection,
    start_run,
    wait_for_batches,
    write_run_config,
)
from tests.intake_receiver import IntakeReceiver

CLIENT_SECRET = "Sentinel0ClientSecret0q8Zr2Lw"
API_KEY = "Sentinel0IntakeApiKey0m4Tt7Yc"
SENTINELS = (CLIENT_SECRET, API_KEY)


def assert_no_sentinel(where: str, text: str | bytes) -> None:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for sentinel in SENTINELS:
        for form in {sentinel, quote(sentinel, safe="")}:
            assert form not in text, f"a secret leaked into {where}"


def exception_text(error: BaseException) -> str:
    """The exception as `--debug` would print it: the whole chain, with every message."""
    return "".join(traceback.format_exception(error)) + repr(error)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    spec = TenantSpec(seed=81, users=300, licence="P2", client_secret=CLIENT_SECRET,
                      permissions=FAST_PERMISSIONS)
    with SimulatedGraph(spec, fault_seed=2) as running:
        yield running


# --- through the CLI --------------------------------------------------------------------------

Scenario = Callable[[SimulatedGraph, IntakeReceiver, Path], Finished]


def _cli(directory: Path, sim: SimulatedGraph, receiver: IntakeReceiver, *,
         during: Callable[[Running], Finished | None] | None = None,
         delivery_deadline: int = 1, **config: Any) -> Finished:
    """A `--debug -v` run with both secrets taken from the environment, as in production."""
    config = {"client_secret": None, "batch_size": 50, "page_size": 50, **config}
    paths = write_run_config(directory, sim, receiver, intake={"delivery_deadline_seconds": delivery_deadline},
                             **config)
    env = {**os.environ, "ENTRA_CLIENT_SECRET": CLIENT_SECRET, "ENTRA_INTAKE_API_KEY": API_KEY}
    running = start_run(paths, "--debug", "-v", env=env)
    ended = during(running) if during is not None else None
    return ended or finish(running)


def storm(sim: SimulatedGraph, receiver: IntakeReceiver, directory: Path) -> Finished:
    sim.faults.routes = frozenset({"GET /users"})  # real waits: keep them few
    sim.faults.p_429 = 0.1
    sim.faults.p_429_retry_after = 0.1
    sim.faults.p_503 = 0.1
    sim.faults.p_drop = 0.03
    sim.faults.expired_page_token_on_page = 3
    receiver.respond(503, retry_after="0")
    receiver.drop_connection()

    def revoke_tokens_mid_run(running: Running) -> None:
        wait_for_batches(receiver, 2, running)
        sim.identity.revoke_all()
        return None

    sim.identity.token_lifetime_seconds = 2  # and tokens expire while the run goes on
    try:
        return _cli(directory, sim, receiver, during=revoke_tokens_mid_run, delivery_deadline=60)
    finally:
        sim.identity.token_lifetime_seconds = sim.spec.token_lifetime_seconds


def intake_refuses_echoing_the_key(sim: SimulatedGraph, receiver: IntakeReceiver,
                                   directory: Path) -> Finished:
    receiver.respond(400, body=f"unknown key {API_KEY}".encode())
    return _cli(directory, sim, receiver)


def intake_down(sim: SimulatedGraph, receiver: IntakeReceiver, directory: Path) -> Finished:
    receiver.go_down()  # down until the run gave up, however slow the machine
    try:
        return _cli(directory, sim, receiver)
    finally:
        receiver.come_back()


def graph_unavailable(sim: SimulatedGraph, receiver: IntakeReceiver, directory: Path) -> Finished:
    sim.faults.p_503 = 1.0
    return _cli(directory, sim, receiver, retry_deadline_seconds=1)


def wrong_secret(sim: SimulatedGraph, receiver: IntakeReceiver, directory: Path) -> Finished:
    return _cli(directory, sim, receiver, client_secret=CLIENT_SECRET + "x")


def secrets_in_the_wrong_keys(sim: SimulatedGraph, receiver: IntakeReceiver,
                              directory: Path) -> Finished:
    return _cli(directory, sim, receiver, client_id=CLIENT_SECRET, tenant_id=API_KEY,
                page_size=CLIENT_SECRET)


def killed_mid_run(sim: SimulatedGraph, receiver: IntakeReceiver, directory: Path) -> Finished:
    def kill_after_two_batches(running: Running) -> Finished:
        wait_for_batches(receiver, 2, running)
        return kill(running)

    return _cli(directory, sim, receiver, during=kill_after_two_batches)


SCENARIOS: dict[str, tuple[Scenario, int]] = {
    "storm": (storm, 0),
    "intake refuses echoing the key": (intake_refuses_echoing_the_key, 1),
    "intake down": (intake_down, 1),
    "graph unavailable": (graph_unavailable, 1),
    "wrong secret": (wrong_secret, 1),
    "secrets in the wrong keys": (secrets_in_the_wrong_keys, 2),
    "killed mid-run": (killed_mid_run, -9),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_secret_reaches_output_events_or_state_through_the_cli(
        sim: SimulatedGraph, receiver: IntakeReceiver, tmp_path: Path, name: str) -> None:
    scenario, expected_exit = SCENARIOS[name]
    result = scenario(sim, receiver, tmp_path)

    assert result.returncode == expected_exit, result.stderr[-2000:]
    assert_no_sentinel("stdout", result.stdout)
    assert_no_sentinel("stderr", result.stderr)
    for file in tmp_path.iterdir():
        if file.name != "config.json":
            assert_no_sentinel(file.name, file.read_bytes())
    for batch in receiver.batches:
        assert_no_sentinel("delivered events", batch.body)


# --- in-process: log records and exception chains ------------------------------------------------

def test_no_secret_reaches_logs_or_errors_of_a_graph_storm_and_give_up(
        sim: SimulatedGraph, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sim.faults.p_429 = 0.1
    sim.faults.p_503 = 0.1
    sim.faults.p_drop = 0.05
    survived = run_collection(sim, batch_size=50, page_size=50,
                              on_batch=lambda n: sim.identity.revoke_all() if n == 2 else None)
    sim.faults.p_503 = 1.0
    failed = run_collection(sim, retry_deadline_seconds=1)

    assert survived.error is None and failed.error is not None
    assert_no_sentinel("the error", exception_text(failed.error))
    for batch in survived.batches:
        assert_no_sentinel("events", b"".join(batch.events))
        assert_no_sentinel("checkpoint", repr(batch.checkpoint))
    assert_no_sentinel("log records", caplog.text)
    assert_no_sentinel("log arguments", repr([r.args for r in caplog.records]))


def test_no_secret_reaches_logs_or_errors_of_a_failing_delivery(
        receiver: IntakeReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.respond(503, times=2)
    receiver.respond(401, body=f"no such key: {API_KEY}".encode())
    sink = HttpIntakeSink(receiver.url, api_key=API_KEY, deadline_seconds=5,
                          backoff_initial=0.01)
    with sink, pytest.raises(DeliveryError) as refused:
        sink.deliver([b'{"a":1}'])

    assert_no_sentinel("the error", exception_text(refused.value))
    assert_no_sentinel("the sink's repr", repr(sink))
    assert_no_sentinel("log records", caplog.text)


def test_no_secret_reaches_a_configuration_error(sim: SimulatedGraph, tmp_path: Path) -> None:
    bad = sim.connector_config(client_id=CLIENT_SECRET, tenant_id=API_KEY, page_size=API_KEY,
                               intake={"url": f"http://{API_KEY}.example", "api_key": 7,
                                       "connector_uuid": API_KEY, "format": "sekoia"})
    with pytest.raises(ConfigError) as rejected:
        load_settings(bad, env={"ENTRA_INTAKE_API_KEY": API_KEY})
    assert_no_sentinel("the configuration error", exception_text(rejected.value))
