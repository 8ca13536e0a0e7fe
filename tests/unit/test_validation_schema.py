"""The bundled OCSF 1.8.0 files: where they are, that they are intact, and that code agrees with them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from connector import validation
from connector.ocsf import user_inventory as ocsf

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "schemas" / "user_inventory.1.8.0.schema.json"
PACKAGED_SCHEMA = ROOT / "connector" / "schemas" / "user_inventory.1.8.0.schema.json"
COMPILED = ROOT / "schemas" / "user_inventory.1.8.0.compiled.json"
SCHEMA_SHA256 = "29f7c4f8420195f9d220003ec4f50c6adf043d05316929c113c35e8572dd6644"
COMPILED_SHA256 = "e22a910905f3e8ac23d1de8c7e51da36b87bc4b0b5ed4bf12c8ac88cd1cfa519"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def captions(attribute: Mapping[str, Any]) -> dict[int, str]:
    return {int(key): value["caption"] for key, value in attribute["enum"].items()}


@pytest.fixture(scope="module")
def compiled() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMPILED.read_text(encoding="utf-8"))
    return data


def test_packaged_schema_is_byte_identical_to_the_repository_copy() -> None:
    assert PACKAGED_SCHEMA.read_bytes() == SCHEMA.read_bytes()


def test_schema_files_have_the_hashes_recorded_in_provenance() -> None:
    provenance = (ROOT / "schemas" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert sha256(SCHEMA) == SCHEMA_SHA256 and SCHEMA_SHA256 in provenance
    assert sha256(COMPILED) == COMPILED_SHA256 and COMPILED_SHA256 in provenance


def test_validator_loads_the_packaged_schema() -> None:
    assert validation.load_schema() == json.loads(PACKAGED_SCHEMA.read_text(encoding="utf-8"))


def test_schema_is_a_valid_draft_2020_12_schema_for_class_5003() -> None:
    schema = validation.load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["properties"]["class_uid"]["const"] == 5003


def test_email_pattern_is_the_schemas_email_t(compiled: dict[str, Any]) -> None:
    defs = validation.load_schema()["$defs"]
    assert defs["user"]["properties"]["email_addr"]["pattern"] == ocsf.EMAIL_PATTERN
    assert (
        defs["ldap_person"]["properties"]["email_addrs"]["items"]["pattern"] == ocsf.EMAIL_PATTERN
    )


def test_event_caption_tables_match_the_compiled_class(compiled: dict[str, Any]) -> None:
    attributes = compiled["class"]["attributes"]
    assert captions(attributes["class_uid"]) == ocsf.CLASS_CAPTIONS
    assert captions(attributes["category_uid"]) == ocsf.CATEGORY_CAPTIONS
    assert captions(attributes["activity_id"]) == ocsf.ACTIVITY_CAPTIONS
    assert captions(attributes["type_uid"]) == ocsf.TYPE_CAPTIONS
    assert captions(attributes["severity_id"]) == ocsf.SEVERITY_CAPTIONS


def test_object_caption_tables_match_the_compiled_objects(compiled: dict[str, Any]) -> None:
    objects = compiled["objects"]
    assert captions(objects["user"]["attributes"]["type_id"]) == ocsf.USER_TYPE_CAPTIONS
    assert captions(objects["account"]["attributes"]["type_id"]) == ocsf.ACCOUNT_TYPE_CAPTIONS
    assert (
        captions(objects["user"]["attributes"]["risk_level_id"]) == validation.RISK_LEVEL_CAPTIONS
    )


def test_compiled_class_is_ocsf_1_8_0_user_inventory(compiled: dict[str, Any]) -> None:
    assert (compiled["version"], compiled["class"]["uid"]) == (ocsf.OCSF_VERSION, 5003)
