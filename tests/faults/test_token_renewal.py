"""A token refused again later in the same request's retries is renewed again (issue 18: the
storm case of `test_secrets.py` failed whenever the machine was slow enough for a 2-second
token to expire during a retry wait). In-process, waits on virtual time; each wait revokes
every token, so the second refusal lands exactly in the retry, whatever the machine's speed.
The app may only list users: no other request runs meanwhile (one that renewed just before a
revocation would see its fresh token refused, a race no client can tell from a real refusal)."""

from __future__ import annotations

from entrasim import SimulatedGraph, TenantSpec
from tests.faults.harness import ObservedTime, run_collection


def test_a_token_revoked_during_each_retry_wait_is_renewed_each_time() -> None:
    with SimulatedGraph(TenantSpec(seed=71, users=50, licence="P2",
                                   permissions=frozenset({"User.Read.All"}))) as sim:
        waits: list[float] = []

        def revoke_during_the_wait(seconds: float) -> None:
            waits.append(seconds)
            sim.identity.revoke_all()
            if len(waits) == 2:
                sim.faults.p_503 = 0.0

        sim.faults.routes = frozenset({"GET /users"})
        sim.faults.p_503 = 1.0
        outcome = run_collection(sim, time_source=ObservedTime(revoke_during_the_wait))

    assert outcome.error is None, outcome.error
    assert len(waits) == 2
    assert outcome.client.stats.token_renewals >= 2
    assert len(outcome.ids) == 50
