"""Files named in the configuration, read and checked at start-up.

A certificate that azure-identity would refuse an hour into a run is refused here instead, with a
message naming the key and never the key material or the password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12

_MAX_FILE_BYTES: Final = 1 << 20


def read_small_file(path: Path) -> bytes:
    """Reads a file given in the configuration, refusing devices, pipes and directories."""
    try:
        if not path.exists():
            raise ValueError("file not found")
        if not path.is_file():
            raise ValueError("is not a regular file")
        with path.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError("is larger than 1 MiB")
    return data


def client_certificate(path: Path, password: str | None) -> x509.Certificate:
    """Loads the client certificate the way azure-identity will, and returns it.

    azure-identity identifies the app by the first certificate of a PEM file (or the PKCS#12
    certificate) and signs its assertion with PS256, so the key must be RSA and must belong to
    that certificate; checking here turns an AADSTS700027 at the first token request into a
    message naming the key.
    Raises ValueError with a message that never contains key material or the password.
    """
    data = read_small_file(path)
    secret = password.encode() if password is not None else None
    cert: x509.Certificate | None
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY-----" not in data:
            raise ValueError("contains no private key (expected a PEM with key and certificate)")
        try:
            key: Any = load_pem_private_key(data, secret)
        except TypeError:
            if secret is None:
                raise ValueError(
                    "the private key is encrypted: set certificate_password "
                    "(or ENTRA_CERTIFICATE_PASSWORD)"
                ) from None
            raise ValueError(
                "certificate_password is set but the private key is not encrypted"
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            wrong = " (wrong certificate_password?)" if secret is not None else ""
            raise ValueError(f"cannot read the private key{wrong}") from None
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise ValueError("contains no PEM certificate") from None
    else:
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(data, secret)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError(
                "is neither a PEM file with key and certificate nor a readable PKCS#12 file "
                "(wrong certificate_password?)"
            ) from None
    if key is None or cert is None:
        raise ValueError("the file must contain both the private key and its certificate")
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the private key must be RSA (client assertions are signed with RSA)")
    public = cert.public_key()
    if (
        not isinstance(public, RSAPublicKey)
        or public.public_numbers() != key.public_key().public_numbers()
    ):
        raise ValueError("the private key does not belong to the (first) certificate in the file")
    return cert
