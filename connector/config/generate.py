"""Generated artefacts: the manifest's configuration schema and docs/configuration.md.

Regenerate both after changing a key: `python -m connector.config --write` (`--check` in CI).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from connector.config.settings import (
    DOMAIN_PATTERN,
    ENV_FALLBACKS,
    GUID_PATTERN,
    HTTPS_URL,
    INTAKE_URL,
    TENANT_PATTERN,
    Settings,
)
from connector.ocsf.common import OCSF_VERSION
from connector.streams import registry


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            return {**_inline(defs[ref.removeprefix("#/$defs/")], defs), **siblings}
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _object_branch(prop: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if prop.get("type") == "object":
        return prop
    for branch in prop.get("anyOf", []):
        if branch.get("type") == "object":
            return branch  # type: ignore[no-any-return]
    return None


def _secret_paths(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    found = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("secret"):
            found.append(prefix + name)
        nested = _object_branch(prop)
        if nested is not None:
            found += _secret_paths(nested, f"{prefix}{name}.")
    return found


def manifest_config_schema() -> dict[str, Any]:
    """The JSON Schema stored as `configuration` in manifest.json.

    It describes the effective configuration, after environment fallbacks: a file that takes its
    secret from ENTRA_CLIENT_SECRET does not validate on its own. Secret keys carry
    `"secret": true` and are listed in `secrets` so a platform can store them apart.
    """
    generated = Settings.model_json_schema()
    schema: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(
        _inline({k: v for k, v in generated.items() if k != "$defs"}, generated.get("$defs", {}))
    )
    schema["secrets"] = _secret_paths(schema)
    return schema


_DOC_INTRO: Final = """\
# Configuration

<!-- Generated from connector/config/settings.py by `python -m connector.config --write`. Do not edit. -->

The connector reads one JSON object. Unknown keys are errors (a misspelt optional key would
otherwise be silently ignored), and every key is checked at start-up: files are opened and
certificates parsed, and every bad key is reported at once, by name, without its value.

- **Credentials**: set exactly one of `client_secret` or `certificate_path`.
- **Paths** (`certificate_path`, `ca_bundle`) may be relative: they are taken from the folder of
  the configuration file. `~` is expanded.
- **`ca_bundle`** replaces the system trust store for both the login endpoint and Graph.
- **Proxies**: the standard `HTTPS_PROXY` / `NO_PROXY` environment variables are honoured for the
  login endpoint and Graph.
- **Identifiers**: `tenant_id`, `client_id` and `domains` are stored lower-case.
- The manifest's `configuration` JSON Schema is generated from the same model and describes the
  effective configuration, after the environment fallbacks below.
