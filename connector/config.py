"""Connector settings: every configuration key, its rules and its default, in one place.

Settings are checked once at start-up (file paths opened, certificates parsed) so that a bad value
stops the connector with a message naming the key, instead of failing an hour into a collection.
The same model generates the manifest's `configuration` JSON Schema and `docs/configuration.md`,
so neither can drift from what the code accepts.

Regenerate both after changing a key: `python -m connector.config --write` (`--check` in CI).
"""

from __future__ import annotations

import argparse
import difflib
import ipaddress
import json
import os
import re
import ssl
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Final, Literal, NamedTuple, Self
from urllib.parse import urlsplit
from uuid import UUID

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, pkcs12
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.config import JsonDict
from pydantic_core import ErrorDetails

from connector.errors import ConfigError

CloudName = Literal["global", "usgov", "usgov-dod", "china"]
IntakeFormat = Literal["ndjson", "sekoia"]

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
_HTTPS_URL: Final = "^[Hh][Tt][Tt][Pp][Ss]://"
_INTAKE_URL: Final = "^[Hh][Tt][Tt][Pp][Ss]?://"

_MAX_FILE_BYTES: Final = 1 << 20
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


class _KeyProblem(ValueError):
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


def _read_small_file(path: Path) -> bytes:
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
    data = _read_small_file(path)
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
    _read_small_file(path)
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
    Field(json_schema_extra={"format": "uri", "pattern": _HTTPS_URL}),
]
_GraphEndpoint = Annotated[_Endpoint, AfterValidator(_graph_endpoint)]
_CertificateFile = Annotated[Path, AfterValidator(_certificate)]
_CaBundleFile = Annotated[Path, AfterValidator(lambda v, info: _ca_bundle(_resolve(v, info)))]


