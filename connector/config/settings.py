"""Connector settings: every configuration key, its rules and its default, in one place.

Settings are checked once at start-up (file paths opened, certificates parsed) so that a bad value
stops the connector with a message naming the key, instead of failing an hour into a collection.
The same model generates the manifest's `configuration` JSON Schema and `docs/configuration.md`
(`connector/config/generate.py`), so neither can drift from what the code accepts.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict

from connector.config.files import client_certificate, read_small_file

CloudName = Literal["global", "usgov", "usgov-dod", "china"]
IntakeFormat = Literal["ndjson", "sekoia"]
SignInEventType = Literal["interactiveUser", "nonInteractiveUser", "servicePrincipal",
                          "managedIdentity"]

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_DOMAIN = (
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
)
# Anchored, and written in the subset shared by Python and ECMA-262 so the manifest's JSON Schema
# enforces exactly what the validators below enforce.
GUID_PATTERN: Final = f"^{_GUID}$"
DOMAIN_PATTERN: Final = f"^{_DOMAIN}$"
TENANT_PATTERN: Final = f"^(?:{_GUID}|{_DOMAIN})$"
HTTPS_URL: Final = "^[Hh][Tt][Tt][Pp][Ss]://"
INTAKE_URL: Final = "^[Hh][Tt][Tt][Pp][Ss]?://"

_SECRET: Final[JsonDict] = {"secret": True}



class EnvFallback(NamedTuple):
    """A secret taken from the environment when the configuration leaves its key unset.

    It applies only where the key means something (`applies`, described by `when`): a
    certificate configuration ignores a stray ENTRA_CLIENT_SECRET instead of failing on it.
    """

    path: tuple[str, ...]
    variable: str
    applies: Callable[[Mapping[str, Any]], bool]
    when: str


ENV_FALLBACKS: Final = (
    EnvFallback(
        ("client_secret",),
        "ENTRA_CLIENT_SECRET",
        lambda d: d.get("certificate_path") is None,
        "`certificate_path` is not set",
    ),
    EnvFallback(
        ("certificate_password",),
        "ENTRA_CERTIFICATE_PASSWORD",
        lambda d: d.get("certificate_path") is not None,
        "`certificate_path` is set",
    ),
    EnvFallback(
        ("intake", "api_key"),
        "ENTRA_INTAKE_API_KEY",
        lambda d: isinstance(d.get("intake"), Mapping),
        "an `intake` block is present",
    ),
)


class KeyProblem(ValueError):
    """A rule spanning several keys; `key` names them, relative to the model raising it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(value: str, *, loopback_http: bool, query: bool) -> str:
    if not value or any(c.isspace() for c in value):
        raise ValueError("must be a URL without spaces")
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme == "http" and not (loopback_http and _is_loopback(host)):
        allowed = " (http:// only for a loopback address)" if loopback_http else ""
        raise ValueError(f"must be an https:// URL{allowed}; http:// sends data in clear text")
    if scheme not in ("http", "https"):
        raise ValueError("must be an https:// URL")
    if not host:
        raise ValueError("has no host name")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain a user name or password")
    if "#" in value or (not query and "?" in value):
        raise ValueError("must not contain a query or fragment")
    return value


def _endpoint(value: str) -> str:
    return _url(value, loopback_http=False, query=False).rstrip("/")


def _graph_endpoint(url: str) -> str:
    base, _, version = url.rpartition("/")
    if version.lower() == "v1.0" and "://" in base:
        return base.rstrip("/")
    if version.lower() == "beta" and "://" in base:
        raise ValueError("must not include an API version (the connector uses /v1.0)")
    return url


def _domain(value: str) -> str:
    if not _fullmatch(DOMAIN_PATTERN, value):
        raise ValueError("must be a domain name such as contoso.com")
    return value.lower()


