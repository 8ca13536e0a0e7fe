"""`connector test` and the start-of-run checks: can this configuration collect, what will it
leave out, and what will stop it soon.

Operators get stuck on the same few things: a permission not consented, no P1 licence, a tenant
asked for on the wrong cloud, a proxy that re-signs TLS, and a client secret that expires and
leaves a "connected" connector with no data. A yes/no connectivity test explains none of them,
so each check names what it found, what it means and what to do, for a person (`render_text`)
and for a runtime (`Diagnosis.to_json`).

A diagnosis spends a handful of requests: one token, one user, four licence probes, and the app
registration's secret end dates when `Application.Read.All` is granted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Final, Literal

from connector.auth import certificate_expiry
from connector.clouds import Cloud, resolve
from connector.config import Settings
from connector.errors import ConfigError
from connector.graph.client import AuthenticationFailed, GraphClient, GraphError, GraphUnavailable
from connector.graph.dates import parse_graph_datetime
from connector.graph.odata import NON_PREMIUM, build_url, is_refusal, odata_datetime, refusal_reason
from connector.graph.permissions import Grants
from connector.graph.sign_ins import SIGN_INS_PATH
from connector.graph.sources import REGISTRATION_REPORT
from connector.graph.throttle import Throttle
from connector.streams import registry

log = logging.getLogger(__name__)

Status = Literal["ok", "warning", "missing", "unavailable", "unknown", "failed"]
Verdict = Literal["ready", "ready_with_warnings", "cannot_run"]

# A diagnosis should answer in seconds: an unreachable Graph is the finding, not a reason to
# keep retrying for a run's 15 minutes.
DIAGNOSIS_RETRY_DEADLINE_SECONDS: Final = 10.0
# A run's own check of the credential's end date must not hold up (or double) an outage.
START_CHECK_SECONDS: Final = 30.0
RISKY_USERS: Final = "/identityProtection/riskyUsers"
SETUP_DOC: Final = "docs/setup.md"
TROUBLESHOOTING_DOC: Final = "docs/troubleshooting.md"


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. `id` is stable for machines (`token`, `permission:User.Read.All`, ...)."""

    section: str  # "configuration" | "connection" | "credential" | "permissions" | "features"
    name: str
    status: Status
    detail: str = ""
    fix: str = ""
    id: str = ""
    code: str | None = None  # AADSTS code, Graph error code, "TLS" or "NETWORK"
    evidence: str = ""  # what the server said, verbatim (Entra never echoes a secret)
    headline: str = ""  # a few words for the verdict line

    @property
    def summary(self) -> str:
        return self.headline or f"{self.name}: {self.detail}"


# --- what a login failure means -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class LoginError:
    """An AADSTS code the diagnosis explains: its plain meaning and the fix."""

    code: int
    meaning: str
    fix: str


