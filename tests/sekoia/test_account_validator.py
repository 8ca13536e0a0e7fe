"""Sekoia.io's "Test connector" button: `main.py validate_module_configuration` through the SDK."""

from __future__ import annotations

import json

from tests.conftest import MakeSim
from tests.sekoia.conftest import VALIDATOR, StartModule, wait_for
from tests.sekoia.platform import FakeSekoia


def finished(platform: FakeSekoia) -> dict[str, object]:
    done = [c for c in platform.callbacks if c.get("status") == "finished"]
    assert len(done) == 1, platform.callbacks
    return done[0]


def test_a_wrong_secret_fails_with_the_aadsts_code_its_meaning_and_the_fix(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    run = start_module(sim.connector_config(client_secret="not-the-secret-4242"),
                       command=VALIDATOR)
    run.process.wait(timeout=60)
    wait_for(lambda: bool(platform.callbacks), 5, "the validator's result")
    assert platform.callbacks[0] == {"status": "running"}
    result = finished(platform)
    assert result["results"] == {"success": False}
    error = str(result["error"])
    assert "AADSTS7000215" in error
    assert "wrong client secret" in error
    assert "Secret ID" in error  # the fix: the secret's Value, not its ID
    everything = json.dumps(platform.callbacks) + run.text()
    assert "not-the-secret-4242" not in everything


def test_a_good_configuration_succeeds(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5, licence="P2")
    run = start_module(sim.connector_config(), command=VALIDATOR)
    assert run.process.wait(timeout=60) == 0
    result = finished(platform)
    assert result["results"] == {"success": True}
    assert "error" not in result
    assert sim.spec.client_secret not in json.dumps(platform.callbacks) + run.text()


def test_a_bad_configuration_names_the_key(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    run = start_module(sim.connector_config(graph_endpoint="http://graph.example"),
                       command=VALIDATOR)
    run.process.wait(timeout=60)
    result = finished(platform)
    assert result["results"] == {"success": False}
    assert "graph_endpoint" in str(result["error"])
    assert "Traceback" not in str(result["error"])


def test_a_missing_required_key_is_named_not_a_crash(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    config = sim.connector_config()
    del config["tenant_id"]
    run = start_module(config, command=VALIDATOR)
    assert run.process.wait(timeout=60) == 0
    result = finished(platform)
    assert result["results"] == {"success": False}
    assert "tenant_id" in str(result["error"])
