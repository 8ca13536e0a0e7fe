"""The bundled OCSF 1.8.0 schemas of the directory-audit classes: intact, reproducible, agreed with.

Account Change (3001), Entity Management (3004), User Access Management (3005) and Group
Management (3006), generated without profiles (schemas/PROVENANCE.md). Regenerating needs the
dev extra's `ocsf-json-schema`; those tests are skipped without it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector import validation
from connector.ocsf import (
    account_change,
    audit_common,
    entity_management,
    group_management,
    user_access_management,
)

ROOT = Path(__file__).resolve().parents[2]
# OCSF class name, mapping module, sha256 recorded in schemas/PROVENANCE.md
CLASSES: list[tuple[str, ModuleType, str]] = [
    ("account_change", account_change,
     "92ea1b982171480f97ae22198c1d28c5cc910e7d00938ee05d86a9681d361e5d"),
    ("entity_management", entity_management,
     "805847741798b97c8f752b362ac1d2cbdbb8e2e4c558b591e3f58ec599a4788c"),
    ("user_access", user_access_management,
     "b7b7ec8452389b33e135e741ab07da73c4721af96b1e7bc58e0e526a960589c9"),
    ("group_management", group_management,
     "c79a5daf15c4488705e3584140e85496bd1fb130d8a8590fc471b305f6f66f4a"),
]
IDS = [name for name, _, _ in CLASSES]


def _sort_enums(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: sorted(v) if k == "enum" and isinstance(v, list) else _sort_enums(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_sort_enums(v) for v in node]
    return node


def captions(attribute: Mapping[str, Any]) -> dict[int, str]:
    return {int(key): value["caption"] for key, value in attribute["enum"].items()}


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    package = pytest.importorskip("ocsf_json_schema")
    data: dict[str, Any] = package.get_ocsf_schema("1.8.0")
    return data


@pytest.mark.parametrize(("name", "module", "sha"), CLASSES, ids=IDS)
def test_packaged_schema_is_byte_identical_and_has_the_recorded_hash(
        name: str, module: ModuleType, sha: str) -> None:
    bundled = (ROOT / "schemas" / f"{name}.1.8.0.schema.json").read_bytes()
    assert (ROOT / "connector" / "schemas" / f"{name}.1.8.0.schema.json").read_bytes() == bundled
    assert hashlib.sha256(bundled).hexdigest() == sha
    assert sha in (ROOT / "schemas" / "PROVENANCE.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "module", "sha"), CLASSES, ids=IDS)
def test_validation_loads_each_class_schema_for_its_class_uid(
        name: str, module: ModuleType, sha: str) -> None:
    schema = validation.load_schema(module.CLASS_UID)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["class_uid"]["const"] == module.CLASS_UID
    assert validation.SCHEMA_PROFILES[module.CLASS_UID] == frozenset()


@pytest.mark.parametrize(("name", "module", "sha"), CLASSES, ids=IDS)
def test_regenerating_with_the_documented_command_gives_the_bundled_bytes(
        export: dict[str, Any], name: str, module: ModuleType, sha: str) -> None:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded

    schema = _sort_enums(OcsfJsonSchemaEmbedded(export).get_class_schema(name, profiles=[]))
    expected = (ROOT / "schemas" / f"{name}.1.8.0.schema.json").read_text("utf-8")
    assert json.dumps(schema, indent=2, sort_keys=True) + "\n" == expected


@pytest.mark.parametrize(("name", "module", "sha"), CLASSES, ids=IDS)
def test_caption_tables_agree_with_the_official_class(
        export: dict[str, Any], name: str, module: ModuleType, sha: str) -> None:
    official = export["classes"][name]
    assert official["caption"] == module.CLASS_CAPTIONS[module.CLASS_UID]
    assert captions(official["attributes"]["activity_id"]) == dict(module.ACTIVITY_CAPTIONS)
    assert captions(official["attributes"]["type_uid"]) == dict(module.TYPE_CAPTIONS)
    assert captions(official["attributes"]["status_id"]) == dict(audit_common.STATUS_CAPTIONS)
    assert captions(official["attributes"]["category_uid"]) == dict(
        audit_common.CATEGORY_CAPTIONS)


def test_entity_type_captions_agree_with_the_managed_entity_object(
        export: dict[str, Any]) -> None:
    attribute = export["objects"]["managed_entity"]["attributes"]["type_id"]
    assert captions(attribute) == dict(entity_management.ENTITY_TYPE_CAPTIONS)


def test_factor_type_captions_agree_with_the_auth_factor_object(export: dict[str, Any]) -> None:
    attribute = export["objects"]["auth_factor"]["attributes"]["factor_type_id"]
    assert captions(attribute) == dict(account_change.FACTOR_TYPE_CAPTIONS)


def test_a_declared_profile_is_rejected_on_a_directory_audit_event() -> None:
    from connector.ocsf import directory_audit

    event = directory_audit.to_event(directory_audit.example_record(),
                                     tenant_id=directory_audit.EXAMPLE_TENANT_ID,
                                     product=directory_audit.EXAMPLE_PRODUCT)
    event["metadata"]["profiles"] = ["cloud"]
    assert ("$.metadata.profiles",
            "profile 'cloud' is not one the bundled class 3005 schema covers") in \
        validation.EventValidator().errors(event)