AADSTS: Final[Mapping[int, LoginError]] = {
    e.code: e
    for e in (
        LoginError(7000215, "wrong client secret: it is not a valid secret of this app",
                   "copy the secret's Value (not its Secret ID) from the app registration's "
                   "'Certificates & secrets' into client_secret or ENTRA_CLIENT_SECRET, or create "
                   "a new secret"),
        LoginError(7000222, "the client secret has expired",
                   "create a new client secret under 'Certificates & secrets', put it in "
                   "client_secret or ENTRA_CLIENT_SECRET, then delete the expired one"),
        LoginError(7000216, "no credential was sent (neither a client secret nor a certificate)",
                   "set client_secret (or ENTRA_CLIENT_SECRET) or certificate_path"),
        LoginError(90002, "the tenant was not found on this login endpoint: a wrong tenant_id, "
                   "or a tenant that lives in another cloud",
                   "check tenant_id (the Directory (tenant) ID, or a verified domain) and the "
                   "cloud setting (usgov, usgov-dod or china for a national cloud)"),
        LoginError(900439, "the tenant belongs to a national cloud and cannot sign in on the "
                   "global endpoint (wrong cloud)",
                   "set cloud to the tenant's cloud (usgov, usgov-dod or china)"),
        LoginError(500011, "the Graph host asked for does not exist in this tenant's cloud "
                   "(wrong cloud or graph_endpoint)",
                   "set cloud to the tenant's cloud and remove graph_endpoint / authority_host "
                   "overrides that point at another cloud"),
        LoginError(700016, "the application (client_id) was not found in this tenant",
                   "check client_id (the Application (client) ID) and that the app is registered "
                   "in the tenant named by tenant_id; a new app can take a few minutes to appear"),
        LoginError(7000112, "the application is disabled in this tenant",
                   "enable the app's service principal (Enterprise applications > Properties > "
                   "'Enabled for users to sign in')"),
        LoginError(700027, "the certificate was refused: not registered on this app, expired, "
                   "or its signature does not match",
                   "upload the certificate's public part under the app registration's "
                   "'Certificates & secrets', or renew it if it has expired"),
        LoginError(700024, "the certificate-signed request is outside its validity window: "
                   "this machine's clock is wrong",
                   "synchronise the clock (NTP)"),
        LoginError(53003, "a Conditional Access policy for workload identities blocked the "
                   "sign-in (e.g. a location policy)",
                   "ask an administrator to allow this app from this network in Conditional "
                   "Access"),
        LoginError(1002012, "the token scope is not valid",
                   "remove a graph_endpoint override that is not a Microsoft Graph host"),
    )
}
_AADSTS_PATTERN = re.compile(r"AADSTS(\d+)")
_ENTRA_TEXT = re.compile(r"AADSTS\d+:\s*(.*?)(?:\s+Trace ID:|'?$)", re.DOTALL)
_TLS_MARKERS = ("certificate_verify_failed", "certificate verify failed")
_NETWORK_MARKERS = ("cannot connect", "name or service not known", "nodename nor servname",
                    "temporary failure in name resolution", "connection refused", "timed out",
                    "connecterror", "connection failed")


@dataclass(frozen=True, slots=True)
class LoginFailure:
    """A failed token request, explained."""

    code: str | None  # "AADSTS7000215", "TLS", "NETWORK" or None
    meaning: str
    fix: str
    entra_said: str = ""

    def sentence(self) -> str:
        return f"{self.code}: {self.meaning}" if self.code else self.meaning


def _is_tls_failure(text: str) -> bool:
    return any(marker in text.lower() for marker in _TLS_MARKERS)


def explain_login_failure(message: str, cloud: Cloud) -> LoginFailure:
    """What an `AuthenticationFailed` message means for this configuration."""
    said_match = _ENTRA_TEXT.search(message)
    said = " ".join(said_match.group(1).split()) if said_match else ""
    found = _AADSTS_PATTERN.search(message)
    if found is not None:
        number = int(found.group(1))
        known = AADSTS.get(number)
        code = f"AADSTS{number}"
        if known is None:
            return LoginFailure(code, "the login endpoint refused to issue a token",
                                f"look the code up: https://login.microsoftonline.com/error"
                                f"?code={number}", said)
        fix = known.fix
        if number == 90002:
            fix += f"; the connector asked {cloud.authority_host} ({cloud.name} cloud)"
        return LoginFailure(code, known.meaning, fix, said)
    host = cloud.authority_host
    if _is_tls_failure(message):
        return LoginFailure(
            "TLS", f"the certificate of {host} is not trusted (a proxy that inspects TLS "
            "re-signs it with its own CA)",
            "set ca_bundle to a PEM file with that CA's certificate")
    if any(marker in message.lower() for marker in _NETWORK_MARKERS):
        return LoginFailure(
            "NETWORK", f"cannot reach the login endpoint {host}",
            "check the network path: set HTTPS_PROXY if a proxy is required, allow the host "
            "in the firewall, or correct authority_host")
    return LoginFailure(None, "the login endpoint refused to issue a token",
                        f"see {TROUBLESHOOTING_DOC}", " ".join(message.split()))


# Initial domains give a tenant's cloud away: contoso.onmicrosoft.us is a US Government tenant.
_CLOUD_DOMAINS: Final = (
    (".onmicrosoft.us", "a US Government tenant", ("usgov", "usgov-dod"), "usgov or usgov-dod"),
    (".onmschina.cn", "a China (21Vianet) tenant", ("china",), "china"),
)


