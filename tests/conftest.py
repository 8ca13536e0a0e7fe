"""Shared fixtures: simulated Entra ID tenants served over real HTTPS on loopback.

- `sim_p2`: one 2,500-user P2 tenant with the default permissions, shared by the session.
  Tests that mutate it or change its faults must undo what they did (or use `make_sim`).
- `make_sim(**spec_fields)`: a fresh tenant for this test, stopped afterwards; keyword
  arguments are `TenantSpec` fields, plus `latency`, `throttling` and `fault_seed`.
- A module's own `sim` fixture, when a test uses it, starts and ends each test without
  injected faults.
- `receiver`: a plain-http intake on 127.0.0.1 that acknowledges every batch unless told
  otherwise (`tests/intake_receiver.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connector.graph.budget import TIME_SCALE_ENV
from entrasim import SimulatedGraph, TenantSpec
from tests.intake_receiver import IntakeReceiver

# The connector's request planner paces Graph's documented limits in real time (per-user MFA
# lookups: 5 per 10 s). Against simulated tenants that do not throttle, the suite shrinks the
# planner's windows 100-fold; a test that switches the simulator's throttling on shrinks its
# windows alike (`sim.throttle.time_scale = TEST_TIME_SCALE`) or builds its own `Throttle`.
TEST_TIME_SCALE = 0.01
os.environ.setdefault(TIME_SCALE_ENV, str(TEST_TIME_SCALE))

MakeSim = Callable[..., SimulatedGraph]


@pytest.fixture(scope="session")
def sim_p2() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=7, users=2500, licence="P2")) as sim:
        yield sim


@pytest.fixture()
def make_sim() -> Iterator[MakeSim]:
    started: list[SimulatedGraph] = []

    def make(*, latency: float = 0.0, throttling: bool = False, fault_seed: int = 0,
             **spec_fields: Any) -> SimulatedGraph:
        spec_fields.setdefault("users", 200)
        sim = SimulatedGraph(TenantSpec(**spec_fields), latency=latency, throttling=throttling,
                             fault_seed=fault_seed).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def receiver() -> Iterator[IntakeReceiver]:
    with IntakeReceiver() as running:
        yield running


@pytest.fixture(autouse=True)
def no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module's shared `sim` starts and ends each test without injected faults."""
    sim = request.getfixturevalue("sim") if "sim" in request.fixturenames else None
    if sim is not None:
        sim.faults.reset()
    yield
    if sim is not None:
        sim.faults.reset()
