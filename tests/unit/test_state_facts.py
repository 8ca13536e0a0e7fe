"""The SQLite state store: earlier JSON state converted, a batch's facts committed with its
checkpoint or not at all, and the indexes change tracking reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from connector.ocsf import user_inventory as ocsf
from connector.state import StateError, StateStore
from connector.streams import facts
from connector.streams.batch import Batch, StoreWrites

CHECKPOINT = {"version": 1, "tenant_id": "t", "watermark": "2026-11-20T10:00:00Z",
              "recent_ids": [], "in_progress": None}


def doc(uid: str, *, groups: Sequence[tuple[str, str]] = (), roles: tuple[str, ...] = (),
        mfa: bool | None = True, mfa_at: str = "2026-11-01T00:00:00Z",
        deleted: ocsf.Deletion | None = None) -> dict[str, Any]:
    return facts.make_doc(
        {"id": uid, "displayName": uid.upper()},
        ocsf.UserFacts(groups=tuple(ocsf.Group(g, n) for g, n in groups), roles=roles,
                       mfa=ocsf.Mfa(mfa, ()) if mfa is not None else None, deleted=deleted),
        mfa_at=mfa_at)


@pytest.mark.parametrize("legacy", [{"streams": {"users": CHECKPOINT, "sign_ins": {"n": 3}}},
                                    CHECKPOINT], ids=["streams", "bare-users-checkpoint"])
def test_a_json_state_file_of_an_earlier_version_is_converted_not_dropped(
        tmp_path: Path, legacy: dict[str, Any]) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(legacy))
    store = StateStore(path)
    assert store.load("users") == CHECKPOINT
    if "streams" in legacy:
        assert store.load("sign_ins") == {"n": 3}
    assert store.migrated_from is not None
    assert json.loads(store.migrated_from.read_text()) == legacy
    assert path.read_bytes().startswith(b"SQLite format 3")
    assert StateStore(path).load("users") == CHECKPOINT


def test_commit_writes_checkpoint_documents_and_cursors_together(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    writes = StoreWrites(users={"a": doc("a", groups=[("g1", "One")], roles=("Global Reader",))},
                         cursors={"users_delta": "https://graph/delta?$deltatoken=1"})
    store.commit(Batch([b"{}"], CHECKPOINT, writes=writes))
    again = StateStore(tmp_path / "state.db")
    assert again.load() == CHECKPOINT
    assert again.user_docs(["a", "b"]) == {"a": writes.users["a"]}
    assert again.cursors() == {"users_delta": "https://graph/delta?$deltatoken=1"}
    assert again.members_of(["g1"]) == {"g1": ["a"]}
    assert again.group_names(["g1"]) == {"g1": "One"}
    assert again.admins() == {"a": ("Global Reader",)}


def test_a_commit_that_fails_leaves_the_previous_state_whole(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.commit(Batch([], CHECKPOINT, writes=StoreWrites(users={"a": doc("a")})))
    bad = StoreWrites(users={"b": doc("b")}, cursors={"c": "x"})
    with pytest.raises(StateError):
        store.commit(Batch([], {"n": object()}, writes=bad))
    assert store.load() == CHECKPOINT
    assert set(store.user_docs(["a", "b"])) == {"a"}
    assert store.cursors() == {}


def test_rewriting_a_user_replaces_their_memberships_and_roles(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.commit(Batch([], {}, writes=StoreWrites(users={
        "a": doc("a", groups=[("g1", "One"), ("g2", "Two")], roles=("Global Administrator",))})))
    store.commit(Batch([], {}, writes=StoreWrites(users={
        "a": doc("a", groups=[("g2", "Two")])})))
    assert store.members_of(["g1", "g2"]) == {"g2": ["a"]}
    assert store.admins() == {}


def test_mfa_candidates_are_the_longest_unknown_first_then_the_stalest(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    store.commit(Batch([], {}, writes=StoreWrites(users={
        "known-old": doc("known-old", mfa=True, mfa_at="2026-01-01T00:00:00Z"),
        "known-new": doc("known-new", mfa=False, mfa_at="2026-11-29T00:00:00Z"),
        "unknown-late": doc("unknown-late", mfa=None, mfa_at="2026-11-20T00:00:00Z"),
        "unknown-early": doc("unknown-early", mfa=None, mfa_at="2026-11-10T00:00:00Z"),
        "gone": doc("gone", mfa=None, mfa_at="2026-01-01T00:00:00Z",
                    deleted=ocsf.Deletion("hard")),
    })))
    assert store.mfa_candidates(10, "2026-06-01T00:00:00Z") == [
        "unknown-early", "unknown-late", "known-old"]
    assert store.mfa_candidates(1, "2026-06-01T00:00:00Z") == ["unknown-early"]
    assert store.counts() == {"users": 5, "deleted": 1, "mfa_unknown": 2}


def test_the_fingerprint_does_not_depend_on_the_order_of_groups_roles_or_methods() -> None:
    base = {"user": {"id": "u1"}, "groups": [["g2", "Two"], ["g1", "One"]],
            "roles": ["b", "a"], "mfa": {"registered": True, "methods": ["sms", "fido2"]}}
    other = {"user": {"id": "u1"}, "groups": [["g1", "One"], ["g2", "Two"]],
             "roles": ["a", "b"], "mfa": {"registered": True, "methods": ["fido2", "sms"]}}
    assert facts.fingerprint(base) == facts.fingerprint(other)


def test_the_fingerprint_still_tells_different_groups_apart() -> None:
    assert facts.fingerprint({"groups": [["g1", "One"]]}) != \
        facts.fingerprint({"groups": [["g1", "Renamed"]]})
