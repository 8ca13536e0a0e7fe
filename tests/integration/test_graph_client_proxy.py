"""Through a TLS-inspecting network: HTTPS_PROXY for login and Graph alike, over real sockets."""

from __future__ import annotations

import pytest

from connector.plugin import EntraIdUserInventory
from entrasim import SimulatedGraph, TenantSpec
from tests.unit.test_auth import ConnectProxy


def test_a_whole_collection_goes_through_the_https_proxy_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = ConnectProxy()
    try:
        with SimulatedGraph(TenantSpec(seed=37, users=60, licence="free")) as sim:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.delenv("NO_PROXY", raising=False)
            monkeypatch.delenv("no_proxy", raising=False)
            plugin = EntraIdUserInventory(sim.connector_config(), None)
            events = sum(len(batch.events) for batch in plugin.batches())
            target = sim.url.removeprefix("https://")
    finally:
        proxy.close()
    assert events == 60
    assert proxy.targets and set(proxy.targets) == {target}
    assert len(proxy.targets) >= 2  # the token request and Graph each opened a tunnel
