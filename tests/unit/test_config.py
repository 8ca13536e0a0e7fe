"""Specification of the configuration: what `load_settings` accepts, rejects, and how it says so."""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import ValidationError

from connector.config import Settings, load_settings
from connector.errors import ConfigError

TENANT = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
CLIENT = "0C5B2A41-9D6E-4E0B-8B8E-2A3C1F9D7E11"
SECRET = "Sentinel~Secret.Value_0123456789"
BASE: Mapping[str, Any] = {"tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET}
CREDENTIAL_KEYS = "client_secret or certificate_path"


def config(**changes: Any) -> dict[str, Any]:
    """BASE with keys changed; a value of `...` removes the key."""
    merged = {**BASE, **changes}
    return {key: value for key, value in merged.items() if value is not ...}


def load(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    return load_settings(data, env={} if env is None else env)


def errors(data: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(data, env)
    return dict(caught.value.errors)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(key_type=trustme.KeyType.RSA)


@pytest.fixture(scope="module")
def leaf(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("connector.example", key_type=trustme.KeyType.RSA)


@pytest.fixture
def pem(tmp_path: Path, leaf: trustme.LeafCert) -> Path:
    path = tmp_path / "client.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


def encrypted_pem(tmp_path: Path, leaf: trustme.LeafCert, password: bytes) -> Path:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    path = tmp_path / "encrypted.pem"
    path.write_bytes(encrypted + leaf.cert_chain_pems[0].bytes())
    return path


# --- identifiers ------------------------------------------------------------------------------


def test_minimal_configuration_loads_with_the_documented_defaults() -> None:
    settings = load(BASE)
    assert (settings.cloud, settings.include_guests, settings.domains) == ("global", True, ())
    assert (settings.page_size, settings.max_concurrency, settings.batch_size) == (999, 4, 500)
    assert settings.retry_deadline_seconds == 900
    assert settings.incremental_overlap_minutes == 60
    assert settings.expiry_warning_days == 90
    assert settings.intake is None


def test_guid_identifiers_are_stored_lower_case() -> None:
    settings = load(BASE)
    assert (settings.tenant_id, settings.client_id) == (TENANT.lower(), CLIENT.lower())


def test_tenant_may_be_a_verified_domain_name() -> None:
    assert load(config(tenant_id="Contoso.onmicrosoft.com")).tenant_id == "contoso.onmicrosoft.com"


@pytest.mark.parametrize(
    "tenant",
    ["contoso", "common", "not a guid", f"{{{TENANT}}}", "-contoso.com", "contoso.com\n", ""],
)
def test_tenant_that_is_neither_guid_nor_domain_is_rejected(tenant: str) -> None:
    assert "GUID or a domain" in errors(config(tenant_id=tenant))["tenant_id"]


@pytest.mark.parametrize("client", ["contoso.onmicrosoft.com", TENANT[:-1], TENANT + "0", ""])
def test_client_id_must_be_a_guid(client: str) -> None:
    assert "GUID" in errors(config(client_id=client))["client_id"]


# --- credentials --------------------------------------------------------------------------------


def test_missing_credential_names_both_keys() -> None:
    assert errors(config(client_secret=...)) == {
        CREDENTIAL_KEYS: "set exactly one of them; neither is set"
    }


def test_secret_and_certificate_together_name_both_keys(pem: Path) -> None:
    assert errors(config(certificate_path=str(pem))) == {
        CREDENTIAL_KEYS: "set exactly one of them; both are set"
    }


def test_empty_client_secret_is_rejected() -> None:
    assert errors(config(client_secret=" "))["client_secret"] == "must not be empty"


def test_certificate_password_without_certificate_is_rejected() -> None:
    assert (
        "only used with certificate_path"
        in errors(config(certificate_password="pw"))["certificate_password"]
    )


def test_pem_certificate_with_its_key_is_accepted(pem: Path) -> None:
    assert load(config(client_secret=..., certificate_path=str(pem))).certificate_path == pem


def test_relative_certificate_path_is_taken_from_the_config_files_folder(
    tmp_path: Path, pem: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = tmp_path / "settings.json"
    config_file.write_text(json.dumps(config(client_secret=..., certificate_path=pem.name)))
    monkeypatch.chdir("/")
    assert load_settings(config_file, env={}).certificate_path == pem


def test_encrypted_key_is_accepted_with_its_password(
    tmp_path: Path, leaf: trustme.LeafCert
) -> None:
    path = encrypted_pem(tmp_path, leaf, b"s3cret")
    settings = load(
        config(client_secret=..., certificate_path=str(path), certificate_password="s3cret")
    )
    assert settings.certificate_path == path


def test_encrypted_key_without_password_asks_for_certificate_password(
    tmp_path: Path, leaf: trustme.LeafCert
) -> None:
    path = encrypted_pem(tmp_path, leaf, b"s3cret")
    message = errors(config(client_secret=..., certificate_path=str(path)))["certificate_path"]
    assert "encrypted" in message and "certificate_password" in message


def test_wrong_certificate_password_is_reported(tmp_path: Path, leaf: trustme.LeafCert) -> None:
    path = encrypted_pem(tmp_path, leaf, b"s3cret")
    found = errors(
        config(client_secret=..., certificate_path=str(path), certificate_password="nope")
    )
    assert "wrong certificate_password" in found["certificate_path"]


def test_password_for_an_unencrypted_key_is_reported(pem: Path) -> None:
    found = errors(config(client_secret=..., certificate_path=str(pem), certificate_password="pw"))
    assert "not encrypted" in found["certificate_path"]


def test_pkcs12_certificate_is_accepted(tmp_path: Path, leaf: trustme.LeafCert) -> None:
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    path = tmp_path / "client.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client",
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(b"pfx-pw"),
        )
    )
    settings = load(
        config(client_secret=..., certificate_path=str(path), certificate_password="pfx-pw")
    )
    assert settings.certificate_path == path


def test_certificate_file_without_private_key_is_rejected(
    tmp_path: Path, leaf: trustme.LeafCert
) -> None:
    path = tmp_path / "cert-only.pem"
    leaf.cert_chain_pems[0].write_to_path(str(path))
    found = errors(config(client_secret=..., certificate_path=str(path)))
    assert "no private key" in found["certificate_path"]


def test_key_that_does_not_belong_to_the_certificate_is_rejected(
    tmp_path: Path, ca: trustme.CA, leaf: trustme.LeafCert
) -> None:
    other = ca.issue_cert("other.example", key_type=trustme.KeyType.RSA)
    path = tmp_path / "mismatch.pem"
    path.write_bytes(other.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    found = errors(config(client_secret=..., certificate_path=str(path)))
    assert "does not belong" in found["certificate_path"]


def test_non_rsa_key_is_rejected_because_assertions_are_rsa_signed(tmp_path: Path) -> None:
    ec_leaf = trustme.CA().issue_cert("ec.example")
    path = tmp_path / "ec.pem"
    ec_leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
    assert isinstance(
        serialization.load_pem_private_key(ec_leaf.private_key_pem.bytes(), None),
        ec.EllipticCurvePrivateKey,
    )
    assert (
        "must be RSA"
        in errors(config(client_secret=..., certificate_path=str(path)))["certificate_path"]
    )


def test_missing_certificate_file_is_rejected(tmp_path: Path) -> None:
    found = errors(config(client_secret=..., certificate_path=str(tmp_path / "absent.pem")))
    assert found == {"certificate_path": "file not found"}


def test_certificate_path_that_is_a_folder_is_rejected(tmp_path: Path) -> None:
    found = errors(config(client_secret=..., certificate_path=str(tmp_path)))
    assert found == {"certificate_path": "is not a regular file"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_certificate_is_rejected(pem: Path) -> None:
    pem.chmod(0)
    found = errors(config(client_secret=..., certificate_path=str(pem)))
    assert "cannot read" in found["certificate_path"]


# --- ca bundle --------------------------------------------------------------------------------


def test_pem_ca_bundle_is_accepted(tmp_path: Path, ca: trustme.CA) -> None:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    assert load(config(ca_bundle=str(path))).ca_bundle == path


def test_ca_bundle_without_certificates_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate\n")
    assert "no PEM certificate" in errors(config(ca_bundle=str(path)))["ca_bundle"]


def test_missing_ca_bundle_is_rejected(tmp_path: Path) -> None:
    assert errors(config(ca_bundle=str(tmp_path / "absent.pem"))) == {"ca_bundle": "file not found"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_ca_bundle_is_rejected(tmp_path: Path, ca: trustme.CA) -> None:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    path.chmod(0)
    assert "cannot read" in errors(config(ca_bundle=str(path)))["ca_bundle"]


# --- endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["authority_host", "graph_endpoint"])
def test_plain_http_endpoint_is_rejected_naming_the_key(key: str) -> None:
    message = errors(config(**{key: "http://127.0.0.1:8443"}))[key]
    assert message.startswith("must be an https:// URL")


@pytest.mark.parametrize("key", ["authority_host", "graph_endpoint"])
@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw@login.example",
        "https://login.example/?x=1",
        "https://login.example/#x",
        "https://",
        "login.example",
        "https://[::1",
    ],
)
def test_malformed_endpoint_is_rejected(key: str, url: str) -> None:
    assert key in errors(config(**{key: url}))


def test_endpoint_trailing_slash_is_removed() -> None:
    settings = load(config(authority_host="https://login.microsoftonline.us/"))
    assert settings.authority_host == "https://login.microsoftonline.us"


def test_graph_endpoint_api_version_is_removed() -> None:
    settings = load(config(graph_endpoint="https://graph.microsoft.us/v1.0/"))
    assert settings.graph_endpoint == "https://graph.microsoft.us"


def test_graph_endpoint_with_beta_version_is_rejected() -> None:
    assert (
        "API version"
        in errors(config(graph_endpoint="https://graph.microsoft.com/beta"))["graph_endpoint"]
    )


def test_graph_endpoint_keeps_a_path_prefix() -> None:
    settings = load(config(graph_endpoint="https://proxy.example/graph/"))
    assert settings.graph_endpoint == "https://proxy.example/graph"


def test_unknown_cloud_is_rejected_with_the_choices() -> None:
    assert "'usgov-dod'" in errors(config(cloud="germany"))["cloud"]


# --- domains and tuning -----------------------------------------------------------------------


def test_domains_are_lower_cased_and_deduplicated() -> None:
    settings = load(config(domains=["Contoso.com", "contoso.COM", "fabrikam.onmicrosoft.com"]))
    assert settings.domains == ("contoso.com", "fabrikam.onmicrosoft.com")


def test_invalid_domain_is_reported_with_its_position() -> None:
    assert errors(config(domains=["contoso.com", "contoso"])) == {
        "domains[1]": "must be a domain name such as contoso.com"
    }


@pytest.mark.parametrize(
    ("key", "low", "high"),
    [
        ("page_size", 0, 1000),
        ("max_concurrency", 0, 17),
        ("batch_size", 0, 10_001),
        ("retry_deadline_seconds", 0, 86_401),
        ("incremental_overlap_minutes", -1, 10_081),
        ("expiry_warning_days", -1, 3_651),
    ],
)
def test_tuning_values_outside_their_bounds_are_rejected(key: str, low: int, high: int) -> None:
    assert errors(config(**{key: low}))[key] == f"must be at least {low + 1}"
    assert errors(config(**{key: high}))[key] == f"must be at most {high - 1}"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("page_size", "100", "must be an integer"),
        ("page_size", 100.0, "must be an integer"),
        ("page_size", True, "must be an integer"),
        ("include_guests", "yes", "must be true or false"),
        ("include_guests", 1, "must be true or false"),
        ("tenant_id", 5, "must be a string"),
        ("domains", "contoso.com", "must be a list"),
        ("intake", "https://intake.example", "must be an object"),
        ("ca_bundle", 5, "must be a file path"),
    ],
)
def test_value_of_the_wrong_type_is_named(key: str, value: Any, message: str) -> None:
    assert errors(config(**{key: value})) == {key: message}


def test_unknown_key_is_named_with_a_suggestion() -> None:
    assert errors(config(page_sise=10)) == {"page_sise": "unknown key (did you mean 'page_size'?)"}


def test_unknown_key_inside_intake_is_named() -> None:
    found = errors(config(intake={"url": "https://intake.example", "gzipped": False}))
    assert found == {"intake.gzipped": "unknown key (did you mean 'gzip'?)"}


def test_every_bad_key_is_reported_at_once() -> None:
    found = errors(config(client_id="x", page_size=0, client_secret=..., cloud="mars", extra=1))
    assert set(found) == {"client_id", "page_size", "cloud", "extra", CREDENTIAL_KEYS}


def test_error_text_lists_each_bad_key_on_its_own_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load(config(client_id="x", page_size=0))
    assert str(caught.value).splitlines() == [
        "invalid configuration:",
        "  client_id: must be a GUID (the application's client ID)",
        "  page_size: must be at least 1",
    ]


def test_settings_are_immutable() -> None:
    settings = load(BASE)
    with pytest.raises(ValidationError):
        settings.page_size = 5


# --- intake ----------------------------------------------------------------------------------


def test_intake_defaults() -> None:
    intake = load(config(intake={"url": "https://intake.example/batch"})).intake
    assert intake is not None
    assert (intake.format, intake.batch_size, intake.gzip, intake.delivery_deadline_seconds) == (
        "ndjson",
        500,
        True,
        300,
    )


@pytest.mark.parametrize(
    "url", ["http://intake.example/", "http://10.0.0.1/", "http://[::2]/", "ftp://intake.example/"]
)
def test_intake_url_must_be_https_unless_loopback(url: str) -> None:
    assert errors(config(intake={"url": url}))["intake.url"].startswith("must be an https:// URL")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://127.9.8.7/",
        "http://[::1]:9000/",
        "http://localhost/",
        "HTTP://LOCALHOST/",
    ],
)
def test_intake_over_http_is_allowed_to_a_loopback_address(url: str) -> None:
    intake = load(config(intake={"url": url})).intake
    assert intake is not None and intake.url == url


