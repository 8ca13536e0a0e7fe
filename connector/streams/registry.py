"""The one place a stream is declared: its name, plugin, OCSF class and schema, the settings
block that turns it on, the permissions it needs, what the store keeps for it, and how its
progress and summary read.

Everything that used to spell stream names out reads this table instead: the CLI (`run
--stream` choices, `all`), the plugin entry points (`plugin.STREAMS`, `default_streams`,
`EntraIdConnector`), validation (class -> bundled schema and profiles), the progress line,
the state store (checkpoints, cursors and entities per stream) and the manifest's `streams`
list (`connector.config.generate`). A new stream is a row here, its modules (Graph source,
stream, OCSF mapping, plugin class) and its settings block; docs/architecture.md counts the
files.

This module imports nothing of the connector, so every other module may read it; plugin
classes are named as `module:Class` and imported on demand.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["STREAMS", "StreamSpec", "by_class_uid", "class_uids", "default_streams", "enabled",
           "get", "mapping_module", "names", "plugin_class", "source_module"]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One stream. `mapping` is its OCSF class module (`to_event`, `MAPPING`, its section of
    docs/mapping.md); `source` its Graph source module when that declares `PROBES` (the
    features `connector test` reports, with `probe_refusal(feature, error)`); `settings_block` names the `Settings` block whose `enabled` turns it on
    (None: always on); `features` are `connector.graph.permissions` keys it needs (the first is
    required for the stream to run at all); `entity` is the entity type whose documents the
    state store keeps for change tracking (None: the stream keeps only a checkpoint);
    `listed` is the counter its plugin reports while listing, shown as `progress_label`.
    `classes` lists every (class_uid, class_name) of a stream that emits more than one class
    (the directory audit stream): their schemas and caption checks then come from the mapping
    module (`SCHEMA_RESOURCES`, `CAPTION_CHECKS`), and `class_uid` / `schema` name the first."""

    name: str
    plugin: str
    class_uid: int
    class_name: str
    schema: str
    features: tuple[str, ...]
    listed: str
    progress_label: str
    schedule: str
    mapping: str = ""
    source: str | None = None
    profiles: tuple[str, ...] = ()
    settings_block: str | None = None
    entity: str | None = None
    classes: tuple[tuple[int, str], ...] = ()

    @property
    def entry_point(self) -> str:
        return self.plugin


STREAMS: Final[tuple[StreamSpec, ...]] = (
    StreamSpec(
        name="users", plugin="connector.plugin:EntraIdUserInventory",
        class_uid=5003, class_name="User Inventory Info",
        schema="schemas/user_inventory.1.8.0.schema.json", mapping="connector.ocsf.user_inventory",
        features=("users", "groups", "roles", "last_sign_in", "mfa_report", "mfa_methods",
                  "risk"),
        listed="users_listed", progress_label="users", schedule="hourly to daily",
        entity="user",
    ),
    StreamSpec(
        name="sign_ins", plugin="connector.plugin:EntraIdSignIns",
        class_uid=3002, class_name="Authentication",
        schema="schemas/authentication.1.8.0.schema.json", mapping="connector.ocsf.authentication",
        profiles=("host", "security_control"),
        features=("sign_ins",),
        listed="sign_ins_listed", progress_label="sign-ins", schedule="every 5 to 15 minutes",
        settings_block="sign_ins",
    ),
    StreamSpec(
        name="devices", plugin="connector.streams.devices:EntraIdDevices",
        class_uid=5001, class_name="Device Inventory Info",
        schema="schemas/device_inventory.1.8.0.schema.json",
        mapping="connector.ocsf.device_inventory", source="connector.graph.devices",
        features=("devices", "intune_devices", "device_owner_changes"),
        listed="devices_listed", progress_label="devices", schedule="hourly to daily",
        settings_block="devices", entity="device",
    ),
    StreamSpec(
        name="directory_audits", plugin="connector.streams.directory_audits:EntraIdDirectoryAudits",
        class_uid=3001, class_name="Account Change",
        schema="schemas/account_change.1.8.0.schema.json",
        mapping="connector.ocsf.directory_audit", source="connector.graph.directory_audits",
        features=("directory_audits",),
        listed="audits_listed", progress_label="audit records", schedule="every 5 to 15 minutes",
        settings_block="directory_audits",
        classes=((3001, "Account Change"), (3004, "Entity Management"),
                 (3005, "User Access Management"), (3006, "Group Management")),
    ),
    StreamSpec(
        name="workload_identities", plugin="connector.streams.workloads:EntraIdWorkloadIdentities",
        class_uid=5003, class_name="User Inventory Info",
        schema="schemas/user_inventory.1.8.0.schema.json",
        mapping="connector.ocsf.workload_identity",
        features=("workload_identities", "workload_consents", "workload_sign_ins"),
        listed="service_principals_read", progress_label="service principals",
        schedule="hourly to daily", settings_block="workload_identities",
    ),
)
_BY_NAME: Final[Mapping[str, StreamSpec]] = {spec.name: spec for spec in STREAMS}


def class_uids(spec: StreamSpec) -> tuple[int, ...]:
    """Every OCSF class the stream's events may have."""
    return tuple(uid for uid, _ in spec.classes) or (spec.class_uid,)


# A class two streams emit (5003: people and workload identities) belongs to the first.
_BY_CLASS: Final[Mapping[int, StreamSpec]] = {uid: spec for spec in reversed(STREAMS)
                                              for uid in class_uids(spec)}


def names() -> tuple[str, ...]:
    """Every stream's name, in the order a combined run starts them."""
    return tuple(_BY_NAME)


def get(name: str) -> StreamSpec:
    """The stream called `name`; ValueError naming the known ones otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown stream {name!r}; known: {', '.join(_BY_NAME)}") from None


def by_class_uid(class_uid: int) -> StreamSpec | None:
    return _BY_CLASS.get(class_uid)


def enabled(spec: StreamSpec, settings: Any) -> bool:
    """Whether the configuration turns the stream on (its block's `enabled`)."""
    if spec.settings_block is None:
        return True
    return bool(getattr(getattr(settings, spec.settings_block), "enabled", False))


def default_streams(settings: Any) -> tuple[str, ...]:
    """What a run collects unless told otherwise: every stream the configuration enables."""
    return tuple(spec.name for spec in STREAMS if enabled(spec, settings))


def mapping_module(spec: StreamSpec) -> Any:
    """The stream's OCSF class module, imported on first use."""
    return importlib.import_module(spec.mapping)


def source_module(spec: StreamSpec) -> Any:
    """The stream's Graph source module (None when the registry names none)."""
    return importlib.import_module(spec.source) if spec.source else None


def plugin_class(spec: StreamSpec) -> Any:
    """The stream's plugin class, imported on first use (the plugin module imports streams)."""
    module, _, attribute = spec.plugin.partition(":")
    return getattr(importlib.import_module(module), attribute)
