"""Identity Protection's list, diffed: what `RiskTable.changes_since` reports, and the store's
copy of a list read back unchanged."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.graph.sources import NO_RISK, RiskFacts, RiskTable

LEVELS = st.sampled_from(["none", "low", "medium", "high", None])
STATES = st.sampled_from(["atRisk", "dismissed", "remediated", "confirmedCompromised", None])
FACTS = st.builds(RiskFacts, LEVELS, STATES, st.one_of(st.none(), st.just("2026-11-30T12:00:00Z")))
TABLES = st.dictionaries(st.sampled_from([f"u{i}" for i in range(12)]), FACTS).map(RiskTable)


def test_a_user_whose_risk_moved_is_reported_with_the_new_facts() -> None:
    before = RiskTable({"a": RiskFacts("high", "atRisk"), "b": RiskFacts("low", "atRisk")})
    after = RiskTable({"a": RiskFacts("none", "dismissed"), "b": RiskFacts("low", "atRisk")})
    assert after.changes_since(before).by_user == {"a": RiskFacts("none", "dismissed")}


def test_a_user_no_longer_listed_is_back_to_no_risk() -> None:
    before = RiskTable({"gone": RiskFacts("medium", "atRisk")})
    assert RiskTable().changes_since(before).by_user == {"gone": NO_RISK}


def test_without_a_previous_list_every_listed_user_is_a_candidate() -> None:
    now = RiskTable({"a": RiskFacts("high", "atRisk")})
    assert now.changes_since(None).by_user == now.by_user


def test_an_unreadable_stored_list_is_unknown_not_empty() -> None:
    assert RiskTable.from_json(None) is None
    assert RiskTable.from_json("not json") is None
    assert RiskTable.from_json("[1, 2]") is None


@given(TABLES)
def test_the_stored_copy_reads_back_as_the_same_list(table: RiskTable) -> None:
    assert RiskTable.from_json(table.to_json()) == table


@given(TABLES, TABLES)
def test_applying_the_changes_to_the_previous_list_gives_the_current_one(
        before: RiskTable, after: RiskTable) -> None:
    changes = after.changes_since(before)
    merged = {**before.by_user, **changes.by_user}
    # Users the list dropped come back as NO_RISK, exactly what `get` answers for them now.
    assert {uid: after.get(uid) for uid in merged} == merged
    assert all(before.get(uid) != facts for uid, facts in changes.by_user.items()
               if uid in before.by_user)
