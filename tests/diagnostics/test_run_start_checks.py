"""The plugin's start-of-run checks: a runtime (not only the CLI) hears about an expiring
credential from every run's logs, once, before the data stops."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.graph.client import AuthenticationFailed
from connector.plugin import EntraIdUserInventory
from entrasim import SimulatedGraph, make_client_certificate

MakeSim = Callable[..., SimulatedGraph]


def collect(plugin: EntraIdUserInventory) -> int:
    return sum(len(batch.events) for batch in plugin.batches())


def expiry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and " expires on " in r.getMessage()]


def test_a_secret_expiring_soon_is_logged_once_as_a_warning(make_sim: MakeSim,
                                                            caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    sim = make_sim(users=20, secret_end_datetime=datetime.now(UTC) + timedelta(days=30))
    plugin = EntraIdUserInventory(sim.connector_config())
    with caplog.at_level(logging.INFO, logger="connector"):
        assert collect(plugin) == 20
    warnings = expiry_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].startswith("client secret expires on ")
    assert "in 30 days (within the 90-day warning window)" in warnings[0]
    assert plugin.warnings == warnings


def test_a_secret_far_from_expiry_is_logged_as_information_only(
        make_sim: MakeSim, caplog: pytest.LogCaptureFixture) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) + timedelta(days=200))
    plugin = EntraIdUserInventory(sim.connector_config())
    with caplog.at_level(logging.INFO, logger="connector"):
        collect(plugin)
    assert expiry_warnings(caplog) == []
    assert any("client secret expires on" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    assert plugin.warnings == []


def test_a_certificate_close_to_expiry_is_logged_as_a_warning(
        make_sim: MakeSim, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    certificate = make_client_certificate(valid_days=10)
    sim = make_sim(users=5, certificate_pem=certificate.cert_pem)
    pem = tmp_path / "connector.pem"
    pem.write_bytes(certificate.pem)
    plugin = EntraIdUserInventory(sim.connector_config(certificate_path=pem))
    with caplog.at_level(logging.INFO, logger="connector"):
        assert collect(plugin) == 5
    warnings = expiry_warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith("certificate expires on ")


def test_a_refused_login_explains_itself_to_the_runtime(make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    plugin = EntraIdUserInventory(sim.connector_config(client_secret="not-the-secret"))
    with pytest.raises(AuthenticationFailed) as failure:
        collect(plugin)
    message = str(failure.value)
    assert "AADSTS7000215: wrong client secret" in message
    assert "fix: copy the secret's Value" in message
