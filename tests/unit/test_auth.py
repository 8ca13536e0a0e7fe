"""Credentials and TLS trust, against a real token endpoint on loopback (TLS, private CA).

The endpoint here is deliberately tiny: it records what the credential sent, so the tests can
check the request itself (the tenant in the path, the scope, a correctly signed assertion), the
CA bundle's effect, and the route through an HTTPS_PROXY.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import trustme
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity.aio import CertificateCredential, ClientSecretCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from connector.auth import Credential, build_credential, certificate_expiry, ssl_context
from connector.clouds import Cloud, resolve
from connector.config import Settings, load_settings

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "0c5b2a41-9d6e-4e0b-8b8e-2a3c1f9d7e11"
SECRET = "client-secret-for-test"


class TokenEndpoint:
    """Answers every POST with a bearer token and every GET with `{}`; records the requests."""

    def __init__(self, ca: trustme.CA) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                endpoint.requests.append(("POST", self.path, form))
                self.reply({"token_type": "Bearer", "expires_in": 3600, "access_token": "t0ken"})

            def do_GET(self) -> None:
                endpoint.requests.append(("GET", self.path, {}))
                self.reply({})

            def reply(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ConnectProxy:
    """A minimal HTTP CONNECT proxy; `targets` lists the host:port of each tunnel opened."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                proxy.targets.append(target)
                host, port = target.rsplit(":", 1)
                with socket.create_connection((host, int(port))) as upstream:
                    self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    relay(self.request, upstream)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def relay(a: socket.socket, b: socket.socket) -> None:
    while True:
        readable, _, _ = select.select([a, b], [], [], 10)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(key_type=trustme.KeyType.RSA)


@pytest.fixture
def endpoint(ca: trustme.CA) -> Iterator[TokenEndpoint]:
    server = TokenEndpoint(ca)
    yield server
    server.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    for name in ("https_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", server.url)
    yield server
    server.close()


@pytest.fixture
def ca_bundle(tmp_path: Path, ca: trustme.CA) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def secret_settings(endpoint: TokenEndpoint, **changes: Any) -> Settings:
    config = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "authority_host": endpoint.url,
        **changes,
    }
    return load_settings({k: v for k, v in config.items() if v is not None}, env={})


def get_token(credential: Credential, cloud: Cloud) -> str:
    async def fetch() -> str:
        async with credential:
            return (await credential.get_token(cloud.scope)).token

    return asyncio.run(fetch())


def test_secret_credential_gets_a_token_from_the_clouds_authority(
    endpoint: TokenEndpoint, ca_bundle: Path
) -> None:
    settings = secret_settings(endpoint, ca_bundle=str(ca_bundle))
    cloud = resolve(settings)
    credential = build_credential(settings, cloud)
    assert isinstance(credential, ClientSecretCredential)
    assert get_token(credential, cloud) == "t0ken"
    [(method, path, form)] = endpoint.requests
    assert (method, path) == ("POST", f"/{TENANT}/oauth2/v2.0/token")
    assert form["grant_type"] == "client_credentials"
    assert (form["client_id"], form["client_secret"]) == (CLIENT, SECRET)
    assert form["scope"] == "https://graph.microsoft.com/.default"


def test_certificate_credential_sends_an_assertion_signed_by_the_certificate_key(
    endpoint: TokenEndpoint, ca: trustme.CA, ca_bundle: Path, tmp_path: Path
) -> None:
    leaf = ca.issue_cert("connector.example", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    settings = secret_settings(
        endpoint, client_secret=None, certificate_path=str(pem), ca_bundle=str(ca_bundle)
    )
    credential = build_credential(settings, resolve(settings))
    assert isinstance(credential, CertificateCredential)
    assert get_token(credential, resolve(settings)) == "t0ken"

    [(_, _, form)] = endpoint.requests
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header, payload, signature = form["client_assertion"].split(".")
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    decoded = json.loads(unpadded_b64decode(header))
    assert decoded["alg"] == "PS256"
    assert (
        unpadded_b64decode(decoded["x5t#S256"])
        == hashlib.sha256(certificate.public_bytes(Encoding.DER)).digest()
    )
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(  # raises InvalidSignature on a bad signature
        unpadded_b64decode(signature),
        f"{header}.{payload}".encode(),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    assert json.loads(unpadded_b64decode(payload))["sub"] == CLIENT


def unpadded_b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_private_ca_is_not_trusted_without_ca_bundle(endpoint: TokenEndpoint) -> None:
    settings = secret_settings(endpoint)
    with pytest.raises((ServiceRequestError, ClientAuthenticationError)):
        get_token(build_credential(settings, resolve(settings)), resolve(settings))
    assert endpoint.requests == []


def test_token_request_goes_through_the_https_proxy_from_the_environment(
    endpoint: TokenEndpoint, ca_bundle: Path, proxy: ConnectProxy
) -> None:
    settings = secret_settings(endpoint, ca_bundle=str(ca_bundle))
    assert get_token(build_credential(settings, resolve(settings)), resolve(settings)) == "t0ken"
    assert proxy.targets == [endpoint.url.removeprefix("https://")]


def graph_get(url: str, verify: ssl.SSLContext | bool) -> int:
    async def fetch() -> int:
        async with httpx.AsyncClient(verify=verify) as client:
            return (await client.get(url)).status_code

    return asyncio.run(fetch())


def test_ssl_context_lets_an_httpx_client_trust_the_ca_bundle(
    endpoint: TokenEndpoint, ca_bundle: Path
) -> None:
    context = ssl_context(secret_settings(endpoint, ca_bundle=str(ca_bundle)))
    assert context is not None
    assert graph_get(f"{endpoint.url}/v1.0/users", context) == 200


def test_httpx_with_default_trust_refuses_the_private_ca(endpoint: TokenEndpoint) -> None:
    assert ssl_context(secret_settings(endpoint)) is None
    with pytest.raises(httpx.ConnectError):
        graph_get(f"{endpoint.url}/v1.0/users", True)


def test_httpx_client_with_the_ssl_context_goes_through_the_https_proxy(
    endpoint: TokenEndpoint, ca_bundle: Path, proxy: ConnectProxy
) -> None:
    context = ssl_context(secret_settings(endpoint, ca_bundle=str(ca_bundle)))
    assert context is not None
    assert graph_get(f"{endpoint.url}/v1.0/users", context) == 200
    assert proxy.targets == [endpoint.url.removeprefix("https://")]


def test_certificate_expiry_is_the_certificates_not_after(
    endpoint: TokenEndpoint, ca: trustme.CA, tmp_path: Path
) -> None:
    not_after = dt.datetime(2031, 5, 17, 12, 30, tzinfo=dt.UTC)
    leaf = ca.issue_cert("connector.example", key_type=trustme.KeyType.RSA, not_after=not_after)
    pem = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(pem))
    settings = secret_settings(endpoint, client_secret=None, certificate_path=str(pem))
    assert certificate_expiry(settings) == not_after


def test_certificate_expiry_is_none_for_a_client_secret(endpoint: TokenEndpoint) -> None:
    assert certificate_expiry(secret_settings(endpoint)) is None
