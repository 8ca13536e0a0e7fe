"""The pure parts of the workload identities stream: the summary's expiry and high-impact counts
over the stored inventory, and the fingerprint that decides whether a re-read is emitted."""

from __future__ import annotations

from connector.ocsf import workload_identity as wi
from connector.streams.workloads import DAY_MS, WorkloadSummary, fingerprint, inventory_counts

NOW = 1_767_225_600_000


def test_counts_split_expired_30_and_90_days_and_sum_high_impact_grants() -> None:
    known = {
        "a": {"ends": [NOW - 1, NOW + 10 * DAY_MS, NOW + 60 * DAY_MS, NOW + 400 * DAY_MS], "high": 2},
        "b": {"ends": [NOW + 29 * DAY_MS], "high": 0},
        "c": {"ends": [], "high": 1},
    }
    assert inventory_counts(known, NOW) == (1, 2, 3, 3)


def test_an_entry_without_credentials_counts_nothing() -> None:
    assert inventory_counts({"x": {}}, NOW) == (0, 0, 0, 0)


def test_the_fingerprint_changes_with_a_fact_and_not_with_key_order() -> None:
    sp = {"id": "1", "appId": "2", "accountEnabled": True}
    facts = wi.WorkloadFacts(roster=wi.Roster(1, 0))
    assert fingerprint(sp, facts) == fingerprint(dict(reversed(list(sp.items()))), facts)
    assert fingerprint(sp, facts) != fingerprint(sp, wi.WorkloadFacts(roster=wi.Roster(2, 0)))
    assert fingerprint(sp, facts) != fingerprint({**sp, "accountEnabled": False}, facts)


def test_a_skipped_stream_says_why_in_one_line_per_reason() -> None:
    summary = WorkloadSummary(mode="skipped", degraded={"workload_identities": "no permission"})
    assert summary.lines() == ["workload identities not collected: no permission"]
    assert summary.as_dict()["mode"] == "skipped"
