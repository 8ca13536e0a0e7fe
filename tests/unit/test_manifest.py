"""manifest.json and docs/configuration.md: generated from the Settings model, never edited apart.

The root manifest.json is the source of the hand-written parts (name, permissions, ...);
`python -m connector.config --write` refreshes its generated parts (`version`, `configuration`),
copies it into the package and regenerates docs/configuration.md.
"""

from __future__ import annotations

import json
import re
import tomllib
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector.config import Settings, load_settings, manifest_config_schema
from connector.config.generate import (
    EXAMPLE_CONFIGURATION,
    configuration_markdown,
    generated_files,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
MANIFEST: dict[str, Any] = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
GUID = "11111111-2222-3333-4444-555555555555"


def test_manifest_configuration_is_the_schema_generated_from_settings() -> None:
    assert MANIFEST["configuration"] == manifest_config_schema()


def test_packaged_manifest_is_a_byte_identical_copy_of_the_root_manifest() -> None:
    packaged = resources.files("connector").joinpath("manifest.json").read_bytes()
    assert packaged == (ROOT / "manifest.json").read_bytes()


def test_configuration_doc_is_generated_from_the_schema() -> None:
    assert (ROOT / "docs" / "configuration.md").read_text(
        encoding="utf-8"
    ) == configuration_markdown()


def test_every_generated_file_is_up_to_date() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in generated_files(ROOT).items()
        if path.read_text(encoding="utf-8") != text
    ]
    assert stale == [], "run: python -m connector.config --write"


def test_check_command_reports_success_when_nothing_is_stale() -> None:
    assert main(["--check"]) == 0


def test_manifest_version_is_the_package_version() -> None:
    assert MANIFEST["version"] == PYPROJECT["project"]["version"]


def test_manifest_identity() -> None:
    assert MANIFEST["slug"] == "entra-id-users"
    assert str(uuid.UUID(MANIFEST["uuid"])) == MANIFEST["uuid"]
    assert MANIFEST["name"] and MANIFEST["description"]


def test_manifest_entry_point_is_the_declared_plugin() -> None:
    assert MANIFEST["entry_point"] == "connector.plugin:EntraIdUserInventory"
    assert (
        MANIFEST["entry_point"] in PYPROJECT["project"]["entry-points"]["ocsf_connectors"].values()
    )


def test_manifest_declares_ocsf_user_inventory_info() -> None:
    assert MANIFEST["ocsf"] == {
        "version": "1.8.0",
        "class_uid": 5003,
        "class_name": "User Inventory Info",
    }


def test_required_permissions_are_users_groups_and_roles() -> None:
    required = MANIFEST["permissions"]["required"]
    assert [p["name"] for p in required] == [
        "User.Read.All",
        "GroupMember.Read.All",
        "RoleManagement.Read.Directory",
    ]
    assert all(p["why"] for p in required)


def test_directory_read_all_is_named_as_the_broader_alternative() -> None:
    alternative = MANIFEST["permissions"]["alternative"]
    assert alternative["name"] == "Directory.Read.All"
    assert alternative["covers"] == [p["name"] for p in MANIFEST["permissions"]["required"]]


def test_optional_permissions_say_what_they_unlock() -> None:
    optional = {p["name"]: p["unlocks"] for p in MANIFEST["permissions"]["optional"]}
    assert set(optional) == {
        "AuditLog.Read.All",
        "UserAuthenticationMethod.Read.All",
        "Application.Read.All",
        "Directory.Read.All",
        "IdentityRiskyUser.Read.All",
        "Device.Read.All",
        "DeviceManagementManagedDevices.Read.All",
    }
    assert "P1" in optional["AuditLog.Read.All"] and "P2" in optional["IdentityRiskyUser.Read.All"]
    assert "Intune" in optional["DeviceManagementManagedDevices.Read.All"]
    assert "Sign-in logs only" in optional["Directory.Read.All"]


# --- the configuration schema ------------------------------------------------------------------

SCHEMA = manifest_config_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


def test_schema_is_valid_json_schema_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_schema_marks_and_lists_the_secrets() -> None:
    assert SCHEMA["secrets"] == ["client_secret", "certificate_password", "intake.api_key"]
    properties = SCHEMA["properties"]
    intake = next(b for b in properties["intake"]["anyOf"] if b.get("type") == "object")
    marked = [
        properties["client_secret"],
        properties["certificate_password"],
        intake["properties"]["api_key"],
    ]
    assert all(p["secret"] is True for p in marked)


