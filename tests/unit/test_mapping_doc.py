"""docs/mapping.md is rendered from connector.ocsf.user_inventory.MAPPING, and MAPPING tells the truth."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connector.ocsf import user_inventory as ocsf

DOC = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
_STEP = re.compile(r"([A-Za-z_]+)(\[(?:name=([A-Za-z_]+))?\])?")


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


def test_mapping_doc_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == ocsf.render_mapping_doc(), (
        "docs/mapping.md is stale: run `python -m connector.ocsf --mapping-doc > docs/mapping.md`"
    )


def test_cli_prints_the_mapping_doc(capsys: pytest.CaptureFixture[str]) -> None:
    assert ocsf.main(["--mapping-doc"]) == 0
    assert capsys.readouterr().out == ocsf.render_mapping_doc()


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