def cloud_mismatch(tenant_id: str, cloud: Cloud) -> str | None:
    """Why `tenant_id` looks like a tenant of another cloud than the configured one, if it does."""
    for suffix, kind, clouds, setting in _CLOUD_DOMAINS:
        if tenant_id.lower().endswith(suffix) and cloud.name not in clouds:
            return (f"tenant_id {tenant_id} ends in {suffix} ({kind}), but cloud is "
                    f"{cloud.name}: set cloud to {setting}")
    return None


def describe_login_failure(error: AuthenticationFailed, cloud: Cloud) -> str:
    """A run's one-line token error: the original text, then what it means and the fix."""
    failure = explain_login_failure(str(error), cloud)
    return f"{error} => {failure.sentence()}; fix: {failure.fix}"


# --- the credential's end date --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CredentialExpiry:
    """When the credential in use stops working, and how that was learnt.

    `ends` None means unknown and `unknown_reason` says why (e.g. Application.Read.All is not
    granted). `notes` carries side findings worth a line (expired secrets still registered).
    """

    kind: Literal["client secret", "certificate"]
    ends: datetime | None
    source: str = ""
    unknown_reason: str = ""
    notes: tuple[str, ...] = ()


def secret_in_use(password_credentials: Sequence[Mapping[str, Any]], secret: str,
                  now: datetime) -> tuple[datetime | None, str, tuple[str, ...]]:
    """The end date of the secret the connector uses, told apart by Graph's `hint`.

    Graph never returns a secret, only its first three characters (`hint`). When those pick the
    secret out, its end date is exact; otherwise the soonest end among the secrets still valid
    is reported (the one in use is one of them: it just obtained a token).
    Returns (end, how it was chosen, notes).
    """
    dated = [(end, c) for c in password_credentials if (end := parse_graph_datetime(c.get("endDateTime")))]
    expired = sum(1 for end, _ in dated if end <= now)
    notes = (f"{expired} expired client secret(s) still registered on the app: delete them so "
             "nobody wonders which one is in use",) if expired else ()
    matched = [end for end, c in dated if len(secret) >= 3 and c.get("hint") == secret[:3]]
    if matched:
        return min(matched), "the app registration's secret matching the one in use", notes
    valid = [end for end, _ in dated if end > now]
    if len(valid) > 1:
        return (min(valid), "the soonest to expire of the app registration's secrets (the one "
                "in use could not be told apart)", notes)
    if valid:
        return valid[0], "the app registration's only valid secret", notes
    return None, "", notes


async def credential_expiry(settings: Settings, client: GraphClient | None,
                            grants: Grants | None, now: datetime) -> CredentialExpiry:
    """End date of the certificate (from its file) or of the client secret (from Graph).

    Raises GraphUnavailable when Graph cannot be reached; a refusal is an unknown date.
    """
    if settings.certificate_path is not None:
        try:
            ends = certificate_expiry(settings)
        except ConfigError as error:
            return CredentialExpiry("certificate", None,
                                    unknown_reason=" ".join(str(error).split()))
        return CredentialExpiry("certificate", ends, f"the file {settings.certificate_path}")
    if client is None or grants is None:
        return CredentialExpiry("client secret", None, unknown_reason="Graph was not reached, "
                                "so the app registration was not read")
    if grants.roles is not None and "Application.Read.All" not in grants.roles:
        return CredentialExpiry(
            "client secret", None,
            unknown_reason="the app lacks Application.Read.All, so its secrets' end dates cannot "
            "be read: grant it (optional, read-only) to be warned before the secret expires, "
            "or check the date under 'Certificates & secrets'")
    url = build_url("/applications", {"$filter": f"appId eq '{settings.client_id}'",
                                      "$select": "id,appId,passwordCredentials"})
    try:
        body = await client.get_json(url)
    except GraphError as error:
        if isinstance(error, GraphUnavailable) or not is_refusal(error):
            raise
        return CredentialExpiry("client secret", None, unknown_reason="the app registration "
                                f"could not be read: {refusal_reason(error)}")
    apps = body.get("value")
    app = apps[0] if isinstance(apps, list) and apps and isinstance(apps[0], Mapping) else None
    if app is None:
        return CredentialExpiry("client secret", None, unknown_reason="Graph did not return "
                                "this app's registration")
    credentials = [c for c in app.get("passwordCredentials") or () if isinstance(c, Mapping)]
    secret = settings.client_secret.get_secret_value() if settings.client_secret else ""
    ends, how, notes = secret_in_use(credentials, secret, now)
    if ends is None:
        return CredentialExpiry("client secret", None, unknown_reason="the app registration "
                                "lists no valid client secret with an end date", notes=notes)
    return CredentialExpiry("client secret", ends, how, notes=notes)


