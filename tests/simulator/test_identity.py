"""The identity platform's client-credentials grant and Graph's bearer-token checks, driven by
the real azure-identity credentials and plain HTTPS."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import CertificateCredential, ClientSecretCredential

from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, make_client_certificate
from tests.simulator.graph_client import GraphClient, MakeSim, fetch_token, ssl_context, token_form


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def _post_token(sim: SimulatedGraph, tenant: str | None = None, **form: str) -> httpx.Response:
    url = sim.token_url if tenant is None else f"{sim.url}/{tenant}/oauth2/v2.0/token"
    with httpx.Client(verify=ssl_context(sim)) as client:
        return client.post(url, data=token_form(sim, **form))


def test_client_secret_credential_gets_a_jwt_with_the_granted_roles(sim_p2: SimulatedGraph) -> None:
    async def get() -> str:
        async with ClientSecretCredential(sim_p2.spec.tenant_id, sim_p2.spec.client_id, sim_p2.spec.client_secret,
                                          authority=sim_p2.url, connection_verify=sim_p2.ca_path) as cred:
            return (await cred.get_token(sim_p2.scope)).token

    claims = _claims(asyncio.run(get()))
    assert set(claims["roles"]) == DEFAULT_PERMISSIONS
    assert claims["tid"] == sim_p2.spec.tenant_id
    assert claims["appid"] == sim_p2.spec.client_id
    assert isinstance(claims["exp"], int) and claims["exp"] > time.time()


def test_a_wrong_secret_is_invalid_client_7000215(sim_p2: SimulatedGraph) -> None:
    reply = _post_token(sim_p2, client_secret="not-the-secret")
    body = reply.json()
    assert reply.status_code == 401
    assert body["error"] == "invalid_client" and body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    assert sim_p2.spec.client_secret not in reply.text


def test_the_sdk_credential_reports_a_wrong_secret_as_an_authentication_error(sim_p2: SimulatedGraph) -> None:
    async def get() -> None:
        async with ClientSecretCredential(sim_p2.spec.tenant_id, sim_p2.spec.client_id, "wrong",
                                          authority=sim_p2.url, connection_verify=sim_p2.ca_path) as cred:
            await cred.get_token(sim_p2.scope)

    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        asyncio.run(get())


def test_an_expired_secret_is_refused_with_7000222(make_sim: MakeSim) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) - timedelta(days=1))
    reply = _post_token(sim)
    assert reply.status_code == 401 and reply.json()["error_codes"] == [7000222]


def test_an_unknown_tenant_is_refused_with_90002(sim_p2: SimulatedGraph) -> None:
    reply = _post_token(sim_p2, tenant="11111111-2222-3333-4444-555555555555")
    assert reply.status_code == 400 and reply.json()["error_codes"] == [90002]


def test_the_tenant_may_be_named_by_its_domain(sim_p2: SimulatedGraph) -> None:
    assert _post_token(sim_p2, tenant=sim_p2.spec.domain).status_code == 200


def test_an_unknown_client_id_is_refused_with_700016(sim_p2: SimulatedGraph) -> None:
    reply = _post_token(sim_p2, client_id="99999999-9999-9999-9999-999999999999")
    assert reply.status_code == 400
    assert reply.json()["error"] == "unauthorized_client" and reply.json()["error_codes"] == [700016]


def test_a_scope_without_default_suffix_is_invalid_scope(sim_p2: SimulatedGraph) -> None:
    reply = _post_token(sim_p2, scope=sim_p2.url + "/User.Read.All")
    assert reply.status_code == 400 and reply.json()["error"] == "invalid_scope"


def _certificate_sim(make_sim: MakeSim, tmp_path: Path, **cert_args: object) -> tuple[SimulatedGraph, Path]:
    cert = make_client_certificate(**cert_args)  # type: ignore[arg-type]
    pem = tmp_path / "connector.pem"
    pem.write_bytes(cert.pem)
    return make_sim(users=5, certificate_pem=cert.cert_pem), pem


def _certificate_token(sim: SimulatedGraph, pem: Path) -> str:
    async def get() -> str:
        async with CertificateCredential(sim.spec.tenant_id, sim.spec.client_id, str(pem),
                                         authority=sim.url, connection_verify=sim.ca_path) as cred:
            return (await cred.get_token(sim.scope)).token

    return asyncio.run(get())


def test_certificate_credential_gets_a_token(make_sim: MakeSim, tmp_path: Path, graph: GraphClient) -> None:
    sim, pem = _certificate_sim(make_sim, tmp_path)
    token = _certificate_token(sim, pem)
    assert _claims(token)["appidacr"] == "2"
    assert graph(sim, token=token).get("/users").status_code == 200


def test_an_unregistered_certificate_is_refused_with_700027(make_sim: MakeSim, tmp_path: Path) -> None:
    sim, _registered = _certificate_sim(make_sim, tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(make_client_certificate("someone else").pem)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        _certificate_token(sim, other)


def test_an_expired_certificate_is_refused(make_sim: MakeSim, tmp_path: Path) -> None:
    sim, pem = _certificate_sim(make_sim, tmp_path, not_after=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(ClientAuthenticationError, match="expired"):
        _certificate_token(sim, pem)


def test_graph_refuses_a_request_without_a_token(sim_p2: SimulatedGraph) -> None:
    with httpx.Client(verify=ssl_context(sim_p2)) as client:
        reply = client.get(sim_p2.url + "/v1.0/users")
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in reply.headers


def test_graph_refuses_a_forged_token(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    genuine = fetch_token(sim_p2)
    head, payload, _sig = genuine.split(".")
    reply = graph(sim_p2, token=f"{head}.{payload}.forged").get("/users")
    assert reply.status_code == 401


def test_tokens_expire_after_their_lifetime(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5, token_lifetime_seconds=1)
    client = graph(sim)
    assert client.get("/users").status_code == 200
    time.sleep(1.1)
    expired = client.get("/users")
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]["message"]


def test_revoked_tokens_fail_until_a_new_one_is_fetched(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5)
    client = graph(sim)
    sim.identity.revoke_all()
    assert client.get("/users").status_code == 401
    assert graph(sim).get("/users").status_code == 200


def test_the_secret_never_appears_in_the_simulator_repr(sim_p2: SimulatedGraph) -> None:
    assert sim_p2.spec.client_secret not in repr(sim_p2.spec)
    assert sim_p2.spec.client_secret not in repr(sim_p2)
