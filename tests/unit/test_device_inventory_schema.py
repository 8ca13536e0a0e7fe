"""The bundled OCSF 1.8.0 Device Inventory Info (5001) schema: intact, reproducible, and agreed
with; and `connector.validation` checks 5001 events against it.

The schema is generated without profiles: the device events declare none (every attribute they
carry is in the bare class). Regenerating it needs the dev extra's `ocsf-json-schema`; those
tests are skipped without it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector import validation
from connector.ocsf import device_inventory as dev

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "device_inventory.1.8.0.schema.json"
PACKAGED_SCHEMA = ROOT / "connector" / "schemas" / "device_inventory.1.8.0.schema.json"
SCHEMA_SHA256 = "53fde798f6d44a0960258fe9e2f22d08dc2e42f595f9d727e9da37e4cd5510b9"
VALIDATOR = validation.EventValidator()


def _sort_enums(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: sorted(v) if k == "enum" and isinstance(v, list) else _sort_enums(v)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_sort_enums(v) for v in node]
    return node


@pytest.fixture(scope="module")
def export() -> dict[str, Any]:
    package = pytest.importorskip("ocsf_json_schema")
    data: dict[str, Any] = package.get_ocsf_schema("1.8.0")
    return data


def captions(attribute: Mapping[str, Any]) -> dict[int, str]:
    return {int(key): value["caption"] for key, value in attribute["enum"].items()}


def example_event() -> dict[str, Any]:
    facts = dev.DeviceFacts(managed=dev.example_managed_device(), owners=dev.EXAMPLE_FACTS.owners,
                            users=dev.EXAMPLE_FACTS.users)
    return dev.to_event(dev.example_device(), facts, collected_at_ms=dev.EXAMPLE_COLLECTED_AT_MS,
                        tenant_id=dev.EXAMPLE_TENANT_ID, product=dev.EXAMPLE_PRODUCT)


def test_packaged_schema_is_byte_identical_to_the_repository_copy() -> None:
    assert PACKAGED_SCHEMA.read_bytes() == SCHEMA.read_bytes()


def test_schema_has_the_hash_recorded_in_provenance() -> None:
    provenance = (ROOT / "schemas" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA_SHA256 in provenance


def test_schema_is_a_valid_draft_2020_12_schema_of_class_5001() -> None:
    schema = validation.load_schema(5001)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["class_uid"]["const"] == 5001
    assert "device" in schema["required"]


def test_regenerating_with_the_documented_command_gives_the_bundled_bytes(
        export: dict[str, Any]) -> None:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded

    schema = _sort_enums(OcsfJsonSchemaEmbedded(export).get_class_schema(
        "inventory_info", profiles=[]))
    assert json.dumps(schema, indent=2, sort_keys=True) + "\n" == SCHEMA.read_text("utf-8")


def test_no_profile_adds_an_attribute_the_mapping_emits(export: dict[str, Any]) -> None:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded

    embedded = OcsfJsonSchemaEmbedded(export)
    bare = set(embedded.get_class_schema("inventory_info", profiles=[])["properties"])
    assert set(example_event()) <= bare


def test_caption_tables_agree_with_the_official_class(export: dict[str, Any]) -> None:
    klass = export["classes"]["inventory_info"]
    assert klass["uid"] == dev.CLASS_UID and klass["caption"] == dev.CLASS_CAPTIONS[5001]
    assert captions(klass["attributes"]["activity_id"]) == dict(dev.ACTIVITY_CAPTIONS)
    assert captions(klass["attributes"]["type_uid"]) == dict(dev.TYPE_CAPTIONS)
    objects = export["objects"]
    assert captions(objects["device"]["attributes"]["type_id"]) == dict(dev.DEVICE_TYPE_CAPTIONS)
    assert captions(objects["os"]["attributes"]["type_id"]) == dict(dev.OS_TYPE_CAPTIONS)


def test_the_example_device_event_is_valid() -> None:
    assert VALIDATOR.errors(example_event()) == []


def test_a_device_event_is_checked_against_the_5001_schema() -> None:
    event = example_event()
    event["user"] = {"uid": "x"}  # a 5003 attribute, unknown to 5001
    assert ("$", "Additional properties are not allowed ('user' was unexpected)") in \
        VALIDATOR.errors(event)


def test_a_device_type_caption_that_disagrees_with_its_id_is_reported() -> None:
    event = example_event()
    event["device"]["type"] = "Server"
    assert ("$.device.type", "'Server' does not match type_id 0 (expected 'Unknown')") in \
        VALIDATOR.errors(event)


def test_an_owner_account_caption_that_disagrees_with_its_id_is_reported() -> None:
    event = example_event()
    event["device"]["owner"]["account"]["type"] = "LDAP Account"
    paths = [path for path, _ in VALIDATOR.errors(event)]
    assert paths == ["$.device.owner.account.type"]


def test_a_declared_profile_is_refused_for_5001() -> None:
    event = copy.deepcopy(example_event())
    event["metadata"]["profiles"] = ["host"]
    assert ("$.metadata.profiles",
            "profile 'host' is not one the bundled class 5001 schema covers") in \
        VALIDATOR.errors(event)


def test_a_mixed_file_of_device_and_user_events_validates(tmp_path: Path) -> None:
    from connector.ocsf import user_inventory

    user = user_inventory.to_event(
        user_inventory.example_user(), user_inventory.EXAMPLE_FACTS,
        collected_at_ms=user_inventory.EXAMPLE_COLLECTED_AT_MS,
        tenant_id=user_inventory.EXAMPLE_TENANT_ID, product=user_inventory.EXAMPLE_PRODUCT)
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in (example_event(), user)) + "\n")
    report = validation.validate_ndjson(path)
    assert (report.events, report.valid, report.errors) == (2, 2, [])
