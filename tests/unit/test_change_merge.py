"""The pure rules of change tracking: a change merged into a remembered user, fingerprints that
say whether an event must be emitted again, membership and role diffs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.ocsf import user_inventory as ocsf
from connector.streams import facts

USER = {"id": "u1", "displayName": "Ann", "accountEnabled": True, "department": None,
        "signInActivity": {"lastSignInDateTime": "2026-11-01T00:00:00Z"},
        "manager": {"id": "m1"}, "@odata.type": "#microsoft.graph.user"}
FACTS = ocsf.UserFacts(groups=(ocsf.Group("g2", "Two"), ocsf.Group("g1", "One")),
                       roles=("Global Reader",), mfa=ocsf.Mfa(True, ("fido2SecurityKey",)),
                       manager={"id": "m1", "displayName": "Boss"},
                       risk=ocsf.Risk("none", None))


def stored() -> dict[str, Any]:
    return facts.make_doc(USER, FACTS, mfa_at="2026-11-01T00:00:00Z")


def test_a_document_gives_back_the_facts_it_was_made_of() -> None:
    back = facts.facts_of(stored())
    assert set(back.groups or ()) == set(FACTS.groups or ())
    assert (back.roles, back.mfa, back.manager, back.risk, back.deleted) == (
        FACTS.roles, FACTS.mfa, {"id": "m1", "displayName": "Boss"}, FACTS.risk, None)


def test_the_remembered_record_drops_nulls_annotations_and_the_expanded_manager() -> None:
    assert stored()["user"] == {"id": "u1", "displayName": "Ann", "accountEnabled": True,
                                "signInActivity": {"lastSignInDateTime": "2026-11-01T00:00:00Z"}}


def test_the_same_record_from_delta_does_not_change_the_fingerprint() -> None:
    delta_record = {k: v for k, v in USER.items() if k not in ("signInActivity", "manager")}
    assert facts.with_changes(stored(), user=delta_record)["fp"] == stored()["fp"]


def test_a_changed_property_changes_the_fingerprint_and_keeps_the_sign_in() -> None:
    after = facts.with_changes(stored(), user={**USER, "accountEnabled": False,
                                               "signInActivity": None})
    assert after["fp"] != stored()["fp"]
    assert after["user"]["accountEnabled"] is False
    assert after["user"]["signInActivity"] == USER["signInActivity"]


def test_bookkeeping_alone_does_not_change_the_fingerprint() -> None:
    assert facts.with_changes(stored(), mfa_at="2026-11-30T00:00:00Z")["fp"] == stored()["fp"]


def test_a_deletion_empties_groups_and_roles_and_a_record_restores_the_user() -> None:
    gone = facts.with_changes(stored(), deleted=facts.deletion("changed", "2026-11-30T01:00:00Z"))
    assert gone["deleted"] == {"kind": "soft", "at": "2026-11-30T01:00:00Z"}
    assert (gone["groups"], gone["roles"]) == ([], [])
    event = ocsf.to_event(gone["user"], facts.facts_of(gone), collected_at_ms=1,
                          tenant_id="t", product=ocsf.EXAMPLE_PRODUCT)
    assert event["user"]["ldap_person"]["deleted_time"] == 1_796_000_400_000
    account = next(e for e in event["enrichments"] if e["name"] == "account")["data"]
    assert (account["is_deleted"], account["deletion"]) == (True, "soft")
    back = facts.with_changes(gone, user=USER)
    assert back["deleted"] is None
    assert "deleted_time" not in ocsf.to_event(
        back["user"], facts.facts_of(back), collected_at_ms=1, tenant_id="t",
        product=ocsf.EXAMPLE_PRODUCT)["user"].get("ldap_person", {})


def test_removed_reason_deleted_is_a_hard_delete() -> None:
    assert facts.deletion("deleted", None) == {"kind": "hard", "at": None}


def test_group_changes_add_remove_and_rename() -> None:
    groups = [["g1", "One"], ["g2", "Two"]]
    assert facts.apply_group_changes(groups, added={"g3": "Three"}, removed=["g1"],
                                     renamed={"g2": "Deux"}) == [["g2", "Deux"], ["g3", "Three"]]
    assert facts.apply_group_changes(None, added={"g3": "Three"}, removed=[], renamed={}) is None


ids = st.sampled_from([f"g{i}" for i in range(8)])


@given(st.sets(ids), st.sets(ids), st.sets(ids))
def test_group_changes_hold_exactly_the_kept_and_added_groups(
        held: set[str], added: set[str], removed: set[str]) -> None:
    out = facts.apply_group_changes([[g, g.upper()] for g in sorted(held)],
                                    added={g: g.upper() for g in added}, removed=removed,
                                    renamed={})
    assert out is not None
    assert [g for g, _ in out] == sorted((held | added) - removed)


roles = st.dictionaries(st.sampled_from(["a", "b", "c", "d"]),
                        st.sets(st.sampled_from(["R1", "R2", "R3"]), min_size=1).map(tuple))


@given(roles, roles)
def test_changed_roles_names_exactly_the_users_whose_roles_differ(
        before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> None:
    changed = facts.changed_roles(before, after)
    for uid in set(before) | set(after):
        differs = sorted(before.get(uid, ())) != sorted(after.get(uid, ()))
        assert (uid in changed) == differs
        if differs:
            assert sorted(changed[uid]) == sorted(after.get(uid, ()))