def judge_expiry(expiry: CredentialExpiry, window_days: int, now: datetime, *,
                 say_source: bool = True) -> Check:
    """ok / warning (within the window) / failed (expired) / unknown, with what to do."""
    name = expiry.kind
    if expiry.ends is None:
        return Check("credential", name, "unknown", f"end date unknown: {expiry.unknown_reason}",
                     id="credential_expiry")
    left = expiry.ends - now
    days = _days(left)
    when = expiry.ends.strftime("%Y-%m-%d")
    if expiry.kind == "certificate":
        renew = ("create a new certificate, upload it to the app registration next to this one, "
                 "point certificate_path at it, then remove the old one")
    else:
        renew = ("create a new client secret under 'Certificates & secrets', switch the "
                 "connector to it, then delete the old one")
    source = f"; read from {expiry.source}" if expiry.source and say_source else ""
    if left <= timedelta(0):
        return Check("credential", name, "failed", f"expired on {when}{source}", renew,
                     id="credential_expiry", headline=f"the {name} has expired")
    if left <= timedelta(days=window_days):
        return Check("credential", name, "warning",
                     f"expires on {when}, in {days} (within the {window_days}-day warning "
                     f"window){source}", renew, id="credential_expiry",
                     headline=f"the {name} expires in {days}")
    return Check("credential", name, "ok", f"expires on {when}, in {days}{source}",
                 id="credential_expiry")


def _days(left: timedelta) -> str:
    days = round(left / timedelta(days=1))
    return "less than a day" if days < 1 else "1 day" if days == 1 else f"{days} days"


# --- permissions the manifest declares ------------------------------------------------------

def manifest_permissions() -> Mapping[str, Any]:
    """The `permissions` block of the packaged manifest.json (required / optional / why)."""
    text = resources.files("connector").joinpath("manifest.json").read_text(encoding="utf-8")
    permissions = json.loads(text).get("permissions", {})
    return permissions if isinstance(permissions, Mapping) else {}


@dataclass(frozen=True, slots=True)
class Permission:
    name: str
    required: bool
    why: str
    granted: bool | None  # None: the token does not say
    purpose: str = ""  # what alone it is optional for ("sign-ins"), when not everything
    # A permission it is the higher-privileged alternative to: with that one granted, it is
    # not needed (Directory.Read.All next to AuditLog.Read.All for sign-ins).
    instead_of: str = ""
    instead_granted: bool = False


def permission_report(grants: Grants) -> list[Permission]:
    """Each permission the manifest declares, and whether the token carries it."""
    declared = manifest_permissions()
    alternative = declared.get("alternative") or {}
    covered_by = {name: alternative.get("name") for name in alternative.get("covers") or ()}
    report = []
    for kind in ("required", "optional"):
        for entry in declared.get(kind) or ():
            name = str(entry.get("name"))
            roles = grants.roles
            granted = None if roles is None else (name in roles or covered_by.get(name) in roles)
            instead = str(entry.get("instead_of") or "")
            report.append(Permission(name, kind == "required",
                                     str(entry.get("why") or entry.get("unlocks") or ""),
                                     granted, str(entry.get("for") or ""), instead,
                                     bool(instead and roles is not None and instead in roles)))
    return report


_CONSENT = ("API permissions > Add a permission > Microsoft Graph > Application permissions, "
            "then 'Grant admin consent'")


