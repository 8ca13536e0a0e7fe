"""The module's manifests and its configuration, derived from our `Settings` so they cannot drift.

Sekoia.io reads a module's `manifest.json` (`configuration`: the JSON Schema of the form an
operator fills in, `secrets`: the keys the platform stores apart and hands over through its
secrets endpoint) and one `connector_*.json` per asset connector (`docker_parameters`: the command
`main.py` is started with). Sekoia's forms are flat draft-07 schemas with a handful of fields, so
the form here is four keys of our `Settings` (`FORM_KEYS`: tenant, client id, client secret,
cloud), their titles, descriptions and constraints taken from our own schema
(`connector.config.generate.manifest_config_schema`) and rewritten into draft-07 terms. Every other
setting keeps its default; the runtime still accepts them in the module configuration (a test
tenant's `authority_host`, a filter such as `domains`), validated as everywhere else, but the form
does not offer them. `intake`, `batch_size`, `sign_ins` and `directory_audits` have no meaning
here at all (the SDK pushes, the connector's `batch_size` sets ours, sign-ins and audit records
are not assets).

Regenerate after a settings change: `python -m entra_sekoia.manifest --write` (from
integrations/sekoia); it also renders the mapping section of docs/sekoia.md. A test fails
while a file is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel

from connector.config import Settings, load_settings
from connector.config.generate import manifest_config_schema

__all__ = [
    "CONNECTOR_NAME",
    "DEVICE_CONNECTOR",
    "DEVICE_CONNECTOR_NAME",
    "EXCLUDED_KEYS",
    "FORM_KEYS",
    "generated_files",
    "module_config_schema",
    "module_values",
    "settings_from_module",
]

MODULE_DIR: Final = Path(__file__).resolve().parents[1]
# The command `main.py` is started with for the asset connector (`docker_parameters`).
CONNECTOR_NAME: Final = "entra_id_users_asset_connector"
DEVICE_CONNECTOR_NAME: Final = "entra_id_devices_asset_connector"
EXCLUDED_KEYS: Final = ("intake", "batch_size", "sign_ins", "directory_audits")
FORM_KEYS: Final = ("tenant_id", "client_id", "client_secret", "cloud")
DRAFT_07: Final = "http://json-schema.org/draft-07/schema#"
MAX_BATCH: Final = 10_000  # Settings.batch_size's upper bound

MODULE: Final[Mapping[str, Any]] = {
    "name": "Microsoft Entra ID users (OCSF)",
    "slug": "entra-id-users-ocsf",
    "uuid": "6f1f0c57-5b9e-4d8e-9a52-3c0c2f0f4a17",
    "description": (
        "Inventories the users of a Microsoft Entra ID tenant through Microsoft Graph "
        "(application permissions, all national clouds): profile, account state, group "
        "memberships, admin roles (including through role-assignable groups), MFA "
        "registration, last sign-in and Identity Protection risk, incrementally; and its "
        "devices, with their owners and Intune's compliance and management facts."
    ),
    "categories": ["IAM"],
    "supports_validation": True,
}

CONNECTOR: Final[Mapping[str, Any]] = {
    "name": "Microsoft Entra ID users (OCSF)",
    "description": "Inventory of Entra ID users as OCSF User Inventory Info assets",
    "uuid": "0d3b1f2e-8c47-4f6a-b1d5-7e9a2c4b6d81",
    "docker_parameters": CONNECTOR_NAME,
    "type": "asset",
    "capability": "user",
    "arguments": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "sekoia_base_url": {"description": "Sekoia base URL", "type": "string"},
            "frequency": {
                "type": "integer",
                "description": "Seconds from the start of one collection cycle to the start "
                "of the next",
                "minimum": 1,
                "default": 3600,
            },
            "sekoia_api_key": {"description": "API key to use from sekoia.io", "type": "string"},
            "batch_size": {
                "type": "integer",
                "description": "Users per push (and per checkpoint step)",
                "minimum": 1,
                "maximum": MAX_BATCH,
                "default": 100,
            },
        },
        "required": ["sekoia_api_key"],
        "secrets": ["sekoia_api_key"],
        "internal": ["sekoia_base_url", "sekoia_api_key", "frequency", "batch_size"],
    },
}


DEVICE_CONNECTOR: Final[Mapping[str, Any]] = {
    **CONNECTOR,
    "name": "Microsoft Entra ID devices (OCSF)",
    "description": "Inventory of Entra ID devices (with Intune's compliance and management "
    "facts) as OCSF Device Inventory Info assets",
    "uuid": "a3c9e2d4-6b1f-4e8a-9c7d-2f5b8e1a4c63",
    "docker_parameters": DEVICE_CONNECTOR_NAME,
    "capability": "device",
    "arguments": {
        **CONNECTOR["arguments"],
        "properties": {
            **CONNECTOR["arguments"]["properties"],
            "batch_size": {
                **CONNECTOR["arguments"]["properties"]["batch_size"],
                "description": "Devices per push (and per checkpoint step)",
            },
        },
    },
}


def module_config_schema() -> dict[str, Any]:
    """The module manifest's `configuration`: a flat draft-07 form of `FORM_KEYS`.

    Sekoia lists secrets by key in `secrets`. The client secret is not in `required`: the SDK
    checks `required` against the module configuration before it merges the secrets the platform
    holds apart (as automation-library's own Entra ID form does); our `Settings` still refuses a
    configuration with neither secret nor certificate, naming the key.
    """
    ours = manifest_config_schema()["properties"]
    properties = {key: _draft07(ours[key]) for key in FORM_KEYS}
    properties["client_secret"]["description"] = (
        "The client secret's Value (not its Secret ID), from the app registration's "
        "Certificates & secrets page.")
    return {
        "$schema": DRAFT_07,
        "title": "Microsoft Entra ID tenant",
        "type": "object",
        "properties": properties,
        "required": ["tenant_id", "client_id"],
        "secrets": ["client_secret"],
    }


def _draft07(prop: Mapping[str, Any]) -> dict[str, Any]:
    """One property of our 2020-12 schema as a plain draft-07 string property: the optional
    `anyOf [..., null]` becomes the string itself, our own `secret`/`writeOnly`/`format` marks go
    (the manifest's `secrets` list says it)."""
    variants = [v for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]
    base = {**variants[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    keep = ("title", "description", "type", "pattern", "enum", "default")
    out = {k: base[k] for k in keep if k in base and base[k] is not None}
    return out


def module_values(configuration: Mapping[str, Any] | BaseModel | None) -> dict[str, Any]:
    """The SDK's module configuration (a dict, as our Module declares no model) as a dict."""
    if isinstance(configuration, BaseModel):
        return configuration.model_dump()
    return dict(configuration or {})


def settings_from_module(configuration: Mapping[str, Any], *, batch_size: int) -> Settings:
    """The module configuration (secrets already merged by the SDK) as our `Settings`.

    The platform may send an optional key as null or an empty string; both mean "not set".
    Bad keys raise `connector.config.ConfigError`, naming each key and never a secret.
    """
    values = {k: v for k, v in configuration.items() if v is not None and v != ""}
    values["batch_size"] = max(1, min(batch_size, MAX_BATCH))
    return load_settings(values)


def _render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


MAPPING_START: Final = "<!-- mapping:start (generated by python -m entra_sekoia.manifest) -->"
MAPPING_END: Final = "<!-- mapping:end -->"


def _docs_with_mapping(doc: Path) -> str:
    """docs/sekoia.md with its mapping section rendered from the tables in assets.py."""
    from entra_sekoia.assets import mapping_markdown
    from entra_sekoia.device_assets import device_mapping_markdown

    text = doc.read_text(encoding="utf-8") if doc.is_file() else f"{MAPPING_START}\n{MAPPING_END}\n"
    head, _, rest = text.partition(MAPPING_START)
    _, _, tail = rest.partition(MAPPING_END)
    return (f"{head}{MAPPING_START}\n{mapping_markdown()}\n{device_mapping_markdown()}"
            f"{MAPPING_END}{tail}")


def generated_files(module_dir: Path = MODULE_DIR) -> dict[Path, str]:
    """Every file this module generates, with the content it should have."""
    version = _project_version()
    doc = module_dir.parents[1] / "docs" / "sekoia.md"
    return {
        doc: _docs_with_mapping(doc),
        module_dir / "manifest.json": _render(
            {**MODULE, "version": version, "configuration": module_config_schema()}
        ),
        module_dir / f"connector_{CONNECTOR_NAME}.json": _render(CONNECTOR),
        module_dir / f"connector_{DEVICE_CONNECTOR_NAME}.json": _render(DEVICE_CONNECTOR),
    }


def _project_version() -> str:
    from connector.plugin import PRODUCT  # the installed package's version

    return PRODUCT.version


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m entra_sekoia.manifest", description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate the manifests")
    mode.add_argument("--check", action="store_true", help="exit 1 if a manifest is stale")
    args = parser.parse_args(argv)
    files = generated_files()
    stale = [p for p, text in files.items()
             if not p.is_file() or p.read_text(encoding="utf-8") != text]
    for path in stale:
        if args.check:
            print(f"stale: {path.name} (run python -m entra_sekoia.manifest --write)",
                  file=sys.stderr)
        else:
            path.write_text(files[path], encoding="utf-8")
            print(f"wrote {path.name}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
