"""Both streams through the CLI, as an operator runs them: one NDJSON output holding the user
inventory (5003) and the sign-ins (3002), one state file holding both checkpoints, `--stream`
to run one of them, and a tenant or app that cannot read sign-ins still getting its inventory.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from connector.graph.dates import parse_graph_datetime
from connector.state import StateStore
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from tests.cli.sign_in_truth import assert_sign_ins_match
from tests.cli.truth import connector, write_config
from tests.conftest import MakeSim

SIGN_INS = {"enabled": True, "lookback_days": 1}


def run(config: Path, state: Path, out: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    out.unlink(missing_ok=True)
    result = connector("run", "--config", config, "--state", state, "--output", out, *extra)
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return events, result.stderr


def by_class(events: list[dict[str, Any]], class_uid: int) -> list[dict[str, Any]]:
    return [e for e in events if e["class_uid"] == class_uid]


def window_truth(sim: SimulatedGraph, state: Path) -> list[dict[str, Any]]:
    checkpoint = StateStore(state).load("sign_ins")
    assert checkpoint is not None
    until = parse_graph_datetime(checkpoint["cursor"])
    assert until is not None
    return sim.tenant.sign_ins(since=until - timedelta(days=1), until=until)


def test_one_run_emits_both_classes_in_one_file_each_exactly_once(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=31, users=150, licence="P2")
    config = write_config(tmp_path, sim, sign_ins=SIGN_INS)
    state, out, summary = tmp_path / "state.json", tmp_path / "events.ndjson", tmp_path / "s.json"
    events, stderr = run(config, state, out, "--summary-json", str(summary))

    users = by_class(events, 5003)
    assert sorted(e["user"]["uid"] for e in users) == sorted(sim.tenant.truth())
    assert_sign_ins_match(by_class(events, 3002), window_truth(sim, state))
    validated = connector("validate", out)
    assert validated.returncode == 0, validated.stdout
    report = json.loads(summary.read_text())
    assert report["streams"]["users"]["events_delivered"] == len(users)
    assert report["streams"]["sign_ins"]["events_delivered"] == len(events) - len(users)
    assert "sign-ins (first" in stderr
    store = StateStore(state)
    assert store.load("users") is not None and store.load("sign_ins") is not None


def test_a_second_run_emits_exactly_the_new_and_late_sign_ins(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=32, users=150, licence="P2")
    now = sim.tenant.sign_in_now()
    late = sim.tenant.add_sign_in(created=now - timedelta(minutes=30), visible_after_listings=1)
    config = write_config(tmp_path, sim, sign_ins=SIGN_INS)
    state, out = tmp_path / "state.json", tmp_path / "events.ndjson"
    first, _ = run(config, state, out, "--stream", "sign_ins")
    new = [sim.tenant.add_sign_in() for _ in range(3)]
    summary = tmp_path / "summary.json"
    second, _ = run(config, state, out, "--stream", "sign_ins", "--summary-json", str(summary))

    assert late["id"] not in {e["metadata"]["uid"] for e in first}
    assert_sign_ins_match(second, [late, *new])
    assert by_class(first + second, 5003) == []
    assert StateStore(state).load("users") is None
    report = json.loads(summary.read_text())
    assert report["completed"] is True and report["graph_requests"] >= 1
    assert set(report["streams"]) == {"sign_ins"}
    assert report["streams"]["sign_ins"]["mode"] == "incremental"
    assert report["streams"]["sign_ins"]["events_delivered"] == 4


def test_stream_users_leaves_the_sign_in_checkpoint_alone(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=33, users=100, licence="P2")
    config = write_config(tmp_path, sim, sign_ins=SIGN_INS)
    state, out = tmp_path / "state.json", tmp_path / "events.ndjson"
    run(config, state, out, "--stream", "sign_ins")
    before = StateStore(state).load("sign_ins")
    events, _ = run(config, state, out, "--stream", "users")

    assert {e["class_uid"] for e in events} == {5003}
    assert StateStore(state).load("sign_ins") == before


def test_stream_sign_ins_without_enabling_them_is_a_usage_error(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=34, users=20)
    config = write_config(tmp_path, sim)
    result = connector("run", "--config", config, "--state", tmp_path / "s.json", "--output",
                       tmp_path / "o.ndjson", "--stream", "sign_ins")

    assert result.returncode == 2
    assert "sign_ins.enabled" in result.stderr


def _refused(sim: SimulatedGraph, tmp_path: Path) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    config = write_config(tmp_path, sim, sign_ins=SIGN_INS)
    state, out, summary = tmp_path / "state.json", tmp_path / "events.ndjson", tmp_path / "s.json"
    events, stderr = run(config, state, out, "--summary-json", str(summary))
    return events, stderr, json.loads(summary.read_text())


def test_a_free_tenant_gets_its_inventory_and_one_licence_message(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=35, users=120, licence="free")
    events, stderr, report = _refused(sim, tmp_path)

    assert sorted(e["user"]["uid"] for e in events) == sorted(sim.tenant.truth())
    assert stderr.count("sign-in logs not collected") == 1
    assert "P1 or P2 licence" in report["streams"]["sign_ins"]["degraded"]["sign_ins"]
    assert report["streams"]["sign_ins"]["mode"] == "skipped"


def test_an_app_without_the_permission_gets_its_inventory_and_one_permission_message(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=36, users=120, licence="P2",
                   permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All", "Directory.Read.All"})
    events, stderr, report = _refused(sim, tmp_path)

    assert sorted(e["user"]["uid"] for e in events) == sorted(sim.tenant.truth())
    assert stderr.count("sign-in logs not collected") == 1
    assert "AuditLog.Read.All" in report["streams"]["sign_ins"]["degraded"]["sign_ins"]


def test_the_diagnosis_reports_the_sign_in_feature(make_sim: MakeSim, tmp_path: Path) -> None:
    def feature(sim: SimulatedGraph, directory: Path) -> dict[str, Any]:
        directory.mkdir()
        result = connector("test", "--config", write_config(directory, sim), "--json")
        checks = json.loads(result.stdout)["checks"]
        found: dict[str, Any] = next(c for c in checks if c["id"] == "feature:sign_ins")
        return found

    licensed = feature(make_sim(seed=37, users=20, licence="P2"), tmp_path / "p2")
    free = feature(make_sim(seed=38, users=20, licence="free"), tmp_path / "free")
    denied = feature(make_sim(seed=39, users=20, permissions=DEFAULT_PERMISSIONS - {
        "AuditLog.Read.All", "Directory.Read.All"}), tmp_path / "denied")

    assert licensed["status"] == "ok"
    assert free["status"] == "unavailable" and "P1" in free["detail"]
    assert denied["status"] == "unavailable" and "AuditLog.Read.All" in denied["detail"]