SEKOIA_UUID = "6f1c1a7e-0b7e-4f43-9d51-2f4f8a3c9b10"


def test_sekoia_intake_requires_a_connector_uuid_and_an_api_key() -> None:
    found = errors(config(intake={"url": "https://intake.example", "format": "sekoia"}))
    assert found == {
        "intake.connector_uuid": 'is required when format is "sekoia"',
        "intake.api_key": 'is required when format is "sekoia"',
    }


def test_sekoia_api_key_may_come_from_the_environment() -> None:
    intake = {"url": "https://intake.example", "format": "sekoia", "connector_uuid": SEKOIA_UUID}
    settings = load(config(intake=intake), env={"ENTRA_INTAKE_API_KEY": "k"})
    assert settings.intake is not None and str(settings.intake.connector_uuid) == SEKOIA_UUID


def test_sekoia_connector_uuid_must_be_a_uuid() -> None:
    intake = {"url": "https://intake.example", "format": "sekoia", "connector_uuid": "abc"}
    assert errors(config(intake=intake), env={"ENTRA_INTAKE_API_KEY": "k"}) == {
        "intake.connector_uuid": "must be a UUID"
    }


@pytest.mark.parametrize("size", [0, 10_001])
def test_intake_batch_size_is_bounded(size: int) -> None:
    assert "intake.batch_size" in errors(
        config(intake={"url": "https://i.example", "batch_size": size})
    )


