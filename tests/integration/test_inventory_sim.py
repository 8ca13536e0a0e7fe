"""One collection cycle in-process against the simulator: checkpoints, resumption, faults, skips."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from connector.ocsf import user_inventory as ocsf
from connector.plugin import EntraIdUserInventory
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from tests.cli.truth import Known, assert_matches_truth, assert_valid
from tests.faults.harness import collect


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=17, users=600, licence="P1"), fault_seed=3) as running:
        yield running


# --- batches and checkpoints -------------------------------------------------------------------

def test_batches_hold_at_most_batch_size_events(sim: SimulatedGraph) -> None:
    outcome = collect(sim, batch_size=150, page_size=200)
    assert [len(b.events) for b in outcome.batches][:-1] == [150] * 4
    assert sorted(outcome.ids) == sorted(sim.tenant.truth())


def test_mid_run_checkpoints_hold_a_resume_point_and_the_last_clears_it(
        sim: SimulatedGraph) -> None:
    outcome = collect(sim, batch_size=150, page_size=200)
    middle = [b.checkpoint for b in outcome.batches[:-1]]
    assert all(c["in_progress"]["resume_url"] for c in middle)
    assert all(c["watermark"] is None for c in middle)  # the old (absent) mark stays until done
    assert outcome.batches[-1].checkpoint["in_progress"] is None
    assert outcome.batches[-1].checkpoint["watermark"] is not None


def test_a_killed_run_resumes_from_its_checkpoint_with_at_most_one_batch_again(
        sim: SimulatedGraph) -> None:
    first = collect(sim, batch_size=150, page_size=200, stop_after=3)
    # Killed after delivering batch 3 but before committing its checkpoint: commit batch 2's.
    resumed = collect(sim, first.batches[1].checkpoint, batch_size=150, page_size=200)
    assert resumed.summary.mode == "resumed"
    union = first.ids + resumed.ids
    assert set(union) == set(sim.tenant.truth())
    assert len(union) - len(set(union)) <= 150


def test_redelivered_events_keep_their_uid(sim: SimulatedGraph) -> None:
    first = collect(sim, batch_size=150, page_size=200, stop_after=3)
    resumed = collect(sim, first.batches[1].checkpoint, batch_size=150, page_size=200)
    before = {e["user"]["uid"]: e["metadata"]["uid"] for e in first.events}
    again = [(e["user"]["uid"], e["metadata"]["uid"]) for e in resumed.events
             if e["user"]["uid"] in before]
    assert again and all(before[user] == uid for user, uid in again)


def test_a_completed_run_followed_by_one_without_changes_emits_nothing(
        sim: SimulatedGraph) -> None:
    done = collect(sim)
    again = collect(sim, done.batches[-1].checkpoint)
    assert again.ids == []
    assert again.summary.mode == "incremental"
    assert again.summary.already_delivered >= 1


def test_a_checkpoint_from_another_tenant_means_a_full_run(sim: SimulatedGraph) -> None:
    done = collect(sim)
    foreign = {**done.batches[-1].checkpoint, "tenant_id": "someone-else.onmicrosoft.com"}
    again = collect(sim, foreign)
    assert again.summary.mode == "full"
    assert len(again.ids) == len(sim.tenant.truth())


# --- faults ------------------------------------------------------------------------------------

def test_an_expired_page_token_restarts_the_listing_without_re_emitting(
        sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.expired_page_token_on_page = 3
    outcome = collect(sim, batch_size=100, page_size=100)
    assert sorted(outcome.ids) == sorted(sim.tenant.truth())
    assert outcome.summary.listing_restarts == 1


def test_an_expired_page_token_in_a_lookup_listing_restarts_that_listing(
        sim: SimulatedGraph) -> None:
    sim.faults.routes = frozenset({"GET /reports/authenticationMethods/userRegistrationDetails"})
    sim.faults.expired_page_token_on_page = 1
    outcome = collect(sim)
    assert_matches_truth(outcome.events, sim.tenant.truth(), Known())


def test_a_throttling_storm_including_batch_items_loses_nobody(sim: SimulatedGraph) -> None:
    sim.faults.p_429 = 0.1
    sim.faults.p_429_retry_after = 0.1
    sim.faults.p_503 = 0.05
    sim.faults.p_drop = 0.02
    outcome = collect(sim, page_size=100)
    sim.faults.reset()
    assert_valid(outcome.events)
    assert_matches_truth(outcome.events, sim.tenant.truth(), Known())
    assert outcome.summary.throttled > 0


def test_a_token_revoked_mid_run_does_not_stop_it(sim: SimulatedGraph) -> None:
    def revoke(count: int) -> None:
        if count == 1:
            sim.identity.revoke_all()

    outcome = collect(sim, batch_size=100, page_size=100, on_batch=revoke)
    assert sorted(outcome.ids) == sorted(sim.tenant.truth())


def test_a_record_that_cannot_be_mapped_is_skipped_counted_and_named(
        sim: SimulatedGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = sorted(sim.tenant.truth())[7]
    real = ocsf.to_event

    def flaky(user: Mapping[str, Any], facts: ocsf.UserFacts, **kwargs: Any) -> dict[str, Any]:
        if user.get("id") == victim:
            raise ocsf.MappingError("cannot map this one")
        return real(user, facts, **kwargs)

    monkeypatch.setattr(ocsf, "to_event", flaky)
    outcome = collect(sim)
    assert victim not in outcome.ids
    assert len(outcome.ids) == len(sim.tenant.truth()) - 1
    assert [(s.user_id, s.reason) for s in outcome.summary.skipped] == [
        (victim, "MappingError: cannot map this one")]


# --- permissions and licences --------------------------------------------------------------------

def test_a_missing_group_permission_leaves_groups_and_group_held_roles_unknown() -> None:
    spec = TenantSpec(seed=19, users=150, licence="P2",
                      permissions=DEFAULT_PERMISSIONS - {"GroupMember.Read.All"})
    with SimulatedGraph(spec) as limited:
        outcome = collect(limited)
        group_listings = limited.counters.snapshot().get("GET /groups", {}).get("requests", 0)
        truth = limited.tenant.truth()
    # Some roles are held through groups whose members cannot be read: nobody is "not admin".
    assert_matches_truth(outcome.events, truth, Known(groups=False, roles=False))
    assert "GroupMember.Read.All" in outcome.summary.degraded["groups"]
    assert "role-assignable groups" in outcome.summary.degraded["roles"]
    assert group_listings == 0


def test_small_incremental_run_uses_the_report_per_user_without_the_methods_permission() -> None:
    spec = TenantSpec(seed=23, users=150, licence="P2",
                      permissions=DEFAULT_PERMISSIONS - {"UserAuthenticationMethod.Read.All"})
    with SimulatedGraph(spec) as limited:
        done = collect(limited)
        new = [limited.tenant.add_user(methods=["windowsHelloForBusiness"]).id,
               limited.tenant.add_user(methods=["email"]).id]
        second = collect(limited, done.batches[-1].checkpoint)
        truth = limited.tenant.truth()
    assert second.summary.strategy == "per-user"
    assert sorted(second.ids) == sorted(new)
    assert_matches_truth(second.events, truth, Known(), expected_ids=new)


def test_the_plugin_runs_synchronously_batch_by_batch() -> None:
    with SimulatedGraph(TenantSpec(seed=29, users=300, licence="free")) as free:
        plugin = EntraIdUserInventory(free.connector_config(batch_size=125, mfa_fallback="never"), None)
        sizes = [len(batch.events) for batch in plugin.batches()]
    assert sizes == [125, 125, 50]
    assert plugin.summary.completed
    assert plugin.summary.events == 300


def test_a_resume_link_that_expired_restarts_the_listing_and_still_covers_everyone(
        sim: SimulatedGraph) -> None:
    first = collect(sim, batch_size=100, page_size=100, stop_after=3)
    checkpoint = first.batches[2].checkpoint
    assert "$skiptoken" in checkpoint["in_progress"]["resume_url"]
    sim.faults.routes = frozenset({"GET /users"})
    sim.faults.expired_page_token_on_page = 3
    resumed = collect(sim, checkpoint, batch_size=100, page_size=100)
    assert resumed.summary.listing_restarts == 1
    assert set(first.ids[:300]) | set(resumed.ids) == set(sim.tenant.truth())
    assert len(resumed.ids) == len(set(resumed.ids))
    # Only the page of the resume point is delivered twice: the listing is in id order, so
    # "delivered up to id X" told the restarted listing what the first process sent.
    assert len(set(first.ids[:300]) & set(resumed.ids)) <= 100


def test_the_plugin_offers_the_same_batches_to_an_async_runtime() -> None:
    with SimulatedGraph(TenantSpec(seed=31, users=120, licence="free")) as free:
        plugin = EntraIdUserInventory(free.connector_config(batch_size=50), None)

        async def consume() -> list[int]:
            return [len(batch.events) async for batch in plugin.abatches()]

        assert asyncio.run(consume()) == [50, 50, 20]
