"""The bundled OCSF 1.8.0 Authentication (3002) schema: intact, reproducible, and agreed with.

The schema is generated with the `host` and `security_control` profiles, the only ones the
sign-in events declare. Regenerating it needs the dev extra's `ocsf-json-schema` (the command in
schemas/PROVENANCE.md); those tests are skipped without it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector import validation
from connector.ocsf import authentication as auth

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "authentication.1.8.0.schema.json"
PACKAGED_SCHEMA = ROOT / "connector" / "schemas" / "authentication.1.8.0.schema.json"
SCHEMA_SHA256 = "b444dfd83a867d85529dd5833c9f4713b0ecdb86f46ffe45096c87a4a90e8b92"
PROFILES = ["host", "security_control"]


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


def test_packaged_schema_is_byte_identical_to_the_repository_copy() -> None:
    assert PACKAGED_SCHEMA.read_bytes() == SCHEMA.read_bytes()


def test_schema_has_the_hash_recorded_in_provenance() -> None:
    provenance = (ROOT / "schemas" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert SCHEMA_SHA256 in provenance


def test_schema_is_a_valid_draft_2020_12_schema_of_class_3002() -> None:
    schema = validation.load_schema(3002)
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["class_uid"]["const"] == 3002
    assert {"device", "risk_level_id", "action_id", "authorizations"} <= set(schema["properties"])


def test_profile_attribute_table_matches_what_the_profiles_add(export: dict[str, Any]) -> None:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded

    embedded = OcsfJsonSchemaEmbedded(export)
    bare = set(embedded.get_class_schema("authentication", profiles=[])["properties"])
    for profile, attributes in auth.PROFILE_ATTRIBUTES.items():
        added = set(embedded.get_class_schema("authentication", profiles=[profile])["properties"])
        assert added - bare == attributes, profile


def test_regenerating_with_the_documented_command_gives_the_bundled_bytes(
        export: dict[str, Any]) -> None:
    from ocsf_json_schema import OcsfJsonSchemaEmbedded

    schema = _sort_enums(OcsfJsonSchemaEmbedded(export).get_class_schema(
        "authentication", profiles=PROFILES))
    assert json.dumps(schema, indent=2, sort_keys=True) + "\n" == SCHEMA.read_text("utf-8")


def test_caption_tables_agree_with_the_official_class(export: dict[str, Any]) -> None:
    attributes = export["classes"]["authentication"]["attributes"]
    assert captions(attributes["activity_id"]) == dict(auth.ACTIVITY_CAPTIONS)
    assert captions(attributes["type_uid"]) == dict(auth.TYPE_CAPTIONS)
    assert captions(attributes["status_id"]) == dict(auth.STATUS_CAPTIONS)
    assert captions(attributes["action_id"]) == dict(auth.ACTION_CAPTIONS)
    official = captions(attributes["disposition_id"])
    assert all(official[key] == caption for key, caption in auth.DISPOSITION_CAPTIONS.items())
    objects = export["objects"]
    assert all(captions(objects["os"]["attributes"]["type_id"])[key] == caption
               for key, caption in auth.OS_TYPE_CAPTIONS.items())
    assert export["classes"]["authentication"]["caption"] == auth.CLASS_CAPTIONS[3002]


def test_a_mixed_ndjson_file_of_both_classes_validates(tmp_path: Path) -> None:
    from connector.ocsf import user_inventory

    inventory = user_inventory.to_event(
        user_inventory.example_user(), user_inventory.EXAMPLE_FACTS,
        collected_at_ms=user_inventory.EXAMPLE_COLLECTED_AT_MS,
        tenant_id=user_inventory.EXAMPLE_TENANT_ID, product=user_inventory.EXAMPLE_PRODUCT)
    sign_in = auth.to_event(auth.example_sign_in(), tenant_id=auth.EXAMPLE_TENANT_ID,
                            product=auth.EXAMPLE_PRODUCT)
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in (inventory, sign_in, inventory)) + "\n")
    report = validation.validate_ndjson(path)
    assert (report.events, report.valid, report.errors) == (3, 3, [])


def test_a_sign_in_event_with_an_undeclared_profile_attribute_is_invalid() -> None:
    event = auth.to_event(auth.example_sign_in(), tenant_id=auth.EXAMPLE_TENANT_ID,
                          product=auth.EXAMPLE_PRODUCT)
    del event["metadata"]["profiles"]
    paths = {path for path, _ in validation.EventValidator().errors(event)}
    assert {"$.device", "$.risk_level_id", "$.action_id", "$.authorizations"} <= paths


def test_an_undeclarable_profile_is_reported() -> None:
    event = auth.to_event(auth.example_sign_in(), tenant_id=auth.EXAMPLE_TENANT_ID,
                          product=auth.EXAMPLE_PRODUCT)
    event["metadata"]["profiles"] = [*event["metadata"]["profiles"], "cloud"]
    assert ("$.metadata.profiles",
            "profile 'cloud' is not one the bundled class 3002 schema covers") in \
        validation.EventValidator().errors(event)