# --- environment -----------------------------------------------------------------------------


def test_client_secret_comes_from_the_environment_when_absent() -> None:
    settings = load(config(client_secret=...), env={"ENTRA_CLIENT_SECRET": "from-env"})
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "from-env"


def test_explicit_client_secret_wins_over_the_environment() -> None:
    settings = load(BASE, env={"ENTRA_CLIENT_SECRET": "from-env"})
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == SECRET


def test_environment_secret_is_ignored_for_a_certificate_configuration(pem: Path) -> None:
    settings = load(
        config(client_secret=..., certificate_path=str(pem)), env={"ENTRA_CLIENT_SECRET": "x"}
    )
    assert settings.client_secret is None


def test_certificate_password_comes_from_the_environment(
    tmp_path: Path, leaf: trustme.LeafCert
) -> None:
    path = encrypted_pem(tmp_path, leaf, b"s3cret")
    settings = load(
        config(client_secret=..., certificate_path=str(path)),
        env={"ENTRA_CERTIFICATE_PASSWORD": "s3cret"},
    )
    assert settings.certificate_password is not None


def test_certificate_password_in_the_environment_is_ignored_with_a_client_secret() -> None:
    assert load(BASE, env={"ENTRA_CERTIFICATE_PASSWORD": "pw"}).certificate_password is None


