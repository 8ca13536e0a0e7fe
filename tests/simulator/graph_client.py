"""A plain HTTPS client for the simulator's own tests: real sockets, real TLS, the CA the
simulator wrote, and a token from its token endpoint."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

import httpx

from entrasim import SimulatedGraph

GraphClient = Callable[..., httpx.Client]
MakeSim = Callable[..., SimulatedGraph]


def ssl_context(sim: SimulatedGraph) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=sim.ca_path)


def token_form(sim: SimulatedGraph, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.spec.client_id,
        "client_secret": sim.spec.client_secret,
        "scope": sim.scope,
    }
    form.update(overrides)
    return form


def fetch_token(sim: SimulatedGraph) -> str:
    with httpx.Client(verify=ssl_context(sim)) as client:
        reply = client.post(sim.token_url, data=token_form(sim))
        reply.raise_for_status()
        token: str = reply.json()["access_token"]
        return token


def list_all(client: httpx.Client, url: str, *, params: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every item of a listing, following `@odata.nextLink` (which carries the query)."""
    items: list[dict[str, Any]] = []
    reply = client.get(url, params=params, headers=headers)
    while True:
        assert reply.status_code == 200, reply.text
        page = reply.json()
        items.extend(page["value"])
        if "@odata.nextLink" not in page:
            return items
        reply = client.get(page["@odata.nextLink"], headers=headers)
