"""Incremental runs through the CLI: the second run emits exactly the users that are new to it.

Timeline (T0 = two hours ago):
- before run 1: D created at T0 (visible), C created at T0 - 10 min but not replicated yet
  (hidden from the first listing);
- run 1 (full) delivers everyone visible, D included; its watermark is T0;
- between runs: A created now, B created at T0 - 20 min (it replicated late);
- run 2 (incremental, overlap 60 min) must emit exactly A, B and C - not D again;
- run 3 with no change emits nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from connector.state import StateStore
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.truth import Known, assert_matches_truth, assert_valid, connector, write_config


@dataclass
class Runs:
    sim: SimulatedGraph
    ids: dict[str, str]  # A, B, C, D -> user id
    events: list[list[dict[str, Any]]]
    states: list[dict[str, Any]]
    stderr: list[str]
    requests: list[int]


def _run(sim: SimulatedGraph, config: Path, state: Path, out: Path) -> tuple[
        list[dict[str, Any]], dict[str, Any], str, int]:
    out.unlink(missing_ok=True)
    before = sim.counters.totals()["requests"]
    result = connector("run", "--config", config, "--state", state, "--output", out)
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return (events, StateStore(state).load() or {}, result.stderr,
            sim.counters.totals()["requests"] - before)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    directory = tmp_path_factory.mktemp("incremental")
    with SimulatedGraph(TenantSpec(seed=21, users=300, licence="P2")) as sim:
        tenant = sim.tenant
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        ids = {
            "D": tenant.add_user(display_name="Dora Delivered", created=t0).id,
            "C": tenant.add_user(display_name="Carl Replicating", created=t0 - timedelta(minutes=10),
                                 visible_after_listings=1, methods=["fido2SecurityKey"]).id,
        }
        config = write_config(directory, sim, incremental_overlap_minutes=60)
        state, out = directory / "state.json", directory / "events.ndjson"
        collected = [_run(sim, config, state, out)]

        ids["A"] = tenant.add_user(display_name="Ann New", methods=["mobilePhone"]).id
        ids["B"] = tenant.add_user(display_name="Bob Late", created=t0 - timedelta(minutes=20)).id
        tenant.add_to_group(ids["A"], tenant.groups()[0].id)
        tenant.assign_role(ids["B"], "Global Reader")
        collected.append(_run(sim, config, state, out))
        collected.append(_run(sim, config, state, out))
        yield Runs(sim, ids, [c[0] for c in collected], [c[1] for c in collected],
                   [c[2] for c in collected], [c[3] for c in collected])


def _uids(events: list[dict[str, Any]]) -> set[str]:
    return {e["user"]["uid"] for e in events}


def test_first_run_is_full_and_misses_the_unreplicated_user(runs: Runs) -> None:
    assert "full collection" in runs.stderr[0]
    assert runs.ids["D"] in _uids(runs.events[0])
    assert runs.ids["C"] not in _uids(runs.events[0])
    assert runs.states[0]["watermark"] == runs.sim.tenant.expected(runs.ids["D"]).created \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def test_second_run_emits_exactly_the_new_and_late_users(runs: Runs) -> None:
    assert _uids(runs.events[1]) == {runs.ids["A"], runs.ids["B"], runs.ids["C"]}


def test_second_run_events_are_valid_and_true(runs: Runs) -> None:
    assert_valid(runs.events[1])
    truth = runs.sim.tenant.truth()
    assert_matches_truth(runs.events[1], truth, Known(risk=True), expected_ids=_uids(runs.events[1]))


def test_second_run_asks_per_user_with_few_requests(runs: Runs) -> None:
    assert "incremental listing of new users, per-user" in runs.stderr[1]
    assert runs.requests[1] <= 20, runs.requests[1]


def test_third_run_without_changes_emits_nothing(runs: Runs) -> None:
    assert runs.events[2] == []
    assert runs.states[2]["in_progress"] is None


def test_checkpoint_remembers_only_users_inside_the_overlap_window(runs: Runs) -> None:
    assert runs.ids["D"] in runs.states[0]["recent_ids"]  # created at the watermark
    # After run 2 the watermark is A's creation (now): D, B, C fall out of the window.
    assert runs.states[1]["recent_ids"] == [runs.ids["A"]]