def test_intake_api_key_comes_from_the_environment() -> None:
    settings = load(
        config(intake={"url": "https://i.example"}), env={"ENTRA_INTAKE_API_KEY": "key-from-env"}
    )
    assert settings.intake is not None and settings.intake.api_key is not None
    assert settings.intake.api_key.get_secret_value() == "key-from-env"


def test_intake_api_key_in_the_environment_does_not_create_an_intake() -> None:
    assert load(BASE, env={"ENTRA_INTAKE_API_KEY": "k"}).intake is None


def test_empty_environment_variable_counts_as_unset() -> None:
    assert CREDENTIAL_KEYS in errors(config(client_secret=...), env={"ENTRA_CLIENT_SECRET": ""})


def test_process_environment_is_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "from-process-env")
    settings = load_settings(config(client_secret=...))
    assert settings.client_secret is not None
    assert settings.client_secret.get_secret_value() == "from-process-env"


def test_input_mapping_is_not_modified() -> None:
    data = config(client_secret=..., intake={"url": "https://i.example"})
    before = json.dumps(data)
    load(data, env={"ENTRA_CLIENT_SECRET": "s", "ENTRA_INTAKE_API_KEY": "k"})
    assert json.dumps(data) == before


# --- files -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "settings.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def file_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
    return str(caught.value)


