"""`test` and `run` as an operator and a runtime see them: exit codes, the table, `--json`,
the run summary (stderr and `--summary-json`), JSON logs, and the progress line on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph
from tests.cli.truth import REPO, connector, write_config

MakeSim = Callable[..., SimulatedGraph]
SENTINEL = "SENTINEL-wrong-secret-51c0"


def diagnosis_json(stdout: str) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(stdout)
    return parsed


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in report["checks"] if c.get("id") == check_id)
    return found


# --- test --------------------------------------------------------------------------------------

def test_test_with_a_wrong_secret_exits_1_naming_the_code_the_meaning_and_the_fix(
        make_sim: MakeSim, tmp_path: Path) -> None:
    config = write_config(tmp_path, make_sim(users=5), client_secret=SENTINEL)
    result = connector("test", "--config", config)
    assert result.returncode == 1
    assert result.stdout.startswith("Not connected: could not obtain a token")
    assert "FAILED   login  AADSTS7000215: wrong client secret" in result.stdout
    assert "fix: copy the secret's Value (not its Secret ID)" in result.stdout
    assert SENTINEL not in result.stdout + result.stderr


def test_test_json_for_an_unknown_tenant_is_machine_readable(make_sim: MakeSim,
                                                            tmp_path: Path) -> None:
    config = write_config(tmp_path, make_sim(users=5),
                          tenant_id="3c1f5a8e-0d1b-4f7e-9a2c-5b6d7e8f9a0b")
    result = connector("test", "--config", config, "--json")
    report = diagnosis_json(result.stdout)
    assert result.returncode == 1
    assert (report["verdict"], report["can_collect"], report["exit_code"]) == \
        ("cannot_run", False, 1)
    assert check(report, "token")["code"] == "AADSTS90002"


def test_test_json_warns_about_a_secret_expiring_in_30_days_and_exits_0(
        make_sim: MakeSim, tmp_path: Path) -> None:
    end = datetime.now(UTC) + timedelta(days=30)
    config = write_config(tmp_path, make_sim(users=5, secret_end_datetime=end))
    result = connector("test", "--config", config, "--json")
    report = diagnosis_json(result.stdout)
    assert result.returncode == 0, result.stderr
    assert report["verdict"] == "ready_with_warnings"
    assert report["credential"]["kind"] == "client_secret"
    assert report["credential"]["expires"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert report["warnings"] == ["the client secret expires in 30 days"]


def test_test_json_lists_a_missing_required_permission_and_exits_0(make_sim: MakeSim,
                                                                  tmp_path: Path) -> None:
    sim = make_sim(users=5, permissions=DEFAULT_PERMISSIONS - {"RoleManagement.Read.Directory"})
    result = connector("test", "--config", write_config(tmp_path, sim), "--json")
    report = diagnosis_json(result.stdout)
    assert result.returncode == 0
    assert check(report, "permission:RoleManagement.Read.Directory")["status"] == "missing"
    assert "admin roles" in report["not_collected"]
    assert "RoleManagement.Read.Directory" not in report["granted_permissions"]


# --- run: summary, warnings, logs --------------------------------------------------------------

def test_run_writes_a_summary_for_people_and_one_for_machines(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim(users=40, licence="free")
    summary_path = tmp_path / "summary.json"
    result = connector("run", "--config", write_config(tmp_path, sim), "--state",
                       tmp_path / "state.json", "--output", tmp_path / "events.ndjson",
                       "--summary-json", summary_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_path.read_text())
    assert summary["completed"] is True
    assert (summary["users_listed"], summary["events"], summary["events_delivered"]) == \
        (40, 40, 40)
    assert summary["graph_requests"] > 0 and summary["throttled"] == 0
    assert "last_sign_in" in summary["degraded"]
    assert summary["duration_seconds"] > 0
    assert "40 events from 40 users listed" in result.stderr
    assert "not collected: last_sign_in: the tenant has no Microsoft Entra ID P1/P2" in result.stderr


def test_a_failed_run_still_writes_its_summary_with_the_explained_error(
        make_sim: MakeSim, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    config = write_config(tmp_path, make_sim(users=5), client_secret=SENTINEL)
    result = connector("run", "--config", config, "--state", tmp_path / "state.json",
                       "--output", tmp_path / "events.ndjson", "--summary-json", summary_path)
    summary = json.loads(summary_path.read_text())
    assert result.returncode == 1
    assert summary["completed"] is False
    assert "AADSTS7000215" in summary["error"] and "wrong client secret" in summary["error"]
    assert "fix: copy the secret's Value" in result.stderr
    assert SENTINEL not in result.stderr + summary_path.read_text()


def test_run_warns_once_about_a_secret_expiring_soon(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=10, secret_end_datetime=datetime.now(UTC) + timedelta(days=30))
    summary_path = tmp_path / "summary.json"
    result = connector("run", "--config", write_config(tmp_path, sim), "--state",
                       tmp_path / "state.json", "--output", tmp_path / "events.ndjson",
                       "--summary-json", summary_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines()
                if "WARNING" in line and "client secret expires" in line]
    assert len(warnings) == 1, result.stderr
    assert "in 30 days" in warnings[0]
    assert "client secret expires" in json.loads(summary_path.read_text())["warnings"][0]


def test_json_logs_put_every_stderr_line_in_json(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=10, licence="free",
                   secret_end_datetime=datetime.now(UTC) + timedelta(days=30))
    result = connector("run", "--config", write_config(tmp_path, sim), "--state",
                       tmp_path / "state.json", "--output", tmp_path / "events.ndjson",
                       "--log-format", "json")
    assert result.returncode == 0, result.stderr
    records = [orjson.loads(line) for line in result.stderr.splitlines()]
    levels = {r["level"] for r in records}
    assert levels <= {"info", "warning"}
    assert any("client secret expires" in r["message"] for r in records)
    summary = next(r for r in records if "summary" in r)
    assert summary["summary"]["events"] == 10


def test_debug_logs_never_show_the_secret(make_sim: MakeSim, tmp_path: Path) -> None:
    config = write_config(tmp_path, make_sim(users=5), client_secret=SENTINEL)
    result = connector("--debug", "run", "--config", config, "--state", tmp_path / "state.json",
                       "--output", tmp_path / "events.ndjson")
    assert result.returncode == 1
    assert "AADSTS7000215" in result.stderr
    assert SENTINEL not in result.stderr + result.stdout


# --- progress ----------------------------------------------------------------------------------

def _run_with_terminal_stderr(args: list[str]) -> tuple[int, str]:
    """Run the connector with stderr on a pseudo-terminal, as in an interactive shell."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "connector", *args], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(controller, 4096)
            except OSError:  # the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    code = process.wait(timeout=120)
    reader.join(timeout=10)
    os.close(controller)
    return code, b"".join(chunks).decode(errors="replace")


