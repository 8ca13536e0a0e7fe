"""Credentials and TLS trust for the login endpoint and Microsoft Graph.

Transport facts this module relies on (azure-core 1.41, aiohttp 3, httpx 0.28, checked in their
source and by tests/unit/test_auth.py over real sockets):
- `connection_verify=PATH` reaches azure-core's `AioHttpTransport`, which builds
  `ssl.create_default_context(cafile=PATH)` per request: only that bundle is trusted.
- `AioHttpTransport` opens its aiohttp session with `trust_env=True`, so the token request
  honours `HTTPS_PROXY` / `NO_PROXY`; an `httpx.AsyncClient` does the same by default
  (`trust_env=True`), and gives the context from `ssl_context()` to its proxy transports too.
"""

from __future__ import annotations

import ssl
from datetime import datetime

from azure.identity.aio import CertificateCredential, ClientSecretCredential

from connector.clouds import Cloud
from connector.config import Settings, client_certificate
from connector.errors import ConfigError

Credential = ClientSecretCredential | CertificateCredential


def build_credential(settings: Settings, cloud: Cloud) -> Credential:
    """An async azure-identity credential for the app, on the cloud's login endpoint.

    The caller owns it: close it (`await credential.close()` or `async with`) when done.
    """
    options: dict[str, str] = {"authority": cloud.authority_host}
    if settings.ca_bundle is not None:
        options["connection_verify"] = str(settings.ca_bundle)
    if settings.client_secret is not None:
        return ClientSecretCredential(
            settings.tenant_id,
            settings.client_id,
            settings.client_secret.get_secret_value(),
            **options,
        )
    if settings.certificate_path is None:
        raise ConfigError([("client_secret or certificate_path", "set exactly one of them")])
    password = settings.certificate_password
    return CertificateCredential(
        settings.tenant_id,
        settings.client_id,
        str(settings.certificate_path),
        password=password.get_secret_value() if password is not None else None,
        **options,
    )


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS context trusting only `ca_bundle`, for the Graph httpx client (`verify=`).

    None means "use the default trust store". It matches what `build_credential` gives
    azure-core, so login and Graph trust the same certificates.
    """
    if settings.ca_bundle is None:
        return None
    return ssl.create_default_context(cafile=str(settings.ca_bundle))


def certificate_expiry(settings: Settings) -> datetime | None:
    """When the client certificate stops working (UTC), or None for a client secret.

    Raises ConfigError if the certificate can no longer be read (changed since start-up).
    """
    if settings.certificate_path is None:
        return None
    password = settings.certificate_password
    try:
        certificate = client_certificate(
            settings.certificate_path, password.get_secret_value() if password is not None else None
        )
    except ValueError as exc:
        raise ConfigError([("certificate_path", str(exc))]) from None
    return certificate.not_valid_after_utc
