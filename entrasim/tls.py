"""Certificates for the simulator: a throw-away CA, the loopback server certificate, and
client certificates for certificate-credential tests.

The connector must trust the simulator the way it would trust a corporate TLS proxy: through
a CA bundle it is given, never by switching verification off. So every simulator run makes a
fresh CA and writes its PEM where the caller can point `ca_bundle` at it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class ServerTls:
    """The CA (public part only is useful to clients) and a server context ready to wrap a socket."""

    ca_pem: bytes
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        with tempfile.TemporaryDirectory() as tmp:
            chain = Path(tmp) / "chain.pem"
            key = Path(tmp) / "key.pem"
            chain.write_bytes(self.cert_pem + self.ca_pem)
            key.write_bytes(self.key_pem)
            ctx.load_cert_chain(chain, key)
        return ctx


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """An app-registration certificate: `pem` (key + certificate) is what the connector loads,
    `cert_pem` is what the tenant registers."""

    pem: bytes = field(repr=False)
    cert_pem: bytes
    not_after: datetime

    @property
    def x5t(self) -> str:
        return thumbprint(self.cert_pem, "sha1")

    @property
    def x5t_s256(self) -> str:
        return thumbprint(self.cert_pem, "sha256")


def thumbprint(cert_pem: bytes, algorithm: str) -> str:
    """base64url thumbprint without padding, as it appears in a JWT `x5t` / `x5t#S256` header."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    digest = hashlib.new(algorithm, der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_server_tls(hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> ServerTls:
    """A new CA and a server certificate for `hosts`, valid from an hour ago for a week."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("entrasim test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt_names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ServerTls(
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def make_client_certificate(
    common_name: str = "entrasim connector", *, valid_days: int = 365,
    not_after: datetime | None = None,
) -> ClientCertificate:
    """A self-signed RSA certificate as an app registration would hold (Entra needs RSA)."""
    now = datetime.now(UTC)
    end = not_after or now + timedelta(days=valid_days)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(now, end) - timedelta(days=1))
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ClientCertificate(pem=key_pem + cert_pem, cert_pem=cert_pem, not_after=end)