def _permission_checks(diagnosis: Diagnosis, grants: Grants) -> None:
    for permission in permission_report(grants):
        kind = "required" if permission.required else "optional"
        if permission.purpose:
            kind = f"{kind}, for {permission.purpose}"
        label = f"{permission.name} ({kind})"
        check_id = f"permission:{permission.name}"
        if permission.granted is None:
            diagnosis.add(Check("permissions", label, "unknown",
                                "the token does not list its permissions", id=check_id))
        elif permission.granted:
            diagnosis.add(Check("permissions", label, "ok", id=check_id))
        elif permission.instead_granted:
            diagnosis.add(Check("permissions", label, "ok",
                                f"not granted, not needed while {permission.instead_of} is: "
                                f"{permission.why}", id=check_id))
        elif permission.required:
            diagnosis.add(Check("permissions", label, "missing", f"needed: {permission.why}",
                                f"{_CONSENT} ({SETUP_DOC})", id=check_id,
                                headline=f"required permission {permission.name} not granted"))
        else:
            diagnosis.add(Check("permissions", label, "unavailable",
                                f"not granted; would unlock: {permission.why}", id=check_id))


# --- the diagnosis --------------------------------------------------------------------------

@dataclass(slots=True)
class Diagnosis:
    """Every check, in order, and what they add up to."""

    cloud: Cloud
    checks: list[Check] = field(default_factory=list)
    tenant: str | None = None
    granted: tuple[str, ...] | None = None
    expiry: CredentialExpiry | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks.append(check)

    def section(self, name: str) -> list[Check]:
        return [c for c in self.checks if c.section == name]

    @property
    def connected(self) -> bool:
        connection = self.section("connection")
        return bool(connection) and all(c.status == "ok" for c in connection)

    @property
    def can_collect(self) -> bool:
        return self.connected and not any(c.status == "failed" for c in self.checks)

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("warning", "missing")]

    @property
    def left_out(self) -> list[Check]:
        return [c for c in self.section("features") if c.status != "ok"]

    @property
    def verdict(self) -> Verdict:
        if not self.can_collect:
            return "cannot_run"
        return "ready_with_warnings" if self.warnings else "ready"

    @property
    def exit_code(self) -> int:
        return 0 if self.can_collect else 1

    def to_json(self) -> dict[str, Any]:
        """The diagnosis for a runtime: stable ids and statuses, plain text beside them."""
        expiry = self.expiry
        return {
            "verdict": self.verdict,
            "can_collect": self.can_collect,
            "exit_code": self.exit_code,
            "tenant_id": self.tenant,
            "cloud": self.cloud.name,
            "authority_host": self.cloud.authority_host,
            "graph_endpoint": self.cloud.graph_endpoint,
            "granted_permissions": list(self.granted) if self.granted is not None else None,
            "credential": None if expiry is None else {
                "kind": expiry.kind.replace(" ", "_"),
                "expires": odata_datetime(expiry.ends) if expiry.ends else None,
                "source": expiry.source or None,
                "unknown_reason": expiry.unknown_reason or None,
            },
            "checks": [
                {key: value for key, value in (
                    ("id", c.id), ("section", c.section), ("name", c.name),
                    ("status", c.status), ("detail", c.detail), ("fix", c.fix),
                    ("code", c.code), ("evidence", c.evidence)) if value}
                for c in self.checks
            ],
            "warnings": [c.summary for c in self.warnings],
            "not_collected": [c.name for c in self.left_out],
            "notes": list(self.notes),
        }


async def diagnose(settings: Settings, *, now: datetime | None = None) -> Diagnosis:
    """Login, Graph, the credential's end date, permissions, licence-dependent features."""
    now = now or datetime.now(UTC)
    cloud = resolve(settings)
    diagnosis = Diagnosis(cloud)
    mismatch = cloud_mismatch(settings.tenant_id, cloud)
    if mismatch is not None:
        diagnosis.add(Check("configuration", "cloud", "warning", mismatch, id="cloud",
                            headline="tenant_id and cloud do not match"))
    throttle = Throttle.create(max_concurrency=2,
                               deadline_seconds=DIAGNOSIS_RETRY_DEADLINE_SECONDS)
    client = GraphClient.from_settings(settings, throttle=throttle)
    try:
        try:
            claims = await client.token_claims() or {}
        except AuthenticationFailed as error:
            failure = explain_login_failure(str(error), cloud)
            diagnosis.add(Check(
                "connection", "login", "failed", failure.sentence(), failure.fix, id="token",
                code=failure.code, evidence=failure.entra_said,
                headline=f"could not obtain a token from {cloud.authority_host} "
                f"({failure.sentence()})"))
            await _expiry_check(diagnosis, settings, None, None, now, login=failure)
            return diagnosis
        diagnosis.tenant = str(claims.get("tid") or settings.tenant_id)
        grants = Grants.from_claims(claims)
        diagnosis.granted = tuple(sorted(grants.roles)) if grants.roles is not None else None
        diagnosis.add(Check("connection", "login", "ok",
                            f"token from {cloud.authority_host} for {cloud.scope}", id="token"))
        reachable, answered = await _graph_check(diagnosis, client)
        await _expiry_check(diagnosis, settings, client if answered else None, grants, now)
        _permission_checks(diagnosis, grants)
        if reachable:
            await _feature_checks(diagnosis, client, grants)
            if settings.workload_identities.enabled:
                await _workload_checks(diagnosis, client, grants)
        return diagnosis
    finally:
        await client.aclose()