def test_a_run_on_a_terminal_redraws_a_progress_line_in_place(make_sim: MakeSim,
                                                              tmp_path: Path) -> None:
    sim = make_sim(users=300, latency=0.02)
    code, stderr = _run_with_terminal_stderr([
        "run", "--config", str(write_config(tmp_path, sim)), "--state",
        str(tmp_path / "state.json"), "--output", str(tmp_path / "events.ndjson")])
    assert code == 0, stderr
    assert "\r\x1b[K" in stderr
    assert "users 300 listed | events 300 delivered" in stderr
    assert "300 events from 300 users listed" in stderr


def test_a_run_off_a_terminal_draws_no_progress_line(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(users=30)
    result = connector("run", "--config", write_config(tmp_path, sim), "--state",
                       tmp_path / "state.json", "--output", tmp_path / "events.ndjson")
    assert result.returncode == 0
    assert "\x1b[K" not in result.stderr
    assert "listed |" not in result.stderr


def test_a_bad_configuration_still_writes_a_summary_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tenant_id": "contoso.onmicrosoft.com", "client_id": "app",
                                  "client_secret": SENTINEL}))
    summary_path = tmp_path / "summary.json"
    result = connector("run", "--config", config, "--state", tmp_path / "state.json",
                       "--output", "-", "--summary-json", summary_path)
    summary = json.loads(summary_path.read_text())
    assert result.returncode == 2
    assert summary["completed"] is False
    assert "client_id: must be a GUID" in summary["error"]
    assert SENTINEL not in summary_path.read_text()
