"""The user documentation keeps up with the code: every login code the diagnosis explains and
every Graph error it names is in troubleshooting.md, setup.md lists the manifest's permissions,
and every link between the documents lands on a file and heading that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.diagnostics import AADSTS, manifest_permissions
from connector.graph.client import EXPIRED_PAGE_TOKEN
from connector.graph.odata import DENIED, NON_PREMIUM

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")


def text(name: str) -> str:
    return (REPO / name).read_text(encoding="utf-8")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")}


@pytest.mark.parametrize("code", sorted(AADSTS))
def test_every_aadsts_code_the_diagnosis_explains_has_a_troubleshooting_entry(code: int) -> None:
    assert f"### AADSTS{code}\n" in text("docs/troubleshooting.md")


@pytest.mark.parametrize("graph_code", [DENIED, NON_PREMIUM, EXPIRED_PAGE_TOKEN])
def test_every_graph_error_code_the_connector_names_is_explained(graph_code: str) -> None:
    assert graph_code in text("docs/troubleshooting.md")


def test_setup_lists_every_permission_of_the_manifest_under_its_kind() -> None:
    setup = text("docs/setup.md")
    required, _, optional = setup.partition("### Optional")
    declared = manifest_permissions()
    for entry in declared["required"]:
        assert f"| `{entry['name']}` |" in required
    for entry in declared["optional"]:
        assert f"| `{entry['name']}` |" in optional
    assert f"`{declared['alternative']['name']}`" in setup


def test_the_readme_links_every_document_in_docs() -> None:
    readme = text("README.md")
    for document in sorted(DOCS.glob("*.md")):
        assert f"](docs/{document.name})" in readme, document.name


@pytest.mark.parametrize("document", ["README.md", "docs/setup.md", "docs/operations.md",
                                      "docs/troubleshooting.md"])
def test_links_between_documents_reach_an_existing_file_and_heading(document: str) -> None:
    source = REPO / document
    for target in LINK.findall(source.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        name, _, anchor = target.partition("#")
        path = (source.parent / name).resolve() if name else source
        assert path.exists(), f"{document}: {target}"
        if anchor and path.suffix == ".md":
            assert anchor in anchors(path), f"{document}: {target}"
