"""Credentials built from Settings obtain tokens from the simulated identity platform (entrasim),
which checks secrets, certificate thumbprints and assertion signatures the way Entra ID does."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from connector.auth import build_credential
from connector.clouds import resolve
from connector.config import Settings, load_settings
from entrasim import SimulatedGraph, make_client_certificate

MakeSim = Callable[..., SimulatedGraph]


def token_claims(settings: Settings) -> dict[str, Any]:
    cloud = resolve(settings)

    async def fetch() -> str:
        async with build_credential(settings, cloud) as credential:
            return (await credential.get_token(cloud.scope)).token

    payload = asyncio.run(fetch()).split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def test_client_secret_from_the_simulators_config_gets_a_graph_token(make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    claims = token_claims(load_settings(sim.connector_config(), env={}))
    assert claims["tid"] == sim.spec.tenant_id
    assert claims["appid"] == sim.spec.client_id
    assert claims["aud"] == sim.url
    assert "User.Read.All" in claims["roles"]


def test_tenant_given_as_its_domain_name_gets_a_token(make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    settings = load_settings(sim.connector_config(tenant_id=sim.spec.domain), env={})
    assert token_claims(settings)["tid"] == sim.spec.tenant_id


def test_client_secret_from_the_environment_gets_a_token(make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    config = sim.connector_config()
    secret = config.pop("client_secret")
    settings = load_settings(config, env={"ENTRA_CLIENT_SECRET": secret})
    assert token_claims(settings)["appid"] == sim.spec.client_id


def test_registered_certificate_gets_a_token(make_sim: MakeSim, tmp_path: Path) -> None:
    certificate = make_client_certificate()
    sim = make_sim(users=5, certificate_pem=certificate.cert_pem)
    pem = tmp_path / "client.pem"
    pem.write_bytes(certificate.pem)
    settings = load_settings(sim.connector_config(certificate_path=pem), env={})
    assert token_claims(settings)["appid"] == sim.spec.client_id


def test_unregistered_certificate_is_refused_with_the_aadsts_code(
    make_sim: MakeSim, tmp_path: Path
) -> None:
    sim = make_sim(users=5, certificate_pem=make_client_certificate().cert_pem)
    pem = tmp_path / "other.pem"
    pem.write_bytes(make_client_certificate().pem)
    settings = load_settings(sim.connector_config(certificate_path=pem), env={})
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        token_claims(settings)


def test_wrong_secret_is_refused_without_repeating_it(make_sim: MakeSim) -> None:
    sim = make_sim(users=5)
    wrong = "wrong~Secret-value-0123456789"
    settings = load_settings(sim.connector_config(client_secret=wrong), env={})
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215") as caught:
        token_claims(settings)
    assert wrong not in str(caught.value)
