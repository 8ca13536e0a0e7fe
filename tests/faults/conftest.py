"""Fixtures of the fault tests: tenants of 10,000 users (the intake `receiver` is shared)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec

# Without AuditLog.Read.All the connector reads neither sign-in activity nor the MFA report, so
# it never meets the reporting endpoints' 5-requests-per-10-s budget: a 10,000-user run through
# the CLI (real time) takes seconds instead of a minute. Delivery and checkpoints are the same.
FAST_PERMISSIONS = DEFAULT_PERMISSIONS - {"AuditLog.Read.All"}


@pytest.fixture(scope="session")
def fast_10k() -> Iterator[SimulatedGraph]:
    """10,000 users, read by the CLI in real time in a few seconds. Tests must not mutate it."""
    with SimulatedGraph(TenantSpec(seed=51, users=10_000, licence="P2",
                                   permissions=FAST_PERMISSIONS)) as sim:
        yield sim
