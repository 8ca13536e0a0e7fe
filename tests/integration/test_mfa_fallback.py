"""`mfa_fallback` decides who gets per-user MFA lookups when the bulk report cannot answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.streams.users import MFA_FALLBACK_AUTO_LIMIT
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.truth import Known, assert_matches_truth, assert_valid
from tests.faults.harness import collect


@pytest.fixture(scope="module")
def free_sim() -> Iterator[SimulatedGraph]:
    users = MFA_FALLBACK_AUTO_LIMIT + 100  # more than `auto` asks for
    with SimulatedGraph(TenantSpec(seed=23, users=users, licence="free")) as running:
        yield running


def _per_user_method_requests(sim: SimulatedGraph) -> int:
    return sum(c.get("batch_items", 0) + c.get("requests", 0)
               for route, c in sim.counters.snapshot().items()
               if route.endswith("/authentication/methods"))


def test_auto_asks_at_most_its_limit_and_leaves_the_rest_unknown(
        free_sim: SimulatedGraph) -> None:
    outcome = collect(free_sim)
    known = [e for e in outcome.events if "has_mfa" in e["user"]]
    assert len(known) == MFA_FALLBACK_AUTO_LIMIT
    assert_matches_truth(outcome.events, free_sim.tenant.truth(), Known(mfa=None, sign_in=False))


def test_always_asks_every_user_of_a_free_tenant(free_sim: SimulatedGraph) -> None:
    outcome = collect(free_sim, mfa_fallback="always")
    assert_valid(outcome.events)
    assert all("has_mfa" in e["user"] for e in outcome.events)
    assert_matches_truth(outcome.events, free_sim.tenant.truth(), Known(mfa=True, sign_in=False))


def test_never_reports_mfa_unknown_and_asks_no_one(free_sim: SimulatedGraph) -> None:
    free_sim.counters.reset()
    outcome = collect(free_sim, mfa_fallback="never")
    assert_valid(outcome.events)
    assert len(outcome.events) == len(free_sim.tenant.truth())
    assert not any("has_mfa" in e["user"] for e in outcome.events)
    assert _per_user_method_requests(free_sim) == 0
    assert any("mfa_fallback: never" in reason for reason in outcome.summary.degraded.values())
