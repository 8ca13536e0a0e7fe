"""The Microsoft SDKs the connector uses, pointed at the simulator, work over TLS unchanged."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import orjson
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import GraphClientFactory

from entrasim import SimulatedGraph


async def _list_users_through_the_sdk(sim: SimulatedGraph) -> list[dict[str, object]]:
    credential = ClientSecretCredential(sim.spec.tenant_id, sim.spec.client_id, sim.spec.client_secret,
                                        authority=sim.url, connection_verify=sim.ca_path)
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=ssl.create_default_context(cafile=sim.ca_path)))
    try:
        adapter = GraphRequestAdapter(AzureIdentityAuthenticationProvider(credential, scopes=[sim.scope]), http)
        adapter.base_url = sim.url + "/v1.0"
        users: list[dict[str, object]] = []
        url: str | None = adapter.base_url + "/users?$select=id,userPrincipalName&$top=999"
        while url:
            info = RequestInformation()
            info.http_method = Method.GET
            info.url = url
            page = orjson.loads(await adapter.send_primitive_async(info, "bytes", {}))
            users.extend(page["value"])
            url = page.get("@odata.nextLink")
        return users
    finally:
        await http.aclose()
        await credential.close()


def test_azure_identity_and_the_graph_request_adapter_list_every_user_over_tls(sim_p2: SimulatedGraph) -> None:
    before = sim_p2.counters.snapshot().get("GET /users", {}).get("requests", 0)
    users = asyncio.run(_list_users_through_the_sdk(sim_p2))
    assert {u["id"] for u in users} == set(sim_p2.tenant.truth())
    assert sim_p2.counters.snapshot()["GET /users"]["requests"] - before == 3
