"""The workload identities stream through the CLI, as an operator runs it: every service
principal once as a valid non-human 5003 event equal to the simulator's truth (credentials with
their expiry, permissions, consents, owners, roster size); each kind of change reaching the
next run, and only the changed service principals; a missing permission or licence leaving the
rest complete with one message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from connector.ocsf.common import epoch_ms
from connector.state import StateStore
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from entrasim.workloads import ExpectedWorkload
from tests.cli.truth import connector, write_config
from tests.conftest import MakeSim

DIRECTORY = DEFAULT_PERMISSIONS | {"Directory.Read.All"}
ENABLED = {"enabled": True}


def run(config: Path, state: Path, out: Path, *extra: str) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    out.unlink(missing_ok=True)
    summary = out.with_suffix(".summary.json")
    result = connector("run", "--config", config, "--state", state, "--output", out,
                       "--stream", "workload_identities", "--summary-json", summary, *extra)
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []
    return events, result.stderr, json.loads(summary.read_text())["streams"]["workload_identities"]


def data(event: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [e["data"] for e in event.get("enrichments", ()) if e["name"] == name]
    return found[0] if found else None


def assert_matches(event: dict[str, Any], truth: ExpectedWorkload, *, consents: bool = True) -> None:
    user = event["user"]
    assert (user["uid"], user["uid_alt"], user["type_id"]) == (truth.id, truth.app_id, 4)
    assert user["account"]["is_disabled"] is (not truth.enabled)
    creds = data(event, "credentials") or {}
    assert {i["uid"]: (i["kind"], i.get("start_time"), i.get("end_time")) for i in creds.get("items", ())} == {
        k: (kind, epoch_ms(start), epoch_ms(end)) for k, (kind, start, end) in truth.credentials.items()}
    assert {c["uid"] for c in user.get("programmatic_credentials", ())} == set(truth.credentials)
    perms = data(event, "app_permissions") or {}
    assert {(p["resource"], p["permission"]) for p in perms.get("items", ())} == truth.app_permissions
    owners = data(event, "owners") or {}
    assert {o["uid"] for o in owners.get("items", ())} == truth.owners
    sso = data(event, "sso")
    assert sso is not None and (sso["users"], sso["groups"]) == (truth.roster_users, truth.roster_groups)
    workload = data(event, "workload")
    assert workload is not None and workload.get("origin") == truth.origin
    assert workload.get("sso_mode") == truth.sso_mode
    consent = data(event, "delegated_consents")
    if not consents:
        assert consent is None
        return
    assert consent is not None
    assert {(c.get("resource"), s) for c in consent.get("items", ()) for s in c["scopes"]} == truth.consent_scopes
    assert consent["is_tenant_wide"] is truth.tenant_wide and consent["users"] == truth.consent_users


def test_every_service_principal_once_valid_and_equal_to_the_truth(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=81, users=200, permissions=DIRECTORY)
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    out = tmp_path / "events.ndjson"
    events, stderr, summary = run(config, tmp_path / "state.db", out)

    truth = sim.tenant.workloads.truth()
    assert sorted(e["user"]["uid"] for e in events) == sorted(truth)
    for event in events:
        assert_matches(event, truth[event["user"]["uid"]])
    assert connector("validate", out).returncode == 0
    assert summary["mode"] == "full" and summary["completed"] and summary["degraded"] == {}
    assert summary["high_impact_grants"] > 0 and summary["credentials_expired"] > 0
    assert summary["credentials_expiring_90_days"] >= summary["credentials_expiring_30_days"] > 0
    assert "workload credentials:" in stderr
    assert StateStore(tmp_path / "state.db").load("users") is None


def mutate_every_kind(sim: SimulatedGraph) -> dict[str, str]:
    """One mutation of each kind; returns kind -> the service principal it touched."""
    w = sim.tenant.workloads
    lob = [s for s in w.service_principals() if s.kind == "lob" and s.app is not None]
    saas = [s for s in w.service_principals() if s.kind == "saas"]
    with_cert = next(s for s in w.service_principals() if any(c.kind == "certificate" for c in s.credentials))
    users, groups = sim.tenant.users(), sim.tenant.groups()
    w.add_credential(lob[0].id, "password")
    w.remove_credential(with_cert.id, next(c.key_id for c in with_cert.credentials if c.kind == "certificate"))
    w.grant_permission(lob[1].id, "Mail.ReadWrite")
    w.consent(lob[2].id, "User.Read Files.ReadWrite.All")
    w.consent(saas[0].id, "Mail.Read", user_id=users[10].id)
    w.assign(saas[1].id, users[11].id)
    roster = w.assigned_to(saas[2])[0].principal
    w.unassign(saas[2].id, roster.id)
    w.assign(saas[3].id, groups[2].id)
    w.add_owner(lob[3].id, users[12].id, on_app=True)
    w.disable(lob[4].id)
    w.delete(lob[5].id)
    new = w.add_service_principal("New line-of-business app")
    return {"new": new, "secret": lob[0].id, "certificate": with_cert.id, "grant": lob[1].id, "tenant_consent": lob[2].id,
            "user_consent": saas[0].id, "roster_add": saas[1].id, "roster_remove": saas[2].id,
            "group_assigned": saas[3].id, "owner": lob[3].id, "disabled": lob[4].id, "deleted": lob[5].id}


def test_changes_of_every_kind_reach_the_next_run_and_only_those(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=82, users=200, permissions=DIRECTORY, service_principals=60)
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    state, out = tmp_path / "state.db", tmp_path / "events.ndjson"
    run(config, state, out)
    touched = mutate_every_kind(sim)
    events, _, summary = run(config, state, out)

    assert summary["mode"] == "changes", summary
    by_uid = {e["user"]["uid"]: e for e in events}
    assert set(by_uid) == set(touched.values())
    truth = sim.tenant.workloads.truth()
    for kind, sp_id in touched.items():
        if kind == "deleted":
            workload = data(by_uid[sp_id], "workload")
            assert workload is not None and workload["is_deleted"] is True
        else:
            assert_matches(by_uid[sp_id], truth[sp_id])
    assert data(by_uid[touched["disabled"]], "workload")["is_enabled"] is False  # type: ignore[index]
    assert summary["deleted"] == 1 and summary["inventory"] == len(truth)
    assert connector("validate", out).returncode == 0
    third, _, summary = run(config, state, out)
    assert third == [] and summary["mode"] == "changes"


def test_without_directory_read_all_or_premium_the_rest_is_complete_with_one_message_each(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=83, users=200, licence="free")
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    events, stderr, summary = run(config, tmp_path / "state.db", tmp_path / "events.ndjson")

    truth = sim.tenant.workloads.truth()
    assert sorted(e["user"]["uid"] for e in events) == sorted(truth)
    for event in events:
        assert_matches(event, truth[event["user"]["uid"]], consents=False)
        assert "last_sign_in_time" not in (data(event, "workload") or {})
    assert set(summary["degraded"]) == {"workload_consents", "workload_sign_ins"}
    assert stderr.count("delegated consents of applications not collected") == 1
    assert stderr.count("last sign-ins of service principals not collected") == 1


def test_without_application_read_all_the_stream_is_skipped_with_one_message(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=84, users=200, permissions=DEFAULT_PERMISSIONS - {"Application.Read.All"})
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    events, stderr, summary = run(config, tmp_path / "state.db", tmp_path / "events.ndjson")
    assert events == [] and summary["mode"] == "skipped"
    assert stderr.count("Application.Read.All") >= 1


def test_the_test_command_reports_each_workload_source_and_its_permission(make_sim: MakeSim,
                                                                          tmp_path: Path) -> None:
    sim = make_sim(seed=85, users=200, licence="free")
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    result = connector("test", "--config", config, "--json")
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["feature:workload_identities"]["status"] == "ok"
    assert checks["feature:workload_consents"]["status"] == "unavailable"
    assert "Directory.Read.All" in checks["feature:workload_consents"]["detail"]
    assert checks["feature:workload_sign_ins"]["status"] == "unavailable"
    assert "licence" in checks["feature:workload_sign_ins"]["detail"]


def test_user_events_name_the_sso_applications_assigned_directly_or_through_a_group(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=86, users=200, service_principals=40)
    config = write_config(tmp_path, sim, workload_identities={"user_sso_apps": True})
    out = tmp_path / "users.ndjson"
    result = connector("run", "--config", config, "--state", tmp_path / "state.db", "--output", out,
                       "--stream", "users")
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    w = sim.tenant.workloads
    assigned = 0
    for event in events:
        user = sim.tenant.user(event["user"]["uid"])
        assert user is not None
        apps = data(event, "sso_apps")
        assert apps is not None
        expected = w.sso_apps_of(user)
        assert apps["count"] == len(expected)
        assert {a["uid"] for a in apps.get("items", ())} == set(expected)
        assigned += bool(expected)
    assert assigned > 10


def test_a_refused_delta_link_makes_the_next_run_a_full_one(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=87, users=200)
    config = write_config(tmp_path, sim, workload_identities=ENABLED)
    state, out = tmp_path / "state.db", tmp_path / "events.ndjson"
    run(config, state, out)
    sim.tenant.expire_delta_tokens()
    events, _, summary = run(config, state, out)
    assert summary["mode"] == "full" and "delta link refused" in summary["full_reason"]
    assert len(events) == len(sim.tenant.workloads.truth())