def test_json_file_is_loaded(tmp_path: Path) -> None:
    assert load_settings(str(write(tmp_path, json.dumps(BASE))), env={}).client_id == CLIENT.lower()


def test_json_file_with_a_byte_order_mark_is_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xef\xbb\xbf" + json.dumps(BASE).encode())
    assert load_settings(path, env={}).tenant_id == TENANT.lower()


def test_invalid_json_names_the_file_and_position(tmp_path: Path) -> None:
    assert "not valid JSON" in file_error(write(tmp_path, '{"tenant_id": }'))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    assert "file not found" in file_error(tmp_path / "absent.json")


def test_json_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    assert "must contain a JSON object" in file_error(write(tmp_path, "[]"))


def test_duplicate_key_is_rejected(tmp_path: Path) -> None:
    text = '{"tenant_id": "a", "tenant_id": "b"}'
    assert '"tenant_id" appears twice' in file_error(write(tmp_path, text))


def test_nan_is_rejected(tmp_path: Path) -> None:
    assert "NaN" in file_error(write(tmp_path, '{"page_size": NaN}'))


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    assert "not UTF-8" in file_error(write(tmp_path, b'{"tenant_id": "\xff"}'))


def test_errors_in_a_file_name_the_file_and_the_keys(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(config(page_size=0)))
    assert "page_size: must be at least 1" in file_error(path)


# --- secrets never shown ---------------------------------------------------------------------


def test_settings_repr_and_str_hide_every_secret() -> None:
    settings = load(
        config(intake={"url": "https://i.example", "api_key": SECRET + "-key"}),
        env={},
    )
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_certificate_password_is_hidden_from_repr(tmp_path: Path, leaf: trustme.LeafCert) -> None:
    path = encrypted_pem(tmp_path, leaf, SECRET.encode())
    settings = load(
        config(client_secret=..., certificate_path=str(path), certificate_password=SECRET)
    )
    assert SECRET not in repr(settings)


def test_secret_pasted_into_the_wrong_key_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            config(client_id=SECRET, tenant_id=SECRET, cloud=SECRET, domains=[SECRET], extra=SECRET)
        )
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.errors)


def test_config_error_does_not_carry_the_raw_validation_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load(config(client_secret=SECRET, page_size=SECRET))
    rendered = "".join(traceback.format_exception(caught.value))
    assert SECRET not in rendered
