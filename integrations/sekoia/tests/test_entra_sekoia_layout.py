"""The module folder as automation-library lays out a module (and as its compliance check reads
it): manifests current and flat draft-07, the connector registered under its literal name, a
square PNG logo, a changelog entry for the manifest's version, an image pinned to that version.

Runs in this folder (`pytest`) and from the repository root (its testpaths list this folder).
"""

from __future__ import annotations

import ast
import json
import re
import struct
import tomllib
from pathlib import Path

from entra_sekoia.manifest import FORM_KEYS, generated_files, module_config_schema
from jsonschema import Draft7Validator

MODULE_DIR = Path(__file__).resolve().parents[1]


def manifest() -> dict[str, object]:
    return json.loads((MODULE_DIR / "manifest.json").read_text(encoding="utf-8"))


def test_the_manifests_are_current() -> None:
    for path, text in generated_files(MODULE_DIR).items():
        if path.parent == MODULE_DIR:
            assert path.read_text(encoding="utf-8") == text, \
                f"{path.name} is stale: run python -m entra_sekoia.manifest --write"


def test_the_configuration_form_is_a_flat_draft07_form_of_four_fields() -> None:
    schema = module_config_schema()
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert tuple(schema["properties"]) == FORM_KEYS
    assert schema["secrets"] == ["client_secret"]
    assert schema["required"] == ["tenant_id", "client_id"]  # the SDK checks before secrets
    assert all(prop["type"] == "string" for prop in schema["properties"].values())
    assert not {"oneOf", "anyOf", "dependentRequired", "additionalProperties"} & set(schema)
    good = {"tenant_id": "contoso.onmicrosoft.com", "client_secret": "x",
            "client_id": "00000000-0000-0000-0000-000000000001"}
    assert not list(Draft7Validator(schema).iter_errors(good))
    assert list(Draft7Validator(schema).iter_errors({**good, "cloud": "mars"}))


def test_every_connector_is_registered_in_main_under_its_literal_docker_parameter() -> None:
    tree = ast.parse((MODULE_DIR / "main.py").read_text(encoding="utf-8"))
    registered = [call.args[1].value for call in ast.walk(tree)
                  if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                  and call.func.attr == "register" and len(call.args) > 1
                  and isinstance(call.args[1], ast.Constant)]
    declared = [json.loads(p.read_text(encoding="utf-8"))["docker_parameters"]
                for p in MODULE_DIR.glob("connector_*.json")]
    assert sorted(registered) == sorted(declared) == ["entra_id_devices_asset_connector",
                                                      "entra_id_users_asset_connector"]


def test_the_logo_is_a_square_png_under_50_kib() -> None:
    data = (MODULE_DIR / "logo.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width == height >= 64
    assert len(data) <= 50 * 1024


def test_the_changelog_and_the_image_follow_the_manifest_version() -> None:
    version = str(manifest()["version"])
    changelog = (MODULE_DIR / "CHANGELOG.md").read_text(encoding="utf-8")
    releases = re.findall(r"^## (\d{4}-\d{2}-\d{2}) - (\S+)$", changelog, flags=re.M)
    assert releases and releases[0][1] == version
    assert f'"entra-ocsf-connector[sekoia]=={version}"' in \
        (MODULE_DIR / "Dockerfile").read_text(encoding="utf-8")
    project = tomllib.loads((MODULE_DIR / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["poetry"]["version"] == version
    assert "entra-ocsf-connector" in project["tool"]["poetry"]["dependencies"]
