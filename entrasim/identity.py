"""The Microsoft identity platform's client-credentials grant, as azure-identity calls it.

`Identity.token(...)` answers `POST /{tenant}/oauth2/v2.0/token` with Entra's real error shapes
(AADSTS codes) for every refusal the connector must explain to an operator: unknown tenant,
unknown client, wrong or expired secret, unregistered or expired certificate, bad signature.
`Identity.authenticate(...)` is what Graph does with the bearer token on each request.

Access tokens are JWT-shaped (base64url header.payload.signature) with `roles`, `tid`,
`appid` and `exp` claims; they are signed with a per-server key and remembered, so an unknown,
tampered, expired or revoked token is refused with 401 `InvalidAuthenticationToken`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from entrasim.odata import GraphError
from entrasim.spec import TenantSpec
from entrasim.tls import thumbprint

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Claims:
    tid: str
    appid: str
    roles: frozenset[str]
    exp: float
    aud: str


@dataclass(frozen=True, slots=True)
class TokenReply:
    status: int
    body: dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Identity:
    """Issues and checks access tokens for one tenant and its one app registration."""

    def __init__(self, spec: TenantSpec, audiences: frozenset[str] = frozenset()) -> None:
        self.spec = spec
        self.token_lifetime_seconds = spec.token_lifetime_seconds
        self.audiences = set(audiences) | {"https://graph.microsoft.com", GRAPH_APP_ID}
        self._key = os.urandom(32)
        self._issued: dict[str, Claims] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self.tokens_issued = 0
        self._cert = (
            x509.load_pem_x509_certificate(spec.certificate_pem) if spec.certificate_pem else None
        )

    # ---- the token endpoint --------------------------------------------------------
    def token(self, tenant_segment: str, form: Mapping[str, str], token_url: str) -> TokenReply:
        spec = self.spec
        known_tenants = {spec.tenant_id.lower(), spec.domain.lower(), *(d.lower() for d in spec.custom_domains)}
        if tenant_segment.lower() not in known_tenants:
            return self._error(400, "invalid_request", 90002,
                f"Tenant '{tenant_segment}' not found. Check to make sure you have the correct tenant ID "
                "and are signing into the correct cloud. Check with your subscription administrator, "
                "this may happen if there are no active subscriptions for the tenant.")
        if form.get("grant_type") != "client_credentials":
            return self._error(400, "unsupported_grant_type", 70003,
                "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        if client_id.lower() != spec.client_id.lower():
            return self._error(400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{spec.display_name}'. This can happen if the application has not been installed by "
                "the administrator of the tenant or consented to by any user in the tenant. You may "
                "have sent your authentication request to the wrong tenant.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            return self._error(400, "invalid_scope", 1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have "
                "a scope value with /.default suffixed to the resource identifier (application ID URI).")
        now = time.time()
        if "client_secret" in form:
            if not hmac.compare_digest(form["client_secret"].encode(), spec.client_secret.encode()):
                return self._error(401, "invalid_client", 7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
            end = spec.secret_end_datetime
            if end is not None and end.timestamp() <= now:
                return self._error(401, "invalid_client", 7000222,
                    f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
                    "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider "
                    "using certificate credentials for added security: https://aka.ms/certCreds.")
            acr = "1"
        elif form.get("client_assertion_type") == JWT_BEARER and "client_assertion" in form:
            refusal = self._check_assertion(form["client_assertion"], token_url, now)
            if refusal is not None:
                return refusal
            acr = "2"
        else:
            return self._error(401, "invalid_client", 7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the "
                "'client_credentials' grant type.")
        audience = scope[: -len("/.default")]
        return TokenReply(200, self._issue(audience, acr, now))

    def _check_assertion(self, assertion: str, token_url: str, now: float) -> TokenReply | None:
        def invalid(reason: str) -> TokenReply:
            return self._error(401, "invalid_client", 700027,
                f"Client assertion contains an invalid signature. [Reason - {reason}]")

        try:
            head_b64, payload_b64, sig_b64 = assertion.split(".")
            header = orjson.loads(b64url_decode(head_b64))
            payload = orjson.loads(b64url_decode(payload_b64))
            signature = b64url_decode(sig_b64)
        except (ValueError, orjson.JSONDecodeError):
            return self._error(400, "invalid_request", 50027, "JWT token is invalid or malformed.")
        cert = self._cert
        presented = header.get("x5t#S256") or header.get("x5t") or ""
        algorithm = "sha256" if "x5t#S256" in header else "sha1"
        registered = thumbprint(self.spec.certificate_pem, algorithm) if self.spec.certificate_pem else None
        if cert is None or presented.rstrip("=") != registered:
            return invalid(f"The key was not found., Thumbprint of key used by client: '{presented}'")
        end = self.spec.certificate_end_datetime or cert.not_valid_after_utc
        if end.timestamp() <= now:
            return invalid("The key used is expired.")
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return invalid("The key type is not supported.")
        signed = f"{head_b64}.{payload_b64}".encode()
        alg = header.get("alg")
        try:
            if alg == "PS256":
                key.verify(signature, signed, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
            elif alg == "RS256":
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            else:
                return invalid(f"The algorithm '{alg}' is not supported.")
        except InvalidSignature:
            return invalid("The provided signature value did not match the expected signature value.")
        if payload.get("iss") != self.spec.client_id or payload.get("sub") != self.spec.client_id:
            return self._error(401, "invalid_client", 700023,
                "Client assertion audience claim does not match Realm issuer.")
        if not payload.get("nbf", 0) - 300 <= now <= payload.get("exp", 0) + 300:
            return self._error(401, "invalid_client", 700024,
                "Client assertion is not within its valid time range.")
        aud = str(payload.get("aud", ""))
        if aud.rstrip("/") != token_url.rstrip("/"):
            return self._error(401, "invalid_client", 700021,
                f"Client assertion application identifier doesn't match 'client_id' parameter. [{aud}]")
        return None

    def _issue(self, audience: str, acr: str, now: float) -> dict[str, Any]:
        spec = self.spec
        lifetime = self.token_lifetime_seconds
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{spec.tenant_id}/",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + lifetime),
            "app_displayname": "OCSF connector",
            "appid": spec.client_id,
            "appidacr": acr,
            "idp": f"https://sts.windows.net/{spec.tenant_id}/",
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{spec.client_id}")),
            "roles": sorted(spec.permissions),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{spec.client_id}")),
            "tid": spec.tenant_id,
            "uti": b64url(os.urandom(16)),
            "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "HS256", "kid": "entrasim"}
        signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}"
        signature = b64url(hmac.new(self._key, signing_input.encode(), hashlib.sha256).digest())
        token = f"{signing_input}.{signature}"
        with self._lock:
            self._issued[token] = Claims(spec.tenant_id, spec.client_id, spec.permissions, now + lifetime, audience)
            self.tokens_issued += 1
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}

    def _error(self, status: int, error: str, code: int, text: str) -> TokenReply:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return TokenReply(status, {
            "error": error,
            "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(code),
        })

    # ---- what Graph does with the bearer token --------------------------------------
    def authenticate(self, authorization: str | None) -> Claims:
        if not authorization or not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            raise _unauthenticated("Access token is empty.")
        token = authorization[7:].strip()
        with self._lock:
            claims = self._issued.get(token)
        if claims is None:
            raise _unauthenticated("Access token validation failure. Invalid signature." if token.count(".") == 2
                                   else "IDX14100: JWT is not well formed, there are no dots (.).")
        if claims.exp <= time.time():
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        if token in self._revoked:
            raise _unauthenticated("Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
        if claims.aud.rstrip("/") not in self.audiences:
            raise _unauthenticated("Access token validation failure. Invalid audience.")
        return claims

    def revoke_all(self) -> None:
        """Every token issued so far stops working; new tokens work (as after a CAE event)."""
        with self._lock:
            self._revoked.update(self._issued)


def _unauthenticated(message: str) -> GraphError:
    return GraphError(401, "InvalidAuthenticationToken", message, {
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                            f'client_id="{GRAPH_APP_ID}"',
    })