def test_schema_lists_every_settings_key() -> None:
    assert list(SCHEMA["properties"]) == list(Settings.model_fields)


def test_schema_requires_exactly_what_settings_requires() -> None:
    intake = next(b for b in SCHEMA["properties"]["intake"]["anyOf"] if b.get("type") == "object")
    assert SCHEMA["required"] == ["tenant_id", "client_id"]
    assert intake["required"] == ["url"]


def test_schema_is_self_contained() -> None:
    assert "$ref" not in json.dumps(SCHEMA) and "$defs" not in SCHEMA


def test_example_configuration_satisfies_both_schema_and_settings() -> None:
    assert list(VALIDATOR.iter_errors(dict(EXAMPLE_CONFIGURATION))) == []
    assert load_settings(EXAMPLE_CONFIGURATION, env={}).tenant_id == "contoso.onmicrosoft.com"


def test_example_configuration_is_shown_in_the_doc() -> None:
    assert json.dumps(EXAMPLE_CONFIGURATION, indent=2) in configuration_markdown()


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"tenant_id": GUID, "client_id": GUID}, id="no credential"),
        pytest.param(
            {
                "tenant_id": GUID,
                "client_id": GUID,
                "client_secret": "s",
                "certificate_path": "c.pem",
            },
            id="two credentials",
        ),
        pytest.param(
            {
                "tenant_id": GUID,
                "client_id": GUID,
                "client_secret": "s",
                "certificate_password": "p",
            },
            id="password without certificate",
        ),
        pytest.param(
            {
                "tenant_id": GUID,
                "client_id": GUID,
                "client_secret": "s",
                "intake": {"url": "https://i", "format": "sekoia", "api_key": "k"},
            },
            id="sekoia without connector uuid",
        ),
        pytest.param(
            {"tenant_id": GUID, "client_id": GUID, "client_secret": "s", "x": 1}, id="unknown key"
        ),
        pytest.param(
            {"tenant_id": "contoso", "client_id": GUID, "client_secret": "s"}, id="bad tenant"
        ),
        pytest.param(
            {
                "tenant_id": GUID,
                "client_id": GUID,
                "client_secret": "s",
                "graph_endpoint": "http://g",
            },
            id="http endpoint",
        ),
        pytest.param(
            {"tenant_id": GUID, "client_id": GUID, "client_secret": "s", "domains": ["contoso"]},
            id="bad domain",
        ),
    ],
)
def test_schema_rejects_what_settings_rejects(config: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(config)) != []


def test_doc_names_every_key_and_environment_variable() -> None:
    text = configuration_markdown()
    keys = re.findall(r"^\| `([a-z_.]+)` \|", text, flags=re.MULTILINE)
    nested = [f"intake.{k}" for k in SCHEMA["properties"]["intake"]["anyOf"][0]["properties"]]
    assert set(list(SCHEMA["properties"]) + nested) <= set(keys)
    for variable in ("ENTRA_CLIENT_SECRET", "ENTRA_CERTIFICATE_PASSWORD", "ENTRA_INTAKE_API_KEY"):
        assert f"`{variable}`" in text


def test_manifest_lists_each_stream_with_its_plugin_and_class() -> None:
    streams = {s["name"]: s for s in MANIFEST["streams"]}
    assert set(streams) == {"users", "sign_ins", "devices", "directory_audits",
                            "workload_identities"}
    assert streams["users"]["entry_point"] == MANIFEST["entry_point"]
    assert streams["sign_ins"]["ocsf"]["class_uid"] == 3002
    assert streams["sign_ins"]["ocsf"]["profiles"] == ["host", "security_control"]
    assert streams["sign_ins"]["enabled_by"] == "sign_ins.enabled"
    assert streams["devices"]["ocsf"]["class_uid"] == 5001
    assert streams["devices"]["enabled_by"] == "devices.enabled"
    audits = streams["directory_audits"]
    assert [c["class_uid"] for c in audits["ocsf"]["classes"]] == [3001, 3004, 3005, 3006]
    assert audits["enabled_by"] == "directory_audits.enabled"
    registered = PYPROJECT["project"]["entry-points"]["ocsf_connectors"].values()
    assert {s["entry_point"] for s in streams.values()} <= set(registered)