async def _graph_check(diagnosis: Diagnosis, client: GraphClient) -> tuple[bool, bool]:
    """(users readable, Graph answered at all)."""
    try:
        await client.get_json(build_url("/users", {"$select": "id", "$top": 1}))
    except GraphError as error:
        if error.status == 403:
            headline = "Graph refused to list users"
            detail = f"{headline}: {refusal_reason(error)}"
            fix = f"grant User.Read.All (or Directory.Read.All): {_CONSENT} ({SETUP_DOC})"
        elif error.status == 401:
            headline = "Graph refused the token"
            detail = f"{headline}: {error}"
            fix = ("the login and Graph hosts belong to different clouds: check cloud, "
                   "authority_host and graph_endpoint")
        else:
            headline = f"Graph is not reachable at {client.base_url}"
            detail = f"{headline}: {error}"
            fix = _network_fix(str(error))
        diagnosis.add(Check("connection", "graph", "failed", detail, fix, id="graph",
                            code=error.code, headline=headline))
        return False, not isinstance(error, GraphUnavailable)
    diagnosis.add(Check("connection", "graph", "ok", f"users readable at {client.base_url}",
                        id="graph"))
    return True, True


def _network_fix(message: str) -> str:
    if _is_tls_failure(message):
        return ("Graph's TLS certificate is not trusted (a TLS-inspecting proxy?): set ca_bundle "
                "to a PEM file with that CA's certificate")
    return ("check the network path to Graph: HTTPS_PROXY if a proxy is required, the firewall, "
            "or graph_endpoint")


async def _expiry_check(diagnosis: Diagnosis, settings: Settings, client: GraphClient | None,
                        grants: Grants | None, now: datetime,
                        login: LoginFailure | None = None) -> None:
    if settings.certificate_path is None and client is None:
        if login is not None and login.code == "AADSTS7000222":
            diagnosis.add(Check("credential", "client secret", "failed",
                                "expired (the login endpoint says so)", id="credential_expiry",
                                headline="the client secret has expired"))
        return  # a secret's end date is read through Graph, which was not reached
    try:
        expiry = await credential_expiry(settings, client, grants, now)
    except GraphError as error:
        expiry = CredentialExpiry("client secret", None, unknown_reason=str(error))
    diagnosis.expiry = expiry
    diagnosis.add(judge_expiry(expiry, int(settings.expiry_warning_days), now))
    diagnosis.notes.extend(expiry.notes)


async def _probe(client: GraphClient, url: str) -> tuple[Status, str, str | None]:
    try:
        await client.get_json(url)
    except GraphError as error:
        if isinstance(error, GraphUnavailable) or not is_refusal(error):
            raise
        return "unavailable", refusal_reason(error), error.code
    return "ok", "available", None


