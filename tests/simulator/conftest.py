"""Fixtures for the simulator's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from entrasim import SimulatedGraph
from tests.simulator.graph_client import GraphClient, fetch_token, ssl_context


@pytest.fixture()
def graph() -> Iterator[GraphClient]:
    """`graph(sim)` -> an httpx client on `sim.url/v1.0` with a valid bearer token."""
    clients: list[httpx.Client] = []

    def make(sim: SimulatedGraph, *, token: str | None = None) -> httpx.Client:
        bearer = token if token is not None else fetch_token(sim)
        client = httpx.Client(base_url=sim.url + "/v1.0", verify=ssl_context(sim),
                              headers={"Authorization": f"Bearer {bearer}"}, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
