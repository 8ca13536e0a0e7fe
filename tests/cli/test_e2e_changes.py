"""Change tracking end to end through the CLI, with one state file across runs.

Story: a first (full) run on a 400-user P2 tenant; then mutations of every kind the simulator
models (profile, enable/disable, manager, group add/remove, group deletion, role grant/removal
direct and through a role-assignable group, MFA registration added/removed, risk, soft delete,
hard delete, restore, new users, late-replicating new users); then a second run. The SIEM keeps
the latest event per `user.uid`: after the second run that event must equal the tenant's ground
truth for every user Graph shows (late users arrive with the third run), deleted users carry
`user.ldap_person.deleted_time` and say soft or hard, and users nothing happened to are not
emitted again. A fourth run with nothing changed emits nothing and costs at most 10 requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from entrasim import SimulatedGraph, TenantSpec
from entrasim.mixed_changes import KINDS, Change
from tests.cli.truth import (
    account_data,
    assert_valid,
    connector,
    inventory_problems,
    latest_per_user,
    load_events,
    write_config,
)


@dataclass
class Run:
    events: list[dict[str, Any]]
    summary: dict[str, Any]
    requests: int
    stderr: str


@dataclass
class Story:
    runs: list[Run]
    changes: list[Change]
    truth_after_second: Mapping[str, Any]
    truth_after_third: Mapping[str, Any]
    late: set[str]


def run_cli(sim: SimulatedGraph, directory: Path, config: Path, n: int, *extra: str) -> Run:
    out, summary = directory / f"out{n}.ndjson", directory / f"summary{n}.json"
    before = graph_requests(sim)
    result = connector("run", "--config", config, "--state", directory / "state.db",
                       "--output", out, "--summary-json", summary, "--no-progress", *extra)
    assert result.returncode == 0, result.stderr
    events = load_events(out) if out.exists() else []
    return Run(events, json.loads(summary.read_text()),
               graph_requests(sim) - before, result.stderr)


def graph_requests(sim: SimulatedGraph) -> int:
    """Requests to Graph (token requests to the identity platform are not Graph's)."""
    return sum(route["requests"] for name, route in sim.counters.snapshot().items()
               if "oauth2" not in name)


def latest(runs: list[Run]) -> dict[str, dict[str, Any]]:
    return latest_per_user(e for run in runs for e in run.events)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    directory = tmp_path_factory.mktemp("changes")
    with SimulatedGraph(TenantSpec(seed=31, users=400, licence="P2")) as sim:
        config = write_config(directory, sim)
        runs = [run_cli(sim, directory, config, 1)]
        changes = sim.tenant.apply_mixed_changes(2 * len(KINDS), seed=8)
        runs.append(run_cli(sim, directory, config, 2))
        after_second = sim.tenant.truth(include_deleted=True)
        runs.append(run_cli(sim, directory, config, 3))
        after_third = sim.tenant.truth(include_deleted=True)
        runs.append(run_cli(sim, directory, config, 4))
        late = {c.object_id for c in changes if c.kind == "new_user_late"}
        yield Story(runs, changes, after_second, after_third, late)


def test_the_mutations_cover_every_kind_the_issue_lists(story: Story) -> None:
    assert {c.kind for c in story.changes} == set(KINDS)


def test_after_the_second_run_the_latest_event_of_every_user_is_the_ground_truth(
        story: Story) -> None:
    found = inventory_problems(latest(story.runs[:2]), story.truth_after_second, skip=story.late)
    assert not found, f"{len(found)} problems, first: {found[:10]}"


def test_every_change_event_validates_against_ocsf(story: Story) -> None:
    assert story.runs[1].events
    assert_valid(story.runs[1].events)


def test_soft_and_hard_deleted_users_carry_the_deletion_marker(story: Story) -> None:
    second = {e["user"]["uid"]: e for e in story.runs[1].events}
    for kind, marker in (("soft_delete", "soft"), ("hard_delete", "hard")):
        for change in (c for c in story.changes if c.kind == kind):
            truth = story.truth_after_second[change.object_id]
            if truth.deleted is None:
                continue  # restored later in the same batch of mutations
            event = second[change.object_id]
            assert account_data(event)["is_deleted"] is True
            assert account_data(event)["deletion"] == truth.deleted
            assert event["user"]["ldap_person"]["deleted_time"] > 0
            if marker == "soft":
                assert truth.deleted == "soft" or truth.deleted == "hard"


def substance(event: Mapping[str, Any]) -> Any:
    """What an event says about its user: collection times, event ids and orders left out."""
    user = dict(event["user"])
    user["groups"] = sorted((g["uid"], g.get("name")) for g in user.get("groups", ()))
    data = [{k: v for k, v in e["data"].items()} for e in event.get("enrichments", ())]
    return user, data


def test_users_nothing_happened_to_are_not_emitted_again(story: Story) -> None:
    before = {e["user"]["uid"]: e for e in story.runs[0].events}
    emitted = [e["user"]["uid"] for e in story.runs[1].events]
    assert len(emitted) == len(set(emitted)), "a user was emitted twice in one run"
    repeated = [e["user"]["uid"] for e in story.runs[1].events
                if e["user"]["uid"] in before
                and substance(e) == substance(before[e["user"]["uid"]])]
    assert repeated == []
    touched = {uid for change in story.changes for uid in change.users}
    # Indirect changes only: a deleted manager leaves their reports without one.
    indirect = set(emitted) - touched
    assert all(story.truth_after_second[uid].manager_id is None for uid in indirect)


def test_the_summary_names_new_changed_and_deleted_users_and_the_sources_read(
        story: Story) -> None:
    summary = story.runs[1].summary
    assert summary["tracking"] == "on"
    assert summary["full_reason"] is None
    assert summary["new_users"] >= 2
    assert summary["changed_users"] >= 10
    assert summary["deleted_users"] >= 2
    for source in ("users/delta", "groups/delta", "role assignments (re-read)"):
        assert source in summary["change_sources"]
    assert summary["cadences"]["full_resync"] is not None
    line = next(x for x in story.runs[1].stderr.splitlines()
                if x.startswith("change sources read: "))
    assert "users/delta" in line and "groups/delta" in line
    first = story.runs[0].summary
    assert first["full_reason"] == "change tracking starts with a full collection"


def test_late_users_arrive_with_the_next_run_and_everything_stays_true(story: Story) -> None:
    assert {e["user"]["uid"] for e in story.runs[2].events} >= story.late
    found = inventory_problems(latest(story.runs[:3]), story.truth_after_third, skip=set())
    assert not found, f"{len(found)} problems, first: {found[:10]}"


def test_a_run_with_no_change_emits_nothing_for_at_most_ten_requests(story: Story) -> None:
    quiet = story.runs[3]
    assert quiet.events == []
    assert quiet.requests <= 10, quiet.summary
