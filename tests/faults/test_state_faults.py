"""The state store under faults (issue 18): a killed full collection, malformed delta pages,
the fingerprint of a user whose groups come in another order. In-process on virtual time
against small simulated tenants; every outcome is checked against the simulator's truth."""

from __future__ import annotations

import functools
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connector.cli import RunFailed, collect
from connector.config import load_settings
from connector.graph.client import GraphError
from connector.sinks import FileSink
from connector.state import StateStore
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.truth import inventory_problems, latest_per_user
from tests.faults.conftest import FAST_PERMISSIONS
from tests.faults.harness import run_tracked

USERS = 200
BATCH = 40


def _members(sim: SimulatedGraph, count: int, *, skip: int = 0) -> list[str]:
    """Member users who hold no admin role and manage nobody (their deletion changes no one
    else's facts)."""
    admins = sim.tenant.admin_ids()
    managers = {u.manager.id for u in sim.tenant.users() if u.manager is not None}
    ids = [u.id for u in sim.tenant.users() if u.user_type == "Member" and u.id not in admins
           and u.id not in managers]
    return ids[skip:skip + count]


def test_a_full_collection_killed_midway_still_reports_deletions_when_resumed(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=63, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        assert first.error is None, first.error
        soft, hard = _members(sim, 2), _members(sim, 2, skip=2)
        for uid in soft:
            sim.tenant.delete_user(uid)
        for uid in hard:
            sim.tenant.delete_user(uid, permanent=True)

        killed = run_tracked(sim, store, full=True, batch_size=BATCH, stop_after=2)
        resumed = run_tracked(sim, store, batch_size=BATCH)
        truth = sim.tenant.truth(include_deleted=True)

    assert killed.error is None and len(killed.batches) == 2
    assert resumed.error is None, resumed.error
    assert resumed.summary.full_reason == "resuming an interrupted full collection"
    assert resumed.summary.deleted_users == len(soft) + len(hard)
    held = latest_per_user([*first.events, *killed.events, *resumed.events])
    found = inventory_problems(held, truth)
    assert not found, f"{len(found)} problems, first: {found[:10]}"
    assert store.listed_ids() == set()


def test_a_plain_run_right_after_a_full_one_emits_no_unchanged_user(tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=64, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        # Risk updated minutes ago is read again by the next run (the look-behind): these
        # users are re-examined with unchanged facts, several groups each.
        grouped = [u.id for u in sim.tenant.users() if len(u.groups) >= 3][:20]
        for uid in grouped:
            sim.tenant.set_risk(uid, "low")
        full = run_tracked(sim, store, full=True)
        plain = run_tracked(sim, store)

    assert first.error is None and full.error is None and plain.error is None
    assert plain.summary.full_reason is None
    assert len(grouped) == 20
    assert plain.ids == [], f"{len(plain.ids)} unchanged users emitted again"


@pytest.mark.parametrize("kind", ["no_value", "value_not_list"])
@pytest.mark.parametrize("resource", ["users", "groups"])
def test_a_delta_page_without_a_value_list_fails_the_run_and_keeps_the_link(
        tmp_path: Path, kind: str, resource: str) -> None:
    with SimulatedGraph(TenantSpec(seed=65, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        changed = _members(sim, 1)[0]
        group = next(g.id for g in sim.tenant.groups())
        sim.tenant.set_profile(changed, jobTitle="Changed while the page broke")
        sim.tenant.add_to_group(changed, group)
        links = {k: v for k, v in store.cursors().items() if k.endswith("_delta")}
        sim.faults.malformed_delta, sim.faults.malformed_delta_resource = kind, resource
        broken = run_tracked(sim, store)
        links_after_failure = {k: v for k, v in store.cursors().items() if k.endswith("_delta")}
        recovered = run_tracked(sim, store)
        truth = sim.tenant.truth(include_deleted=True)

    assert isinstance(broken.error, GraphError) and "'value' list" in str(broken.error)
    assert links_after_failure == links
    assert recovered.error is None, recovered.error
    assert changed in recovered.ids
    held = latest_per_user([*first.events, *broken.events, *recovered.events])
    found = inventory_problems(held, truth)
    assert not found, f"{len(found)} problems, first: {found[:10]}"


def test_unreadable_delta_items_and_removals_of_unknown_users_are_counted(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=66, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        assert run_tracked(sim, store).error is None
        sim.tenant.set_profile(_members(sim, 1)[0], jobTitle="Changed")
        sim.faults.malformed_delta = "junk_items"
        second = run_tracked(sim, store)

    assert second.error is None, second.error
    assert [s.reason for s in second.summary.skipped] == [
        "a users/delta item is str", "a users/delta item is int"]
    assert second.summary.unknown_removals == 1
    lines = second.summary.lines()
    assert any("removals of users never delivered" in line for line in lines)
    assert any("skipped 2 bad records: a users/delta item is str" in line for line in lines)


class DiskFillsOnThirdCommit(sqlite3.Connection):
    """The disk fills up as the third batch's checkpoint is written."""

    commits = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.startswith("INSERT OR REPLACE INTO checkpoints"):
            type(self).commits += 1
            if type(self).commits == 3:
                raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_a_failed_commit_says_how_many_events_were_committed_not_only_delivered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "connect",
                        functools.partial(sqlite3.connect, factory=DiskFillsOnThirdCommit))
    with SimulatedGraph(TenantSpec(seed=67, users=USERS, licence="P2",
                                   permissions=FAST_PERMISSIONS)) as sim:
        settings = load_settings(sim.connector_config(batch_size=BATCH))
        store = StateStore(tmp_path / "state.db")
        with pytest.raises(RunFailed) as failed:
            collect(settings, store, FileSink(str(tmp_path / "events.ndjson")))
    store.close()

    message = str(failed.value)
    assert f"{3 * BATCH} events delivered, {2 * BATCH} of them committed" in message
    assert "disk is full" in message


def test_a_user_restored_after_their_manager_was_purged_has_no_manager(tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=68, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        report = next(u for u in sim.tenant.users() if u.manager is not None)
        manager = report.manager.id
        sim.tenant.delete_user(report.id)
        sim.tenant.delete_user(manager, permanent=True)
        sim.tenant.restore_user(report.id)
        second = run_tracked(sim, store)
        truth = sim.tenant.truth(include_deleted=True)

    assert second.error is None, second.error
    latest = latest_per_user([*first.events, *second.events])
    assert manager in second.ids and report.id in second.ids
    assert truth[report.id].manager_id is None
    found = inventory_problems(latest, truth)
    assert not found, f"{len(found)} problems, first: {found[:10]}"


def test_a_restored_user_the_store_never_held_comes_with_their_last_sign_in(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=69, users=USERS, licence="P2")) as sim:
        stranger = next(u.id for u in sim.tenant.users() if u.last_sign_in is not None
                        and u.id in _members(sim, USERS))
        sim.tenant.delete_user(stranger)
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        sim.tenant.restore_user(stranger)
        second = run_tracked(sim, store)
        truth = sim.tenant.truth(include_deleted=True)

    assert first.error is None and second.error is None, second.error
    assert stranger not in first.ids and second.ids == [stranger]
    event = second.events[0]
    assert event["user"]["ldap_person"].get("last_login_time") is not None
    found = inventory_problems(latest_per_user([*first.events, *second.events]), truth)
    assert not found, f"{len(found)} problems, first: {found[:10]}"


def test_a_full_collection_whose_listing_restarts_still_reports_deletions(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=65, users=USERS, licence="P2")) as sim:
        store = StateStore(tmp_path / "state.db")
        first = run_tracked(sim, store)
        assert first.error is None, first.error
        soft, hard = _members(sim, 2), _members(sim, 2, skip=2)
        for uid in soft:
            sim.tenant.delete_user(uid)
        for uid in hard:
            sim.tenant.delete_user(uid, permanent=True)
        sim.faults.expired_page_token_on_page = 2
        full = run_tracked(sim, store, full=True, page_size=50)
        sim.faults.reset()
        truth = sim.tenant.truth(include_deleted=True)

    assert full.error is None, full.error
    assert full.summary.listing_restarts >= 1
    assert full.summary.deleted_users == len(soft) + len(hard)
    found = inventory_problems(latest_per_user([*first.events, *full.events]), truth)
    assert not found, f"{len(found)} problems, first: {found[:10]}"