async def _feature_checks(diagnosis: Diagnosis, client: GraphClient, grants: Grants) -> None:
    licence_probes = (
        ("last_sign_in", "last sign-in (signInActivity)",
         build_url("/users", {"$select": "id,signInActivity", "$top": 1})),
        ("mfa_report", "MFA registration report", build_url(REGISTRATION_REPORT, {"$top": 1})),
        ("sign_ins", "sign-in logs (signIns)",
         build_url(SIGN_INS_PATH, {"$top": 1})),
    )
    for key, label, url in licence_probes:
        missing = grants.missing(key)
        if missing:
            diagnosis.add(Check("features", label, "unavailable", missing,
                                id=f"feature:{key}"))
            continue
        status, detail, code = await _probe(client, url)
        diagnosis.add(Check("features", label, status, detail, id=f"feature:{key}", code=code))
    if diagnosis.cloud.name == "china":
        diagnosis.add(Check("features", "per-user MFA methods", "unavailable",
                            "not offered in the China cloud", id="feature:mfa_methods"))
    else:
        missing = grants.missing("mfa_methods")
        diagnosis.add(Check("features", "per-user MFA methods",
                            "unavailable" if missing else "ok",
                            missing or "fallback for users the registration report leaves out",
                            id="feature:mfa_methods"))
    for key, label in (("groups", "group memberships"), ("roles", "admin roles")):
        missing = grants.missing(key)
        diagnosis.add(Check("features", label, "unavailable" if missing else "ok",
                            missing or "available", id=f"feature:{key}"))
    await _risky_users_check(diagnosis, client, grants)
    await _stream_checks(diagnosis, client, grants)


async def _stream_checks(diagnosis: Diagnosis, client: GraphClient, grants: Grants) -> None:
    """The features a stream's Graph source declares (`PROBES`: feature, label, URL; e.g. the
    device stream's Entra devices and Intune records), whether or not the stream is enabled."""
    for spec in registry.STREAMS:
        source = registry.source_module(spec)
        for key, label, url in getattr(source, "PROBES", ()) if source is not None else ():
            missing = grants.missing(key)
            if missing:
                diagnosis.add(Check("features", label, "unavailable", missing,
                                    id=f"feature:{key}"))
                continue
            try:
                await client.get_json(url)
            except GraphError as error:
                if isinstance(error, GraphUnavailable) or not is_refusal(error):
                    raise
                diagnosis.add(Check("features", label, "unavailable",
                                    source.probe_refusal(key, error), id=f"feature:{key}",
                                    code=error.code))
                continue
            diagnosis.add(Check("features", label, "ok", "available", id=f"feature:{key}"))


async def _workload_checks(diagnosis: Diagnosis, client: GraphClient, grants: Grants) -> None:
    """The workload identities stream's three sources, probed when the stream is enabled (its
    consents need Directory.Read.All, which no other stream asks for)."""
    from connector.graph import workloads

    beta = client.base_url.rsplit("/", 1)[0] + "/beta"
    probes = (
        (workloads.WORKLOADS_FEATURE, "workload identities (servicePrincipals)",
         build_url(workloads.SERVICE_PRINCIPALS, {"$select": "id", "$top": 1})),
        (workloads.CONSENTS_FEATURE, "delegated consents (oauth2PermissionGrants)",
         build_url(workloads.GRANTS, {"$top": 1})),
        (workloads.SIGN_INS_FEATURE, "service principal last sign-ins (/beta report)",
         beta + build_url(workloads.SIGN_IN_ACTIVITY, {"$top": 1})),
    )
    for key, label, url in probes:
        missing = workloads.missing_permission(grants, key)
        if missing:
            diagnosis.add(Check("features", label, "unavailable", missing, id=f"feature:{key}"))
            continue
        status, detail, code = await _probe(client, url)
        diagnosis.add(Check("features", label, status, detail, id=f"feature:{key}", code=code))


async def _risky_users_check(diagnosis: Diagnosis, client: GraphClient, grants: Grants) -> None:
    label, check_id = "user risk (riskyUsers)", "feature:risky_users"
    if grants.roles is not None and "IdentityRiskyUser.Read.All" not in grants.roles:
        diagnosis.add(Check("features", label, "unavailable", "the app lacks the Graph "
                            "application permission IdentityRiskyUser.Read.All", id=check_id))
        return
    status, detail, code = await _probe(client, build_url(RISKY_USERS, {"$top": 1}))
    if code == NON_PREMIUM:
        detail = ("the tenant has no Microsoft Entra ID P2 licence (Graph answered 403 "
                  f"{NON_PREMIUM})")
    diagnosis.add(Check("features", label, status, detail, id=check_id, code=code))


# --- the same checks at the start of every run ----------------------------------------------

