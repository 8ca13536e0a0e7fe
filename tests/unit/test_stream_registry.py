"""The stream registry is the one place a stream is declared; everything else reads it."""

from __future__ import annotations

from importlib import resources

import pytest

from connector.cli import build_parser
from connector.config import load_settings
from connector.config.generate import manifest_streams
from connector.graph.permissions import BY_KEY
from connector.progress import progress_line
from connector.streams import registry
from connector.validation import SCHEMA_PROFILES, SCHEMA_RESOURCES

BASE = {"tenant_id": "contoso.onmicrosoft.com",
        "client_id": "00000000-0000-4000-8000-000000000001", "client_secret": "s"}


@pytest.mark.parametrize("spec", registry.STREAMS, ids=lambda s: s.name)
def test_each_stream_names_a_plugin_class_schema_block_and_features_that_exist(
        spec: registry.StreamSpec) -> None:
    assert spec.name == registry.plugin_class(spec).STREAM
    module = registry.mapping_module(spec)
    if spec.classes:  # a stream of several classes: its mapping module names them all
        assert {uid: name for uid, name in spec.classes} == dict(module.CLASSES)
        assert spec.class_uid == spec.classes[0][0]
    else:
        assert spec.class_uid == module.CLASS_UID
    assert (resources.files("connector") / spec.schema).is_file()
    assert all(feature in BY_KEY for feature in spec.features)
    if spec.settings_block is not None:
        assert hasattr(load_settings(BASE), spec.settings_block)


def test_a_stream_runs_by_default_only_when_its_block_enables_it() -> None:
    assert registry.default_streams(load_settings(BASE)) == ("users",)
    enabled = load_settings({**BASE, "devices": {"enabled": True},
                             "sign_ins": {"enabled": True}})
    assert registry.default_streams(enabled) == ("users", "sign_ins", "devices")


def test_validation_the_manifest_and_the_cli_read_the_registry() -> None:
    assert {uid for spec in registry.STREAMS
            for uid in registry.class_uids(spec)} <= set(SCHEMA_RESOURCES)
    assert registry.by_class_uid(3005) == registry.get("directory_audits")
    assert SCHEMA_PROFILES[3002] == frozenset({"host", "security_control"})
    assert [s["name"] for s in manifest_streams()] == list(registry.names())
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    stream = next(a for a in run._actions if a.dest == "stream")
    assert tuple(stream.choices) == ("all", *registry.names())


def test_the_progress_line_names_every_stream_that_lists() -> None:
    line = progress_line({"users_listed": 3, "devices_listed": 1200, "audits_listed": 7,
                          "events_delivered": 5}, 1)
    assert line.startswith("users 3 listed | devices 1,200 listed | audit records 7 listed | "
                           "events 5 delivered")


def test_an_unknown_stream_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="users, sign_ins, devices, directory_audits"):
        registry.get("groups")
