"""`connector test` names Directory.Read.All as optional for sign-ins and says when it helps.

Microsoft's List signIns page names Directory.Read.All as the higher-privileged alternative to
AuditLog.Read.All (older versions of the page required both). Against the simulated tenant over
TLS; the check's text is what an operator reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from connector.config import load_settings
from connector.diagnostics import Check, Diagnosis, diagnose, render_text
from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph

MakeSim = Callable[..., SimulatedGraph]
LABEL = "Directory.Read.All (optional, for sign-ins)"


def _diagnosis(sim: SimulatedGraph, **overrides: Any) -> Diagnosis:
    return asyncio.run(diagnose(load_settings(sim.connector_config(**overrides), env={})))


def _row(diagnosis: Diagnosis) -> Check:
    return next(c for c in diagnosis.checks if c.id == "permission:Directory.Read.All")


def test_with_audit_log_read_all_directory_read_all_is_listed_as_not_needed(
        make_sim: MakeSim) -> None:
    diagnosis = _diagnosis(make_sim(users=5, licence="P2"))
    row = _row(diagnosis)
    assert (row.name, row.status) == (LABEL, "ok")
    assert "not needed while AuditLog.Read.All is" in row.detail
    assert "403 Authorization_RequestDenied" in row.detail  # when it helps
    text = render_text(diagnosis)
    assert LABEL in text and "not needed while AuditLog.Read.All is" in text
    assert diagnosis.verdict == "ready"


def test_without_either_permission_it_says_what_directory_read_all_would_unlock(
        make_sim: MakeSim) -> None:
    sim = make_sim(users=5, licence="P2",
                   permissions=DEFAULT_PERMISSIONS - {"AuditLog.Read.All"})
    row = _row(_diagnosis(sim))
    assert (row.name, row.status) == (LABEL, "unavailable")
    assert "would unlock: Sign-in logs" in row.detail


def test_when_granted_it_is_simply_ok(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, licence="P2", permissions=DEFAULT_PERMISSIONS | {"Directory.Read.All"})
    row = _row(_diagnosis(sim))
    assert (row.name, row.status, row.detail) == (LABEL, "ok", "")
