"""The commands as a person uses them: exit codes, messages, and what never appears in them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from connector.state import StateStore
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec
from tests.cli.truth import connector, load_events, write_config

SENTINEL = "SENTINEL-secret-7f3a9c"


@pytest.fixture(scope="module")
def small() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=3, users=120, licence="P2")) as sim:
        yield sim


def _no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text


# --- configuration errors ----------------------------------------------------------------------

def test_bad_configuration_exits_2_naming_the_field_and_hiding_the_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tenant_id": "contoso.onmicrosoft.com", "client_id": "nope",
                                  "client_secret": SENTINEL, "page_size": "big"}))
    result = connector("run", "--config", config, "--state", tmp_path / "s.json", "--output", "-")
    assert result.returncode == 2
    assert "client_id" in result.stderr and "page_size" in result.stderr
    assert SENTINEL not in result.stderr + result.stdout
    _no_traceback(result.stderr)


def test_missing_configuration_file_exits_2(tmp_path: Path) -> None:
    result = connector("test", "--config", tmp_path / "absent.json")
    assert result.returncode == 2
    _no_traceback(result.stderr)


def test_run_without_output_or_intake_exits_2(small: SimulatedGraph, tmp_path: Path) -> None:
    result = connector("run", "--config", write_config(tmp_path, small), "--state",
                       tmp_path / "s.json")
    assert result.returncode == 2
    assert "--output" in result.stderr


# --- run ---------------------------------------------------------------------------------------

def test_run_to_stdout_writes_ndjson_and_summary_on_stderr(small: SimulatedGraph,
                                                          tmp_path: Path) -> None:
    result = connector("run", "--config", write_config(tmp_path, small), "--state",
                       tmp_path / "s.json", "--output", "-")
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(events) == 120
    assert "120 events" in result.stderr


def test_run_refuses_a_state_file_locked_by_another_run(small: SimulatedGraph,
                                                        tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    with StateStore(state).lock():
        result = connector("run", "--config", write_config(tmp_path, small), "--state", state,
                           "--output", tmp_path / "out.ndjson")
    assert result.returncode == 1
    assert "another run is using" in result.stderr
    _no_traceback(result.stderr)


def test_run_with_a_wrong_secret_fails_in_one_line_without_the_secret(
        small: SimulatedGraph, tmp_path: Path) -> None:
    config = write_config(tmp_path, small, client_secret=SENTINEL)
    result = connector("run", "--config", config, "--state", tmp_path / "s.json",
                       "--output", tmp_path / "out.ndjson")
    assert result.returncode == 1
    assert "could not obtain a token" in result.stderr
    assert SENTINEL not in result.stderr + result.stdout
    assert not (tmp_path / "s.json").exists()
    _no_traceback(result.stderr)


# --- test --------------------------------------------------------------------------------------

def test_test_command_reports_connected_permissions_and_features(small: SimulatedGraph,
                                                                 tmp_path: Path) -> None:
    result = connector("test", "--config", write_config(tmp_path, small))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Connected to tenant")
    assert "ok       User.Read.All (required)" in result.stdout
    assert "MISSING" not in result.stdout
    assert "Result: collection can run" in result.stdout


def test_test_command_names_what_a_free_tenant_leaves_out(tmp_path: Path) -> None:
    spec = TenantSpec(seed=4, users=30, licence="free",
                      permissions=DEFAULT_PERMISSIONS - {"GroupMember.Read.All"})
    with SimulatedGraph(spec) as sim:
        result = connector("test", "--config", write_config(tmp_path, sim))
    assert result.returncode == 0
    assert "MISSING  GroupMember.Read.All (required)" in result.stdout
    assert "no       last sign-in (signInActivity)  the tenant has no Microsoft Entra ID P1/P2" \
        in result.stdout
    assert "not collected: last sign-in" in result.stdout


def test_test_command_exits_1_when_users_cannot_be_read(tmp_path: Path) -> None:
    spec = TenantSpec(seed=4, users=30, permissions=frozenset({"AuditLog.Read.All"}))
    with SimulatedGraph(spec) as sim:
        result = connector("test", "--config", write_config(tmp_path, sim))
    assert result.returncode == 1
    assert "Graph refused to list users" in result.stdout
    assert "Result: collection cannot run" in result.stdout


def test_test_command_with_a_wrong_secret_exits_1_without_the_secret(
        small: SimulatedGraph, tmp_path: Path) -> None:
    result = connector("test", "--config", write_config(tmp_path, small, client_secret=SENTINEL))
    assert result.returncode == 1
    assert "Not connected: could not obtain a token" in result.stdout
    assert SENTINEL not in result.stdout + result.stderr


# --- validate ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def produced(small: SimulatedGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("produced")
    out = directory / "out.ndjson"
    assert connector("run", "--config", write_config(directory, small), "--state",
                     directory / "s.json", "--output", out).returncode == 0
    return out


def test_validate_accepts_what_run_produced(produced: Path) -> None:
    result = connector("validate", produced)
    assert result.returncode == 0
    assert "120 events, 120 valid, 0 invalid" in result.stderr


def test_validate_names_line_and_json_path_of_each_problem(produced: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "out.ndjson"
    events = load_events(produced)[:3]
    events[1]["user"]["type_id"] = 42
    events[2]["class_uid"] = 1
    out.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    result = connector("validate", out)
    assert result.returncode == 1
    assert "line 2: $.user.type_id" in result.stdout
    assert "line 3: $.class_uid" in result.stdout
    assert "line 1" not in result.stdout


# --- demo and entry point ----------------------------------------------------------------------

def test_demo_collects_from_a_simulated_tenant_and_says_where(tmp_path: Path) -> None:
    result = connector("demo", "--users", "150", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"Events:     {tmp_path / 'events.ndjson'}" in result.stdout
    events = load_events(tmp_path / "events.ndjson")
    classes = Counter(e["class_uid"] for e in events)
    people = sum(1 for e in events if e["class_uid"] == 5003 and e["user"]["type_id"] != 4)
    assert people == 150
    # every stream shows: sign-ins, devices, workload identities and some audit classes
    assert classes[3002] > 0 and classes[5001] > 0 and classes[5003] > 150
    assert {3001, 3004, 3005, 3006} & set(classes)
    assert f"{len(events)} of {len(events)} events valid against OCSF 1.8.0 (" in result.stdout


def test_python_m_connector_without_a_command_shows_usage() -> None:
    result = connector()
    assert result.returncode == 2
    assert "usage: python -m connector" in result.stderr


def test_run_giving_up_on_graph_exits_1_with_one_line_and_no_checkpoint(
        small: SimulatedGraph, tmp_path: Path) -> None:
    small.faults.routes = frozenset({"GET /users"})
    small.faults.p_503 = 1.0
    try:
        result = connector("run", "--config",
                           write_config(tmp_path, small, retry_deadline_seconds=2),
                           "--state", tmp_path / "s.json", "--output", tmp_path / "out.ndjson")
    finally:
        small.faults.reset()
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "gave up" in errors[0] and "nothing delivered" in errors[0]
    assert not (tmp_path / "s.json").exists()
    _no_traceback(result.stderr)


def test_run_without_output_delivers_to_the_configured_intake(small: SimulatedGraph,
                                                              tmp_path: Path) -> None:
    from tests.intake_receiver import IntakeReceiver

    with IntakeReceiver() as receiver:
        config = write_config(tmp_path, small, intake={"url": receiver.url, "gzip": True,
                                                       "api_key": SENTINEL})
        result = connector("run", "--config", config, "--state", tmp_path / "s.json")
        received = receiver.events
    assert result.returncode == 0, result.stderr
    assert len({e["user"]["uid"] for e in received}) == 120
    assert SENTINEL not in result.stderr + result.stdout