def _fullmatch(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None





def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are taken from the configuration file's folder, not the working directory."""
    try:
        path = value.expanduser()
    except RuntimeError:
        raise ValueError("cannot expand '~' in the path") from None
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and isinstance(base, Path):
        path = base / path
    return path.absolute()


def _ca_bundle(path: Path) -> Path:
    read_small_file(path)
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, ValueError):
        raise ValueError("contains no PEM certificate to trust") from None
    except OSError as exc:
        raise ValueError(f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    return path


def _not_empty(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


def _certificate(value: Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    password = info.data.get("certificate_password")
    client_certificate(path, password.get_secret_value() if password is not None else None)
    return path


# Validators sit on the inner types so an explicit JSON null means "unset" without reaching them.
_Domain = Annotated[
    str,
    Strict(),
    AfterValidator(_domain),
    Field(json_schema_extra={"pattern": DOMAIN_PATTERN, "maxLength": 253}),
]
_Secret = Annotated[SecretStr, AfterValidator(_not_empty)]
_Endpoint = Annotated[
    str,
    Strict(),
    AfterValidator(_endpoint),
    Field(json_schema_extra={"format": "uri", "pattern": HTTPS_URL}),
]
_GraphEndpoint = Annotated[_Endpoint, AfterValidator(_graph_endpoint)]
_CertificateFile = Annotated[Path, AfterValidator(_certificate)]
_CaBundleFile = Annotated[Path, AfterValidator(lambda v, info: _ca_bundle(_resolve(v, info)))]


def credential_rules(
    has_secret: bool, has_certificate: bool, has_password: bool
) -> list[tuple[str, str]]:
    """Rules over which credential keys are set; shared by the model and `load_settings`."""
    problems = []
    if has_secret == has_certificate:
        state = "both are set" if has_secret else "neither is set"
        problems.append(("client_secret or certificate_path", f"set exactly one of them; {state}"))
    if has_password and not has_certificate:
        problems.append(("certificate_password", "is only used with certificate_path"))
    return problems


def intake_rules(intake_format: object, has_uuid: bool, has_key: bool) -> list[tuple[str, str]]:
    """The Sekoia asset intake addresses a connector by UUID and refuses unauthenticated calls."""
    if intake_format != "sekoia":
        return []
    required = [("connector_uuid", has_uuid), ("api_key", has_key)]
    return [
        (key, 'is required when format is "sekoia"') for key, present in required if not present
    ]


def _bounded(default: int, low: int, high: int, description: str) -> Any:
    return Field(default, ge=low, le=high, strict=True, description=description)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Intake(_Model):
    """HTTP intake that receives the events."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"format": {"const": "sekoia"}}, "required": ["format"]},
            "then": {
                "required": ["connector_uuid", "api_key"],
                "properties": {"connector_uuid": {"type": "string"}, "api_key": {"type": "string"}},
            },
        }
    )

    url: str = Field(
        strict=True,
        description="Intake URL. https:// only; http:// is accepted for loopback addresses "
        "(127.0.0.0/8, ::1, localhost), e.g. a local forwarder.",
        json_schema_extra={"format": "uri", "pattern": INTAKE_URL},
    )
    format: IntakeFormat = Field(
        "ndjson",
        description="Request body: `ndjson` (one OCSF event a line) or `sekoia` "
        "(Sekoia.io asset intake; needs `connector_uuid` and `api_key`).",
    )
    api_key: _Secret | None = Field(
        None,
        description="API key sent to the intake. Falls back to ENTRA_INTAKE_API_KEY.",
        json_schema_extra=_SECRET,
    )
    connector_uuid: UUID | None = Field(
        None, description="UUID of the connector instance on the intake (required for `sekoia`)."
    )
    batch_size: int = _bounded(500, 1, 10_000, "Events per HTTP request.")
    gzip: bool = Field(True, strict=True, description="Compress request bodies with gzip.")
    delivery_deadline_seconds: int = _bounded(
        300,
        1,
        86_400,
        "How long one batch may be retried before delivery fails and the run stops "
        "without moving the checkpoint.",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _url(value, loopback_http=True, query=True)

    @model_validator(mode="after")
    def _check_format(self) -> Self:
        for key, message in intake_rules(
            self.format, self.connector_uuid is not None, self.api_key is not None
        ):
            raise KeyProblem(key, message)
        return self


class WorkloadIdentities(_Model):
    """The workload identities stream: service principals as non-human accounts (class 5003)."""

    enabled: bool = Field(
        False,
        strict=True,
        description="Collect every service principal (apps, managed identities) with its secrets, "
        "certificates, permissions, consents, owners and SSO roster as User Inventory Info events. "
        "Needs Application.Read.All; consents need Directory.Read.All, last sign-ins "
        "AuditLog.Read.All and P1/P2 (each left out with one message without them).",
    )
    full_resync_hours: int = _bounded(
        24,
        0,
        87_600,
        "A full collection of the service principals replaces change tracking once the last one "
        "is this old (0 = never; `run --full` forces one). Full runs also refresh last sign-ins.",
    )
    audit_overlap_minutes: int = _bounded(
        60,
        1,
        1_440,
        "How far before the previous run the audit log is re-read for grant, roster, consent and "
        "owner changes, which Entra logs minutes late.",
    )
    user_sso_apps: bool = Field(
        False,
        strict=True,
        description="Also name, in each user's inventory event, the SSO applications the user "
        "is assigned to (directly or through a group); at most 50 per user.",
    )


class SignIns(_Model):
    """The sign-in log stream: `/auditLogs/signIns` as OCSF Authentication (class 3002) events."""

    enabled: bool = Field(
        False,
        strict=True,
        description="Collect sign-in logs as a second stream. Needs AuditLog.Read.All and an "
        "Entra ID P1 or P2 licence; without them the stream is skipped with one message and the "
        "user inventory is still collected.",
    )
    lookback_days: int = _bounded(
        7,
        1,
        30,
        "How many days of sign-ins the first run reads (Graph keeps 30). Later runs continue "
        "from the checkpoint.",
    )
    overlap_minutes: int = _bounded(
        60,
        1,
        1_440,
        "How far each run re-reads before its last cursor, to catch sign-ins that Graph lists "
        "late; already delivered ones are recognised by id and not sent again. Sign-ins that "
        "appear later than this are left to the deep re-read (`deep_reread_minutes`).",
    )
    deep_reread_minutes: int = _bounded(
        60,
        0,
        1_440,
        "Cadence of the deep re-read for sign-ins that Graph lists later than `overlap_minutes`: "
        "a run at least this long after the previous deep re-read lists back to "
        "`deep_overlap_minutes` before it (0 = never). Already delivered sign-ins are "
        "recognised by id and not sent again.",
    )
    deep_overlap_minutes: int = _bounded(
        150,
        1,
        1_440,
        "How late a sign-in may be listed and still be delivered: each deep re-read lists from "
        "this long before the previous deep re-read. The checkpoint remembers the ids of the "
        "sign-ins delivered since then (about 50 bytes each).",
    )
    page_size: int = _bounded(1000, 1, 1000, "Sign-ins requested per Graph page (`$top`).")
    event_types: tuple[SignInEventType, ...] = Field(
        (),
        description="Empty (default): interactive user sign-ins from the v1.0 API. Otherwise the "
        "**beta** API's `signInEventTypes` to read (`interactiveUser`, `nonInteractiveUser`, "
        "`servicePrincipal`, `managedIdentity`); beta APIs may change without notice.",
    )

    @field_validator("event_types")
    @classmethod
    def _unique_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))


class Devices(_Model):
    """The device stream: Entra ID devices (with Intune's facts) as OCSF Device Inventory Info
    (class 5001) events."""

    enabled: bool = Field(
        False,
        strict=True,
        description="Collect devices as a third stream. Needs Device.Read.All (or "
        "Directory.Read.All); no licence. Change tracking (devices/delta) works as for users "
        "when a state file is kept.",
    )
    intune: bool = Field(
        True,
        strict=True,
        description="Join each device's Microsoft Intune record (compliance state, ownership, "
        "serial number, IMEI/MEID, encryption, last sync). Needs "
        "DeviceManagementManagedDevices.Read.All and an Intune licence; without either, Entra's "
        "devices are still collected and one message says what is missing.",
    )
    registered_users: bool = Field(
        True,
        strict=True,
        description="Also read each device's registered users (a second device listing); "
        "registered owners are always read.",
    )
    intune_refresh_hours: int = _bounded(
        24,
        0,
        87_600,
        "How often a change run reads every Intune managed device again (ceil(managed devices "
        "/ 1,000) requests on Intune's own budget) to notice changes only Intune knows (serial "
        "number, ownership, encryption). Devices Entra reports changed have their Intune record "
        "read at every run. 0 = every run.",
    )
    owners_refresh_hours: int = _bounded(
        24,
        0,
        87_600,
        "How often a change run reads every device's registered owners and users again "
        "(ceil(devices / 999) requests each): an owner change is a link, which devices/delta "
        "does not report. Devices Entra reports changed have their owners read at every run. "
        "0 = every run.",
    )
    page_size: int = _bounded(999, 1, 999, "Devices requested per Graph page (`$top`).")


class DirectoryAudits(_Model):
    """The directory audit stream: `/auditLogs/directoryAudits` as OCSF account, group,
    privilege and entity change events (classes 3001, 3006, 3005, 3004)."""

    enabled: bool = Field(
        False,
        strict=True,
        description="Collect the directory audit log (who changed what) as a stream of its own. "
        "Needs AuditLog.Read.All (any licence); without it the stream is skipped with one "
        "message and the other streams are still collected. While enabled, the user "
        "inventory's MFA change detection reads the MFA registrations this stream saw instead "
        "of reading the audit log a second time.",
    )
    lookback_days: int = _bounded(
        7,
        1,
        30,
        "How many days of audit records the first run reads. Graph keeps 7 days on a free "
        "tenant and 30 on P1/P2; the first run reads no further back than the tenant keeps. "
        "Later runs continue from the checkpoint.",
    )
    overlap_minutes: int = _bounded(
        60,
        1,
        1_440,
        "How far each run re-reads before its last cursor, to catch audit records that Graph "
        "lists late; already delivered ones are recognised by id and not sent again. Records "
        "that appear later than this are left to the deep re-read (`deep_reread_minutes`).",
    )
    deep_reread_minutes: int = _bounded(
        60,
        0,
        1_440,
        "Cadence of the deep re-read for audit records that Graph lists later than "
        "`overlap_minutes`: a run at least this long after the previous deep re-read lists back "
        "to `deep_overlap_minutes` before it (0 = never).",
    )
    deep_overlap_minutes: int = _bounded(
        150,
        1,
        1_440,
        "How late an audit record may be listed and still be delivered: each deep re-read "
        "lists from this long before the previous deep re-read. The checkpoint remembers the "
        "ids of the records delivered since then (about 80 bytes each).",
    )
    page_size: int = _bounded(
        999, 1, 999, "Audit records requested per Graph page (`$top`; Graph's largest is 999).")

class Settings(_Model):
    """The connector's configuration; see docs/configuration.md (generated from this class)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["client_secret"],
                    "properties": {"client_secret": {"type": "string"}},
                },
                {
                    "required": ["certificate_path"],
                    "properties": {"certificate_path": {"type": "string"}},
                },
            ],
            "dependentRequired": {"certificate_password": ["certificate_path"]},
        }
    )

    tenant_id: str = Field(
        strict=True,
        description="Directory (tenant) ID, or a verified domain such as contoso.onmicrosoft.com.",
        json_schema_extra={"pattern": TENANT_PATTERN},
    )
    client_id: str = Field(
        strict=True,
        description="Application (client) ID of the app registration.",
        json_schema_extra={"pattern": GUID_PATTERN},
    )
    client_secret: _Secret | None = Field(
        None,
        description="Client secret. Set this or `certificate_path`, not both. "
        "Falls back to ENTRA_CLIENT_SECRET.",
        json_schema_extra=_SECRET,
    )
    certificate_password: _Secret | None = Field(
        None,
        description="Password of an encrypted private key in `certificate_path`. "
        "Falls back to ENTRA_CERTIFICATE_PASSWORD.",
        json_schema_extra=_SECRET,
    )
    certificate_path: _CertificateFile | None = Field(
        None,
        description="PEM file holding the RSA private key and its certificate (first certificate "
        "in the file), or a PKCS#12 file. Set this or `client_secret`, not both.",
    )
    cloud: CloudName = Field(
        "global",
        description="National cloud: `global`, `usgov` (GCC High), `usgov-dod`, `china` (21Vianet).",
    )
    authority_host: _Endpoint | None = Field(
        None,
        description="Login endpoint override, e.g. https://login.microsoftonline.us. "
        "https:// only; a trailing slash is removed.",
    )
    graph_endpoint: _GraphEndpoint | None = Field(
        None,
        description="Microsoft Graph endpoint override, e.g. https://graph.microsoft.us. "
        "https:// only; a trailing `/v1.0` is removed (the connector appends it). "
        "The token scope follows this host.",
    )
    ca_bundle: _CaBundleFile | None = Field(
        None,
        description="PEM file of the CA certificates to trust for login and Graph (e.g. a TLS "
        "inspecting proxy). It replaces the system trust store.",
    )
    include_guests: bool = Field(
        True, strict=True, description="Include guest (B2B) users in the inventory."
    )
    domains: tuple[_Domain, ...] = Field(
        (),
        description="Only report users whose user principal name is in one of these domains. "
        "Empty: all users.",
    )
    page_size: int = _bounded(999, 1, 999, "Users requested per Graph page (`$top`).")
    max_concurrency: int = _bounded(4, 1, 16, "Upper bound on concurrent Graph requests.")
    retry_deadline_seconds: int = _bounded(
        900,
        1,
        86_400,
        "How long one Graph request may be retried (throttling, 5xx) before giving up.",
    )
    incremental_overlap_minutes: int = _bounded(
        60,
        0,
        10_080,
        "How far an incremental run looks back before the last watermark, to catch "
        "users that replicated late.",
    )
    expiry_warning_days: int = _bounded(
        90, 0, 3_650, "Warn when the client secret or certificate expires within this many days."
    )
    batch_size: int = _bounded(500, 1, 10_000, "Events per delivered batch (checkpoint step).")
    mfa_fallback: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Per-user MFA lookups (`/users/{id}/authentication/methods` in `$batch`) for "
        "users the bulk registration report does not cover (disabled users, unlicensed tenants): "
        "`auto` asks for enabled users within `mfa_fallback_share` of the reports budget a run, "
        "`always` asks for every such user, `never` reports their MFA as unknown.",
    )
    mfa_fallback_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="With `mfa_fallback: auto`, the share of Graph's reports budget (5 requests "
        "per 10 s, which per-user lookups spend) a run may use for them, counted over one "
        "15-minute interval: 0.5 = 225 enabled users a run. Users left unknown are asked on "
        "later runs, longest-unknown first (needs a state store).",
    )
    mfa_fallback_per_run: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        strict=True,
        description="Optional cap on the per-user MFA lookups of one run, on top of "
        "`mfa_fallback_share` (configurations written before the share keep working: the "
        "smaller of the two applies).",
    )
    mfa_fallback_hours: int = _bounded(
        1,
        0,
        8_760,
        "Cadence of the per-user MFA lookups between full collections: a run at least this "
        "long after the previous lookups asks the next users `mfa_fallback_share` allows "
        "(0 = every run). Registrations seen in the audit log are read at every run.",
    )
    mfa_refresh_days: int = _bounded(
        30,
        1,
        3_650,
        "MFA learnt through per-user lookups is asked again once it is this old (spare "
        "per-user budget only; registrations seen in the audit log are read at once).",
    )
    sign_in_refresh_hours: int = _bounded(
        24,
        0,
        8_760,
        "Cadence of the last sign-in refresh: a run at least this long after the previous "
        "refresh lists the users whose last sign-in moved since and emits them again "
        "(0 = every run).",
    )
    risk_refresh_minutes: int = _bounded(
        0,
        0,
        10_080,
        "Cadence of the user risk refresh: a run at least this long after the previous one "
        "reads Identity Protection's whole risky-user list (pages of 500) and emits the users "
        "whose risk changed (0 = every run). Between two reads, new users get the last list's "
        "answer.",
    )
    manager_refresh_hours: int = _bounded(
        24,
        0,
        8_760,
        "Cadence of the manager sweep: a run at least this long after the previous sweep lists "
        "every user's manager (one request per 999 users) and emits the users whose manager "
        "changed, for when users/delta leaves `manager@delta` out (0 = every run).",
    )
    full_resync_hours: int = _bounded(
        168,
        0,
        87_600,
        "A full collection replaces change tracking once the last full one is this old, as a "
        "safety net (0 = never; `run --full` forces one).",
    )
    sign_ins: SignIns = Field(
        SignIns.model_validate({}),
        description="Sign-in logs as OCSF Authentication (class 3002) events; off by default.",
    )
    workload_identities: WorkloadIdentities = Field(
        WorkloadIdentities.model_validate({}),
        description="Service principals as non-human User Inventory Info (class 5003) events; off "
        "by default.",
    )
    devices: Devices = Field(
        Devices.model_validate({}),
        description="Devices as OCSF Device Inventory Info (class 5001) events; off by default.",
    )
    directory_audits: DirectoryAudits = Field(
        DirectoryAudits.model_validate({}),
        description="The directory audit log (who changed what) as OCSF Account Change, Group "
        "Management, User Access Management and Entity Management events; off by default.",
    )
    intake: Intake | None = Field(None, description="HTTP intake that receives the events.")

    @field_validator("tenant_id")
    @classmethod
    def _check_tenant(cls, value: str) -> str:
        if not _fullmatch(TENANT_PATTERN, value):
            raise ValueError("must be a GUID or a domain name such as contoso.onmicrosoft.com")
        return value.lower()

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str) -> str:
        if not _fullmatch(GUID_PATTERN, value):
            raise ValueError("must be a GUID (the application's client ID)")
        return value.lower()

    @field_validator("domains")
    @classmethod
    def _unique_domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _check_credentials(self) -> Self:
        for key, message in credential_rules(
            self.client_secret is not None,
            self.certificate_path is not None,
            self.certificate_password is not None,
        ):
            raise KeyProblem(key, message)
        return self