"""


def _type_text(prop: Mapping[str, Any]) -> str:
    branch = next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), prop)
    if "enum" in branch or "const" in branch:
        return "one of " + ", ".join(f"`{v}`" for v in branch.get("enum", [branch.get("const")]))
    kind = branch.get("type")
    if kind == "integer":
        return f"integer, {branch['minimum']} to {branch['maximum']}"
    if kind == "boolean":
        return "boolean"
    if kind == "array":
        items = branch.get("items", {})
        return "list of domain names" if items.get("pattern") == DOMAIN_PATTERN else "list"
    if kind == "object":
        return "object"
    if prop.get("secret"):
        return "string, secret"
    pattern = branch.get("pattern") or prop.get("pattern")
    fmt = branch.get("format") or prop.get("format")
    named = {
        GUID_PATTERN: "GUID",
        TENANT_PATTERN: "GUID or domain name",
        HTTPS_URL: "https URL",
        INTAKE_URL: "URL",
        "path": "file path",
        "uuid": "UUID",
    }
    return named.get(pattern or "") or named.get(fmt or "") or "string"


def _default_text(name: str, prop: Mapping[str, Any], required: Sequence[str]) -> str:
    if name in required:
        return "**required**"
    default = prop.get("default")
    if default is None:
        return "not set"
    return f"`{json.dumps(default)}`"


def _rows(schema: Mapping[str, Any], prefix: str = "") -> list[str]:
    rows = []
    required = schema.get("required", [])
    for name, prop in schema.get("properties", {}).items():
        description = prop.get("description", "").replace("|", "\\|")
        rows.append(
            f"| `{prefix}{name}` | {_type_text(prop)} | {_default_text(name, prop, required)} "
            f"| {description} |"
        )
        nested = _object_branch(prop)
        if nested is not None:
            rows += _rows(nested, f"{prefix}{name}.")
    return rows


EXAMPLE_CONFIGURATION: Final[Mapping[str, Any]] = {
    "tenant_id": "contoso.onmicrosoft.com",
    "client_id": "00000000-0000-0000-0000-000000000001",
    "client_secret": "paste-the-secret-or-use-ENTRA_CLIENT_SECRET",
    "domains": ["contoso.com"],
    "intake": {
        "url": "https://intake.sekoia.io",
        "format": "sekoia",
        "connector_uuid": "11111111-2222-4333-8444-555555555555",
        "api_key": "paste-the-key-or-use-ENTRA_INTAKE_API_KEY",
    },
}


def configuration_markdown() -> str:
    """The text of docs/configuration.md, derived from `manifest_config_schema()`."""
    schema = manifest_config_schema()
    lines = [
        _DOC_INTRO,
        "## Keys",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    lines += _rows(schema)
    lines += [
        "",
        "## Secrets from the environment",
        "",
        "A variable fills its key only when the configuration leaves that key unset (an explicit",
        "value wins) and only where the key applies.",
        "",
        "| key | variable | used when |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{'.'.join(f.path)}` | `{f.variable}` | {f.when} |" for f in ENV_FALLBACKS]
    lines += [
        "",
        "Secret keys (never logged, never shown in errors): "
        + ", ".join(f"`{p}`" for p in schema["secrets"])
        + ".",
        "",
        "## Example",
        "",
        "```json",
        json.dumps(EXAMPLE_CONFIGURATION, indent=2),
        "```",
        "",
    ]
    return "\n".join(lines)


def _repository_root() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise SystemExit(f"{root} is not the source tree (no pyproject.toml): nothing to write")
    return root


def render_manifest(root: Path) -> str:
    """manifest.json with its generated parts (`version`, `configuration`) brought up to date.

    The root manifest.json is the source of everything else in it (name, permissions, ...);
    connector/manifest.json is a byte-identical copy shipped in the package.
    """
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"
    ]["version"]
    manifest["streams"] = manifest_streams()
    manifest["configuration"] = manifest_config_schema()
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def manifest_streams() -> list[dict[str, Any]]:
    """The manifest's `streams` list, from the stream registry."""
    out: list[dict[str, Any]] = []
    for spec in registry.STREAMS:
        ocsf: dict[str, Any] = {"version": OCSF_VERSION, "class_uid": spec.class_uid,
                                "class_name": spec.class_name}
        if spec.classes:
            ocsf = {"version": OCSF_VERSION, "classes": [
                {"class_uid": uid, "class_name": name} for uid, name in spec.classes]}
        if spec.profiles:
            ocsf["profiles"] = list(spec.profiles)
        out.append({"name": spec.name, "entry_point": spec.entry_point, "ocsf": ocsf,
                    "recommended_schedule": spec.schedule,
                    "enabled_by": f"{spec.settings_block}.enabled" if spec.settings_block
                    else None})
    return out


def generated_files(root: Path) -> dict[Path, str]:
    """Every file this module generates, with the content it should have."""
    manifest = render_manifest(root)
    return {
        root / "manifest.json": manifest,
        root / "connector" / "manifest.json": manifest,
        root / "docs" / "configuration.md": configuration_markdown(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connector.config", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate manifest.json and docs")
    mode.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    root = _repository_root()
    stale = [
        path
        for path, text in generated_files(root).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            print(
                f"stale: {path.relative_to(root)} (run python -m connector.config --write)",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in generated_files(root).items():
        if path in stale:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(root)}")
    return 0
