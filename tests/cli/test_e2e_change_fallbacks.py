"""Change tracking's safety nets through the CLI: an expired or reset delta token, a forced full
collection, a JSON state file of an earlier version, and the per-user MFA fallback spread over
runs on a tenant without P1/P2."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from connector.state import StateStore
from connector.streams.batch import Batch, StoreWrites
from entrasim import SimulatedGraph, TenantSpec
from tests.cli.truth import account_data, connector, load_events, write_config


def run(sim: SimulatedGraph, directory: Path, config: Path, name: str,
        *extra: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    out, summary = directory / f"{name}.ndjson", directory / f"{name}.json"
    result = connector("run", "--config", config, "--state", directory / "state.db",
                       "--output", out, "--summary-json", summary, "--no-progress", *extra)
    assert result.returncode == 0, result.stderr
    return (load_events(out) if out.exists() else []), json.loads(summary.read_text())


@pytest.mark.parametrize(("answer", "said"), [("expired", "syncStateNotFound"),
                                              ("reset", "410")])
def test_a_refused_delta_token_falls_back_to_a_full_collection_named_in_the_summary(
        tmp_path: Path, answer: str, said: str) -> None:
    with SimulatedGraph(TenantSpec(seed=41, users=150, licence="P2")) as sim:
        config = write_config(tmp_path, sim)
        run(sim, tmp_path, config, "first")
        disabled, soft, hard = list(sim.tenant.truth())[:3]
        sim.tenant.disable_user(disabled)
        sim.tenant.delete_user(soft)
        sim.tenant.delete_user(hard, permanent=True)
        sim.tenant.expire_delta_tokens(answer=answer)
        events, summary = run(sim, tmp_path, config, "second")
        assert summary["full_reason"] is not None
        assert "delta link was refused" in summary["full_reason"] and said in summary["full_reason"]
        assert {e["user"]["uid"] for e in events} == set(sim.tenant.truth()) | {soft, hard}
        latest = {e["user"]["uid"]: e for e in events}
        assert latest[disabled]["user"]["account"]["is_disabled"] is True
        # Deleted while no delta could tell: the full listing against the store finds them.
        assert account_data(latest[soft])["deletion"] == "soft"
        assert account_data(latest[hard])["deletion"] == "hard"
        assert summary["deleted_users"] == 2
        # Tracking starts again from the fallback: the next run reads changes only.
        sim.tenant.enable_user(disabled)
        events, summary = run(sim, tmp_path, config, "third")
        assert summary["full_reason"] is None
        assert [e["user"]["uid"] for e in events] == [disabled]


def test_a_full_collection_is_due_once_the_last_one_is_older_than_the_resync_interval(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=46, users=100, licence="P2")) as sim:
        config = write_config(tmp_path, sim, full_resync_hours=24)
        run(sim, tmp_path, config, "first")
        store = StateStore(tmp_path / "state.db")
        store.commit(Batch([], store.load() or {},
                           writes=StoreWrites(cursors={"last_full": "2026-01-01T00:00:00Z"})))
        store.close()
        events, summary = run(sim, tmp_path, config, "resync")
        assert summary["full_reason"].startswith("periodic resync")
        assert len(events) == 100
        events, summary = run(sim, tmp_path, config, "after")
        assert events == [] and summary["full_reason"] is None


def test_run_full_forces_a_full_collection(tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=42, users=120, licence="P2")) as sim:
        config = write_config(tmp_path, sim)
        run(sim, tmp_path, config, "first")
        events, summary = run(sim, tmp_path, config, "forced", "--full")
        assert summary["full_reason"] == "forced (run --full)"
        assert {e["user"]["uid"] for e in events} == set(sim.tenant.truth())
        events, summary = run(sim, tmp_path, config, "after")
        assert events == [] and summary["full_reason"] is None


def test_a_json_state_file_of_an_earlier_version_is_converted_and_tracking_starts(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=43, users=120, licence="P2")) as sim:
        config = write_config(tmp_path, sim)
        legacy = {"version": 1, "tenant_id": sim.connector_config()["tenant_id"],
                  "watermark": "2026-01-01T00:00:00Z", "recent_ids": [], "in_progress": None}
        (tmp_path / "state.db").write_text(json.dumps({"streams": {"users": legacy}}))
        events, summary = run(sim, tmp_path, config, "first")
        assert summary["full_reason"] == "change tracking starts with a full collection"
        assert len(events) == 120
        assert json.loads((tmp_path / "state.db.json-v1").read_text())["streams"]["users"] \
            == legacy
        assert StateStore(tmp_path / "state.db").load()["watermark"] is not None


def test_free_tenant_mfa_reaches_every_user_within_users_over_cap_runs_and_keeps_it(
        tmp_path: Path) -> None:
    users, cap = 200, 60
    with SimulatedGraph(TenantSpec(seed=44, users=users, licence="free")) as sim:
        config = write_config(tmp_path, sim, mfa_fallback_per_run=cap, mfa_fallback_hours=0)
        held: dict[str, dict[str, Any]] = {}
        unknown: list[int] = []
        for n in range(math.ceil(users / cap)):
            events, summary = run(sim, tmp_path, config, f"run{n}")
            for event in events:
                before = held.get(event["user"]["uid"])
                if before is not None and "has_mfa" in before["user"]:
                    assert "has_mfa" in event["user"], "an MFA value learnt earlier was lost"
                held[event["user"]["uid"]] = event
            unknown.append(summary["mfa_unknown"])
        assert unknown == [max(0, users - cap * (n + 1)) for n in range(len(unknown))]
        truth = sim.tenant.truth()
        assert set(held) == set(truth)
        wrong = [uid for uid, e in held.items()
                 if e["user"].get("has_mfa") != truth[uid].has_strong_mfa]
        assert wrong == []
        events, summary = run(sim, tmp_path, config, "settled")
        assert events == [] and summary["mfa_unknown"] == 0


def test_the_sign_in_cadence_re_emits_only_the_users_whose_last_sign_in_moved(
        tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=45, users=200, licence="P2")) as sim:
        _, first = run(sim, tmp_path, write_config(tmp_path, sim), "first")
        signed = set(sim.tenant.sign_in_many(25, seed=1))
        events, summary = run(sim, tmp_path, write_config(tmp_path, sim), "not-due")
        assert events == []
        assert "signInActivity (sign-in refresh)" not in summary["change_sources"]
        assert summary["cadences"]["sign_in_refresh"] == first["cadences"]["sign_in_refresh"]
        events, summary = run(sim, tmp_path, write_config(tmp_path, sim, sign_in_refresh_hours=0),
                              "due")
        truth = sim.tenant.truth()
    assert {e["user"]["uid"] for e in events} == signed
    assert "signInActivity (sign-in refresh)" in summary["change_sources"]
    assert summary["cadences"]["sign_in_refresh"] > first["cadences"]["sign_in_refresh"]
    for event in events:
        want = truth[event["user"]["uid"]].last_successful_sign_in
        assert event["user"]["ldap_person"]["last_login_time"] == int(want.timestamp() * 1000)


def test_users_graph_replays_in_a_delta_round_are_not_emitted_again(tmp_path: Path) -> None:
    with SimulatedGraph(TenantSpec(seed=47, users=150, licence="P2")) as sim:
        config = write_config(tmp_path, sim)
        run(sim, tmp_path, config, "first")
        changed = next(iter(sim.tenant.truth()))
        sim.tenant.update_user(changed, department="Replays")
        sim.tenant.delta_replays = True
        events, summary = run(sim, tmp_path, config, "second")
        assert [e["user"]["uid"] for e in events] == [changed]
        events, summary = run(sim, tmp_path, config, "third")
        assert events == [] and summary["changed_users"] == 0
