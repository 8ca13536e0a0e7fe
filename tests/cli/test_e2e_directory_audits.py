"""The directory audit stream through the CLI, as an operator runs it: every visible record once,
as the class the activity table names, with actor, target and status equal to the tenant's
record; a second run delivers exactly the new and late records; the inventory's MFA change
detection takes the stream's read instead of reading the log again; a free tenant within its
7 days; an app without AuditLog.Read.All gets one message and its other streams.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from connector.graph.dates import parse_graph_datetime
from connector.state import StateStore
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from entrasim.audit import AuditRecord
from tests.cli.audit_truth import assert_audits_match
from tests.cli.truth import Known, connector, inventory_problems, write_config
from tests.conftest import MakeSim
from tests.integration.test_directory_audits_sim import mutate

AUDITS = {"enabled": True, "lookback_days": 2}
AUDIT_CLASSES = {3001, 3004, 3005, 3006}
AUDIT_ROUTE = "GET /auditLogs/directoryAudits"


def run(config: Path, state: Path, out: Path, *extra: str) -> tuple[list[dict[str, Any]],
                                                                     dict[str, Any], str]:
    out.unlink(missing_ok=True)
    summary = out.with_suffix(".summary.json")
    result = connector("run", "--config", config, "--state", state, "--output", out,
                       "--summary-json", summary, "--no-progress", *extra)
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return events, json.loads(summary.read_text()), result.stderr


def audits_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["class_uid"] in AUDIT_CLASSES]


def visible(sim: SimulatedGraph, since: datetime) -> list[AuditRecord]:
    with sim.tenant.lock:
        return [r for r in sim.tenant.audit.visible(since)]


def audit_requests(sim: SimulatedGraph) -> int:
    return int(sim.counters.snapshot().get(AUDIT_ROUTE, {}).get("requests", 0))


def test_every_visible_record_once_as_the_table_says_and_equal_to_the_tenant(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=61, users=200, licence="P2")
    now = datetime.now(UTC)
    sim.tenant.add_audit_history(400, since=now - timedelta(days=3), until=now, seed=3)
    mutate(sim)
    config = write_config(tmp_path, sim, directory_audits=AUDITS)
    events, report, stderr = run(config, tmp_path / "state.db", tmp_path / "out.ndjson",
                                 "--stream", "directory_audits")

    stream = report["streams"]["directory_audits"]
    since = parse_graph_datetime(stream["since"])
    assert since is not None
    assert_audits_match(events, visible(sim, since))
    assert {e["class_uid"] for e in events} == AUDIT_CLASSES
    assert stream["events_by_class"] == {str(c): sum(1 for e in events if e["class_uid"] == c)
                                         for c in sorted(AUDIT_CLASSES)}
    assert set(stream["unmapped_activity_names"]) == {"Update device", "Update policy"}
    assert stream["unmapped_activities"] == sum(1 for e in events if e["class_uid"] == 3004)
    assert "without a row of their own" in stderr and "Update device" in stderr
    assert connector("validate", tmp_path / "out.ndjson").returncode == 0


def test_a_second_run_after_mutations_and_late_arrivals_emits_exactly_the_new_records(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=16, users=200, licence="P2")
    t = sim.tenant
    t.audit_lag_listings = 1  # hidden from the first run's listing, visible to the second
    t.update_user(t.users()[7].id, jobTitle="Late Arrival")
    t.audit_lag_listings = 0
    late = [r for r in t.audit.records]
    config = write_config(tmp_path, sim, directory_audits=AUDITS)
    state, out = tmp_path / "state.db", tmp_path / "out.ndjson"
    mutate(sim)
    first, _, _ = run(config, state, out, "--stream", "directory_audits")
    known = {r.id for r in t.audit.records}
    t.disable_user(t.users()[9].id)
    t.add_to_group(t.users()[11].id, next(g for g in t.groups() if not g.role_assignable).id)
    new = [r for r in t.audit.records if r.id not in known]
    second, report, _ = run(config, state, out, "--stream", "directory_audits")

    assert not {r.id for r in late} & {e["metadata"]["uid"] for e in first}
    assert_audits_match(second, [*late, *new])
    stream = report["streams"]["directory_audits"]
    assert stream["mode"] == "incremental" and stream["already_delivered"] >= len(first)


def test_mfa_change_detection_takes_the_audit_streams_read_in_the_same_run(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=63, users=150, licence="P2")
    config = write_config(tmp_path, sim, directory_audits=AUDITS)
    state, out = tmp_path / "state.db", tmp_path / "out.ndjson"
    first, _, _ = run(config, state, out)  # --stream all: the inventory and the audit log
    assert {e["class_uid"] for e in first} == {5003}  # no audit record yet
    assert StateStore(state).load("directory_audits") is not None
    truth = sim.tenant.truth()
    user = next(uid for uid, u in sorted(truth.items()) if not u.has_strong_mfa and u.enabled)
    sim.tenant.register_method(user, "microsoftAuthenticatorPush")
    before = audit_requests(sim)
    events, report, _ = run(config, state, out)

    assert audit_requests(sim) - before == 1  # the audit stream's read, and no other
    assert [e["user"]["uid"] for e in audits_of(events)] == [user]
    emitted = {e["user"]["uid"]: e for e in events if e["class_uid"] == 5003}
    assert user in emitted
    assert inventory_problems({user: emitted[user]}, {user: sim.tenant.truth()[user]},
                              Known(risk=True)) == []
    assert any("directory audit stream" in s for s in report["change_sources"])
    assert StateStore(state).ids("audit_mfa") == set()


def test_with_the_audit_stream_disabled_change_tracking_reads_the_log_itself(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=64, users=150, licence="P2")
    config = write_config(tmp_path, sim)
    state, out = tmp_path / "state.db", tmp_path / "out.ndjson"
    run(config, state, out)
    truth = sim.tenant.truth()
    user = next(uid for uid, u in sorted(truth.items()) if not u.has_strong_mfa and u.enabled)
    sim.tenant.register_method(user, "microsoftAuthenticatorPush")
    before = audit_requests(sim)
    users, report, _ = run(config, state, out)

    assert audit_requests(sim) - before == 1
    assert user in {e["user"]["uid"] for e in users}
    assert "directoryAudits (MFA registrations)" in report["change_sources"]


def test_a_free_tenant_reads_within_its_seven_days(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=65, users=100, licence="free")
    now = datetime.now(UTC)
    sim.tenant.add_audit_history(200, since=now - timedelta(days=12), until=now, seed=4)
    config = write_config(tmp_path, sim, directory_audits={"enabled": True, "lookback_days": 30})
    events, report, _ = run(config, tmp_path / "state.db", tmp_path / "out.ndjson",
                            "--stream", "directory_audits")

    stream = report["streams"]["directory_audits"]
    since, until = parse_graph_datetime(stream["since"]), parse_graph_datetime(stream["until"])
    assert since is not None and until is not None
    assert stream["retention_days"] == 7 and until - since == timedelta(days=7)
    assert_audits_match(events, visible(sim, since))
    assert 0 < len(events) < 200


def test_an_app_without_the_permission_gets_one_message_and_its_other_streams(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=66, users=100, licence="P2",
                   permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    sim.tenant.update_user(sim.tenant.users()[3].id, jobTitle="Audited")
    config = write_config(tmp_path, sim, directory_audits=AUDITS)
    events, report, stderr = run(config, tmp_path / "state.db", tmp_path / "out.ndjson")

    assert sorted(e["user"]["uid"] for e in events) == sorted(sim.tenant.truth())
    assert stderr.count("directory audit logs not collected") == 1
    stream = report["streams"]["directory_audits"]
    assert stream["mode"] == "skipped"
    assert "AuditLog.Read.All" in stream["degraded"]["directory_audits"]
    assert StateStore(tmp_path / "state.db").load("directory_audits") is None


def test_stream_directory_audits_without_enabling_it_is_a_usage_error(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=67, users=20)
    result = connector("run", "--config", write_config(tmp_path, sim), "--state",
                       tmp_path / "s.db", "--output", tmp_path / "o.ndjson",
                       "--stream", "directory_audits")

    assert result.returncode == 2
    assert "directory_audits.enabled" in result.stderr


def test_the_diagnosis_reports_the_audit_log_feature(make_sim: MakeSim, tmp_path: Path) -> None:
    def feature(sim: SimulatedGraph, directory: Path) -> dict[str, Any]:
        directory.mkdir()
        result = connector("test", "--config", write_config(directory, sim), "--json")
        checks = json.loads(result.stdout)["checks"]
        found: dict[str, Any] = next(c for c in checks if c["id"] == "feature:directory_audits")
        return found

    free = feature(make_sim(seed=68, users=20, licence="free"), tmp_path / "free")
    denied = feature(make_sim(seed=69, users=20,
                              permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"}),
                     tmp_path / "denied")

    assert free["status"] == "ok"
    assert denied["status"] == "unavailable" and "AuditLog.Read.All" in denied["detail"]