def _credential_rules(
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


def _intake_rules(intake_format: object, has_uuid: bool, has_key: bool) -> list[tuple[str, str]]:
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
        json_schema_extra={"format": "uri", "pattern": _INTAKE_URL},
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
        for key, message in _intake_rules(
            self.format, self.connector_uuid is not None, self.api_key is not None
        ):
            raise _KeyProblem(key, message)
        return self


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
        "`auto` caps them at 1,000 per run, `always` asks for every such user, `never` reports "
        "their MFA as unknown.",
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
        for key, message in _credential_rules(
            self.client_secret is not None,
            self.certificate_path is not None,
            self.certificate_password is not None,
        ):
            raise _KeyProblem(key, message)
        return self


# ---------------------------------------------------------------------------------------------
# Loading


def load_settings(
    source: str | os.PathLike[str] | Mapping[str, Any], env: Mapping[str, str] | None = None
) -> Settings:
    """Validates a configuration (JSON file path or mapping) and applies environment fallbacks.

    Raises ConfigError listing every bad key. Relative paths inside a file are resolved against
    the file's folder. `env` defaults to the process environment.
    """
    where: str | None = None
    base_dir: Path | None = None
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        path = Path(source)
        where, base_dir = str(path), path.absolute().parent
        data = _read_json_object(path)
    data = _with_env(data, os.environ if env is None else env)
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        # `from None`: the ValidationError holds the raw inputs, secrets included.
        raise ConfigError(_report(exc, data), source=where) from None


class _DuplicateKey(Exception):
    pass


def _read_json_object(path: Path) -> dict[str, Any]:
    def fail(message: str) -> ConfigError:
        return ConfigError([("", message)], source=str(path))

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise _DuplicateKey(key)
            seen[key] = value
        return seen

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        text = _read_small_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("not UTF-8 text") from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except _DuplicateKey as exc:
        raise fail(f"the key {json.dumps(exc.args[0])} appears twice in one object") from None
    except RecursionError:
        raise fail("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, integers beyond Python's digit limit
        raise fail(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise fail("must contain a JSON object")
    return data


def _with_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    for fallback in ENV_FALLBACKS:
        value = env.get(fallback.variable)
        if not value or not fallback.applies(data):
            continue
        *parents, leaf = fallback.path
        target = data
        for parent in parents:  # copied, so the caller's mapping is left as it was
            target[parent] = target = dict(target[parent])
        if target.get(leaf) is None:
            target[leaf] = value
    return data


def _report(exc: ValidationError, data: Mapping[str, Any]) -> list[tuple[str, str]]:
    errors = [(_path(e), _message(e)) for e in exc.errors(include_url=False, include_input=False)]
    intake = data.get("intake")
    rules = _credential_rules(
        *(
            data.get(k) is not None
            for k in ("client_secret", "certificate_path", "certificate_password")
        )
    )
    if isinstance(intake, Mapping):
        rules += [
            (f"intake.{key}", message)
            for key, message in _intake_rules(
                intake.get("format"),
                intake.get("connector_uuid") is not None,
                intake.get("api_key") is not None,
            )
        ]
    reported = {field for field, _ in errors}
    return errors + [(field, message) for field, message in rules if field not in reported]


def _path(error: ErrorDetails) -> str:
    text = ""
    for part in error["loc"]:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            text += f".{part}" if text else part
        else:  # a key that would be ambiguous or unprintable as-is: "", "a.b", "x\ny"
            text += f"[{json.dumps(part)}]"
    problem = error.get("ctx", {}).get("error")
    if isinstance(problem, _KeyProblem):
        text += f".{problem.key}" if text else problem.key
    return text


_MESSAGES: Final[Mapping[str, str]] = {
    "missing": "is required",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "bool_type": "must be true or false",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "path_type": "must be a file path",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a UUID",
    "invalid_key": "keys must be strings",
}


def _message(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError):
        return str(ctx["error"])
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}"
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(error["loc"])
    return "is not valid"


def _suggestion(loc: tuple[int | str, ...]) -> str:
    model: type[BaseModel] = Settings
    for part in loc[:-1]:
        if part == "intake":
            model = Intake
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------
# Generated artefacts: the manifest's configuration schema and docs/configuration.md


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _object_branch(prop: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if prop.get("type") == "object":
        return prop
    for branch in prop.get("anyOf", []):
        if branch.get("type") == "object":
            return branch  # type: ignore[no-any-return]
    return None


def _secret_paths(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("secret"):
            found.append(prefix + name)
        nested = _object_branch(prop)
        if nested is not None:
            found += _secret_paths(nested, f"{prefix}{name}.")
    return found


def manifest_config_schema() -> dict[str, Any]:
    """The JSON Schema stored as `configuration` in manifest.json.

    It describes the effective configuration, after environment fallbacks: a file that takes its
    secret from ENTRA_CLIENT_SECRET does not validate on its own. Secret keys carry
    `"secret": true` and are listed in `secrets` so a platform can store them apart.
    """
    generated = Settings.model_json_schema()
    schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(
        _inline({k: v for k, v in generated.items() if k != "$defs"}, generated.get("$defs", {}))
    )
    schema["secrets"] = _secret_paths(schema)
    return schema


_DOC_INTRO: Final = """\
# Configuration

<!-- Generated from connector/config.py by `python -m connector.config --write`. Do not edit. -->

The connector reads one JSON object. Unknown keys are errors (a misspelt optional key would
otherwise be silently ignored), and every key is checked at start-up: files are opened and
certificates parsed, and every bad key is reported at once, by name, without its value.

- **Credentials**: set exactly one of `client_secret` or `certificate_path`.
- **Paths** (`certificate_path`, `ca_bundle`) may be relative: they are taken from the folder of
  the configuration file. `~` is expanded.
- **`ca_bundle`** replaces the system trust store for both the login endpoint and Graph.
- **Proxies**: the standard `HTTPS_PROXY` / `NO_PROXY` environment variables are honoured for the
  login endpoint and Graph.
- **Identifiers**: `tenant_id`, `client_id` and `domains` are stored lower-case.
- The manifest's `configuration` JSON Schema is generated from the same model and describes the
  effective configuration, after the environment fallbacks below.
"""


def _type_text(prop: Mapping[str, Any]) -> str:
    branch = next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), prop)
    if "enum" in branch or "const" in branch:
        return "one of " + ", ".join(f"`{v}`" for v in branch.get("enum", [branch.get("const")]))
    kind = branch.get("type")
    if kind == "integer":
        return f"integer, {branch['minimum']} to {branch['maximum']}"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        items = branch.get("items", {})
        return "list of domain names" if items.get("pattern") == DOMAIN_PATTERN else "list"
    if kind == "object":
        return "object"
    if prop.get("secret"):
        return "string, secret"
    pattern = branch.get("pattern") or prop.get("pattern")
    fmt = branch.get("format") or prop.get("format")
    named = {
        GUID_PATTERN: "GUID",
        TENANT_PATTERN: "GUID or domain name",
        _HTTPS_URL: "https URL",
        _INTAKE_URL: "URL",
        "path": "file path",
        "uuid": "UUID",
    }
    return named.get(pattern or "") or named.get(fmt or "") or "string"


def _default_text(name: str, prop: Mapping[str, Any], required: Sequence[str]) -> str:
    if name in required:
        return "**required**"
    default = prop.get("default")
    if default is None:
        return "not set"
    return f"`{json.dumps(default)}`"


def _rows(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    rows = []
    required = schema.get("required", [])
    for name, prop in schema.get("properties", {}).items():
        description = prop.get("description", "").replace("|", "\\|")
        rows.append(
            f"| `{prefix}{name}` | {_type_text(prop)} | {_default_text(name, prop, required)} "
            f"| {description} |"
        )
        nested = _object_branch(prop)
        if nested is not None:
            rows += _rows(nested, f"{prefix}{name}.")
    return rows


EXAMPLE_CONFIGURATION: Final[Mapping[str, Any]] = {
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "00000000-0000-0000-0000-000000000001",
    "client_secret": "paste-the-secret-or-use-ENTRA_CLIENT_SECRET",
    "domains": ["contoso.com"],
    "intake": {
        "url": "https://intake.sekoia.io",
        "format": "sekoia",
        "connector_uuid": "11111111-2222-4333-8444-555555555555",
        "api_key": "paste-the-key-or-use-ENTRA_INTAKE_API_KEY",
    },
}


def configuration_markdown() -> str:
    """The text of docs/configuration.md, derived from `manifest_config_schema()`."""
    schema = manifest_config_schema()
    lines = [
        _DOC_INTRO,
        "## Keys",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += _rows(schema)
    lines += [
        "",
        "## Secrets from the environment",
        "",
        "A variable fills its key only when the configuration leaves that key unset (an explicit",
        "value wins) and only where the key applies.",
        "",
        "| key | variable | used when |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{'.'.join(f.path)}` | `{f.variable}` | {f.when} |" for f in ENV_FALLBACKS]
    lines += [
        "",
        "Secret keys (never logged, never shown in errors): "
        + ", ".join(f"`{p}`" for p in schema["secrets"])
        + ".",
        "",
        "## Example",
        "",
        "```json",
        json.dumps(EXAMPLE_CONFIGURATION, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def _repository_root() -> Path:
    root = Path(__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise SystemExit(f"{root} is not the source tree (no pyproject.toml): nothing to write")
    return root


def render_manifest(root: Path) -> str:
    """manifest.json with its generated parts (`version`, `configuration`) brought up to date.

    The root manifest.json is the source of everything else in it (name, permissions, ...);
    connector/manifest.json is a byte-identical copy shipped in the package.
    """
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["version"]
    manifest["configuration"] = manifest_config_schema()
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def generated_files(root: Path) -> dict[Path, str]:
    """Every file this module generates, with the content it should have."""
    manifest = render_manifest(root)
    return {
        root / "manifest.json": manifest,
        root / "connector" / "manifest.json": manifest,
        root / "docs" / "configuration.md": configuration_markdown(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.config", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate manifest.json and docs")
    mode.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    root = _repository_root()
    stale = [
        path
        for path, text in generated_files(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(
                f"stale: {path.relative_to(root)} (run python -m connector.config --write)",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in generated_files(root).items():
        if path in stale:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