async def start_of_run_checks(settings: Settings, client: GraphClient,
                              *, now: datetime | None = None) -> list[str]:
    """What a run says before it collects: the credential's end date, optional permissions.

    Logged once per run, so a runtime's logs show a secret about to expire weeks before the data
    stops. Missing required permissions are logged by the collection itself, where it leaves the
    data out. A token failure is re-raised with its meaning and fix. Returns the warnings.
    """
    now = now or datetime.now(UTC)
    try:
        claims = await client.token_claims() or {}
    except AuthenticationFailed as error:
        raise AuthenticationFailed(describe_login_failure(error, resolve(settings))) from None
    grants = Grants.from_claims(claims)
    warnings: list[str] = []
    try:
        async with asyncio.timeout(START_CHECK_SECONDS):
            expiry = await credential_expiry(settings, client, grants, now)
    except (GraphError, TimeoutError) as error:  # the collection meets the same outage
        log.info("could not check the credential's end date: %s",
                 error if isinstance(error, GraphError) else "Graph did not answer in time")
        expiry = None
    if expiry is not None:
        check = judge_expiry(expiry, int(settings.expiry_warning_days), now, say_source=False)
        text = f"{check.name} {check.detail}" + (f": {check.fix}" if check.fix else "")
        if check.status in ("warning", "failed"):
            log.warning("%s", text)
            warnings.append(text)
        else:
            log.info("%s", text)
        for note in expiry.notes:
            log.info("%s", note)
    not_granted = [p.name for p in permission_report(grants)
                   if p.granted is False and not p.required]
    if not_granted:
        log.info("optional permissions not granted: %s (see %s)", ", ".join(not_granted),
                 SETUP_DOC)
    return warnings


# --- for people -----------------------------------------------------------------------------

MARKS: Final[Mapping[Status, str]] = {
    "ok": "ok", "warning": "WARN", "missing": "MISSING", "unavailable": "no",
    "unknown": "unknown", "failed": "FAILED",
}
_SECTIONS: Final = (("configuration", "Configuration"), ("connection", "Connection"),
                    ("credential", "Credential"),
                    ("permissions", "Permissions (application)"), ("features", "Features"))


def render_text(diagnosis: Diagnosis) -> str:
    """The diagnosis as a table for a person, ending with the verdict."""
    lines: list[str] = []
    if diagnosis.connected:
        lines.append(f"Connected to tenant {diagnosis.tenant} ({diagnosis.cloud.name} cloud)")
    else:
        failed = next(c for c in diagnosis.section("connection") if c.status != "ok")
        lines.append(f"Not connected: {failed.summary}")
    for key, title in _SECTIONS:
        checks = diagnosis.section(key)
        if not checks:
            continue
        lines.append(f"{title}:")
        width = max(len(c.name) for c in checks)
        fixes = [c.fix for c in checks if c.fix]
        shared = fixes[0] if len(fixes) > 1 and len(set(fixes)) == 1 else None
        for check in checks:
            show = check.status != "ok" or key in ("connection", "credential", "permissions")
            detail = f"  {check.detail}" if show and check.detail else ""
            lines.append(f"  {MARKS[check.status]:<8} {check.name:<{width}}{detail}".rstrip())
            if check.evidence:
                lines.append(f"  {'':<8} the login endpoint said: {check.evidence}")
            if check.fix and shared is None:
                lines.append(f"  {'':<8} fix: {check.fix}")
        if shared is not None:
            lines.append(f"  fix for the {MARKS['missing']} rows: {shared}")
    lines += [f"Note: {note}" for note in diagnosis.notes]
    lines.append(result_line(diagnosis))
    return "\n".join(lines) + "\n"


def result_line(diagnosis: Diagnosis) -> str:
    if not diagnosis.can_collect:
        failed = next(c for c in diagnosis.checks if c.status == "failed")
        return f"Result: collection cannot run: {failed.summary}"
    text = "Result: collection can run"
    if diagnosis.warnings:
        text += ", with warnings: " + "; ".join(c.summary for c in diagnosis.warnings)
    if diagnosis.left_out:
        text += "; not collected: " + ", ".join(c.name for c in diagnosis.left_out)
    return text
