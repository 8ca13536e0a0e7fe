"""docs/mapping.md is rendered from each OCSF module's MAPPING, and each MAPPING tells the truth."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.ocsf import authentication, mapping_doc
from connector.ocsf import user_inventory as ocsf

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
_STEP = re.compile(r"([A-Za-z0-9_]+)(\[(?:name=([A-Za-z_]+))?\])?")


def full_event() -> dict[str, Any]:
    """The example user with every fact known, deletion included (a soft-deleted user)."""
    return ocsf.to_event(
        ocsf.example_user(),
        replace(ocsf.EXAMPLE_FACTS, deleted=ocsf.Deletion("soft", "2026-01-02T03:04:05Z")),
        collected_at_ms=ocsf.EXAMPLE_COLLECTED_AT_MS,
        tenant_id=ocsf.EXAMPLE_TENANT_ID,
        product=ocsf.EXAMPLE_PRODUCT,
    )


def values_at(node: Any, path: str) -> list[Any]:
    """Every value at a MAPPING path: `a.b`, `list[].x` (each item), `list[name=n].x`."""
    nodes = [node]
    for step in path.split("."):
        match = _STEP.fullmatch(step)
        assert match, f"unreadable path step {step!r} in {path!r}"
        key, brackets, name = match.groups()
        nodes = [n[key] for n in nodes if isinstance(n, dict) and key in n]
        if brackets:
            items = [item for n in nodes if isinstance(n, list) for item in n]
            nodes = [i for i in items if name is None or i.get("name") == name]
    return nodes


def full_sign_in_event() -> dict[str, Any]:
    return authentication.to_event(authentication.example_sign_in(),
                                   tenant_id=authentication.EXAMPLE_TENANT_ID,
                                   product=authentication.EXAMPLE_PRODUCT)


def test_mapping_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == mapping_doc.render_mapping_doc(), (
        "docs/mapping.md is stale: run `python -m connector.ocsf --mapping-doc > docs/mapping.md`"
    )


def test_mapping_doc_has_a_section_per_class() -> None:
    text = mapping_doc.render_mapping_doc()
    assert "(User Inventory Info, class 5003)" in text
    assert "(Authentication, class 3002)" in text


def test_cli_prints_the_mapping_doc(capsys: pytest.CaptureFixture[str]) -> None:
    assert mapping_doc.main(["--mapping-doc"]) == 0
    assert capsys.readouterr().out == mapping_doc.render_mapping_doc()


@pytest.mark.parametrize("row", ocsf.MAPPING, ids=lambda row: f"{row.source}->{row.path}")
def test_every_mapped_path_is_produced_for_a_fully_populated_user(row: ocsf.MappingRow) -> None:
    values = values_at(full_event(), row.path)
    assert values, f"{row.path} is in MAPPING but to_event does not produce it"
    assert all(value not in (None, "", [], {}) for value in values)


def leaf_paths(node: Any, prefix: str = "") -> set[str]:
    """MAPPING-style paths of every value in an event (an enrichment is named by its `name`)."""
    if isinstance(node, dict):
        if prefix == "enrichments[]":
            prefix = f"enrichments[name={node['name']}]"
            return {prefix}.union(
                *(leaf_paths(v, f"{prefix}.{k}") for k, v in node.items() if k != "name")
            )
        return set().union(
            *(leaf_paths(v, f"{prefix}.{k}" if prefix else k) for k, v in node.items())
        )
    if isinstance(node, list) and node and isinstance(node[0], dict):
        return set().union(*(leaf_paths(item, f"{prefix}[]") for item in node))
    return {prefix}


def test_every_produced_field_is_in_the_mapping() -> None:
    assert leaf_paths(full_event()) - {row.path for row in ocsf.MAPPING} == set()


def test_user_fields_to_select_are_derived_from_the_mapping() -> None:
    assert "signInActivity" in ocsf.GRAPH_USER_FIELDS
    assert "id" in ocsf.GRAPH_USER_FIELDS and "@odata.type" not in ocsf.GRAPH_USER_FIELDS


@pytest.mark.parametrize("row", authentication.MAPPING, ids=lambda row: f"{row.source}->{row.path}")
def test_every_sign_in_path_is_produced_for_a_fully_populated_sign_in(
        row: ocsf.MappingRow) -> None:
    values = values_at(VARIANTS.get(row.path, full_sign_in_event)(), row.path)
    assert values, f"{row.path} is in MAPPING but to_event does not produce it"
    assert all(value not in (None, "", [], {}) for value in values)


def _variant(**changes: Any) -> dict[str, Any]:
    record = authentication.example_sign_in()
    record.update(changes)
    return authentication.to_event(record, tenant_id=authentication.EXAMPLE_TENANT_ID,
                                   product=authentication.EXAMPLE_PRODUCT)


def unregistered_device_event() -> dict[str, Any]:
    """A device Graph names neither by id nor by name: known by the sign-in's address."""
    detail = authentication.example_sign_in()["deviceDetail"] | {"deviceId": "",
                                                                 "displayName": ""}
    return _variant(deviceDetail=detail)


def service_principal_event() -> dict[str, Any]:
    """A /beta service-principal sign-in: no user, a service principal instead."""
    return _variant(userId=None, userPrincipalName=None, userDisplayName=None,
                    servicePrincipalId="9a8b7c6d-0000-4000-8000-0000000000ff",
                    servicePrincipalName="Nightly export")


# Paths the fully populated sign-in cannot produce, and the record that does.
VARIANTS = {"device.ip": unregistered_device_event, "user.type_id": service_principal_event,
            "user.type": service_principal_event}


def test_every_produced_sign_in_field_is_in_the_mapping() -> None:
    produced = (leaf_paths(full_sign_in_event()) | leaf_paths(unregistered_device_event())
                | leaf_paths(service_principal_event()))
    assert produced - {row.path for row in authentication.MAPPING} == set()
