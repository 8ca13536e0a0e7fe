"""The module's pure parts: manifests, configuration, the move onto the SDK's user model, waits."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import entra_sekoia.asset_connector as asset_connector_module
import pytest
from entra_sekoia.asset_connector import EntraIdUsersAssetConnector
from entra_sekoia.assets import AssetMappingError, to_asset
from entra_sekoia.manifest import generated_files, module_config_schema, settings_from_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sekoia_automation.module import Module
from sekoia_automation_models.ocsf.user import UserOCSFModel

from connector.config import ConfigError
from connector.ocsf.user_inventory import (
    MAPPING,
    MappingError,
    MappingRow,
    Product,
    UserFacts,
    example_user,
    to_event,
)
from connector.state import StateStore
from connector.streams.batch import Batch, StoreWrites
from connector.validation import EventValidator
from tests.unit.test_ocsf_properties import facts, graph_users

VALIDATOR = EventValidator()
PRODUCT = Product(name="Entra ID user inventory", vendor_name="Microsoft", version="0.1.0")
MODULE_DIR = Path(__file__).resolve().parents[2] / "integrations" / "sekoia"


def pushed(asset: UserOCSFModel) -> dict[str, Any]:
    """What the SDK puts on the wire for one item (`model_dump(exclude_none=True)`, as JSON)."""
    return json.loads(json.dumps(asset.model_dump(exclude_none=True)))


# --- manifests and configuration ------------------------------------------------------------

def test_the_module_manifests_are_generated_from_settings_and_current() -> None:
    for path, text in generated_files(MODULE_DIR).items():
        assert path.read_text(encoding="utf-8") == text, \
            f"{path.name} is stale: run python -m entra_sekoia.manifest --write"


def test_the_runtime_still_takes_settings_the_flat_form_leaves_at_defaults() -> None:
    schema = module_config_schema()
    hidden = {"authority_host": "https://login.example.test", "include_guests": False}
    assert not set(hidden) & set(schema["properties"])
    settings = settings_from_module(
        {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
         "client_secret": "s3cret-value", **hidden}, batch_size=100)
    assert settings.include_guests is False
    assert str(settings.authority_host).startswith("https://login.example.test")


def test_module_configuration_becomes_settings_with_the_sdk_batch_size() -> None:
    settings = settings_from_module(
        {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
         "client_secret": "s3cret-value", "authority_host": "", "domains": None,
         "cloud": "usgov"}, batch_size=250)
    assert settings.batch_size == 250
    assert settings.cloud == "usgov"
    assert settings.authority_host is None


def test_a_bad_module_configuration_names_the_key_not_the_secret() -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from_module({"tenant_id": "contoso.onmicrosoft.com", "client_id": "nope",
                              "client_secret": "s3cret-value"}, batch_size=100)
    assert "client_id" in str(raised.value)
    assert "s3cret-value" not in str(raised.value)


# --- the move onto the SDK's model ----------------------------------------------------------

def example_event() -> dict[str, Any]:
    from connector.ocsf.user_inventory import Group, Mfa, Risk
    return to_event(example_user(), UserFacts(groups=(Group("g1", "Admins"), Group("g2", None)),
                                              roles=("Global Administrator",),
                                              mfa=Mfa(True, ("fido2",)), risk=Risk("low")),
                    collected_at_ms=1_700_000_000_000, tenant_id="t", product=PRODUCT)


def test_the_example_user_keeps_everything_the_model_can_hold() -> None:
    event = example_event()
    item = pushed(to_asset(event))
    assert VALIDATOR.errors(item) == []
    user, ours = item["user"], event["user"]
    for key in ("uid", "name", "display_name", "uid_alt", "email_addr", "domain", "type_id",
                "type", "has_mfa", "risk_level_id", "risk_level", "org"):
        assert user[key] == ours[key], key
    assert user["account"] == {k: ours["account"][k] for k in ("uid", "type_id", "type", "name")}
    assert user["groups"] == [{"uid": "g1", "name": "Admins"}, {"uid": "g2", "name": "g2"}]
    assert user["ldap_person"] == {k: ours["ldap_person"][k] for k in (
        "given_name", "surname", "job_title", "department", "employee_uid", "office_location")}
    last_logon_ms = event["enrichments"][0]["data"]["last_logon"]
    assert last_logon_ms == 1_767_224_700_000
    assert item["enrichments"] == [{"name": "account", "value": "status", "data": {
        "is_enabled": True, "last_logon": "2025-12-31T23:45:00Z"}}]


def test_a_disabled_account_is_carried_as_is_enabled_false() -> None:
    event = to_event({**example_user(), "accountEnabled": False}, UserFacts(),
                     collected_at_ms=1, tenant_id="t", product=PRODUCT)
    assert event["user"]["account"]["is_disabled"] is True
    data = pushed(to_asset(event))["enrichments"][0]["data"]
    assert data["is_enabled"] is False


def test_an_event_without_user_uid_is_refused() -> None:
    with pytest.raises(AssetMappingError):
        to_asset({"user": {"name": "x"}})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user=graph_users, user_facts=facts, collected_at_ms=st.integers(0, 2**53))
def test_any_event_of_ours_becomes_a_valid_sekoia_user_that_keeps_what_the_model_holds(
    user: dict[str, Any], user_facts: UserFacts, collected_at_ms: int
) -> None:
    try:
        event = to_event(user, user_facts, collected_at_ms=collected_at_ms, tenant_id="t",
                         product=PRODUCT)
    except MappingError:
        return
    item = pushed(to_asset(event))
    UserOCSFModel.model_validate(item)
    assert VALIDATOR.errors(item) == [], item
    ours, theirs = event["user"], item["user"]
    for key in UserOCSFModel.model_fields["user"].annotation.model_fields:  # type: ignore[union-attr]
        if key in ours and key not in ("name", "account", "groups", "ldap_person"):
            assert theirs[key] == ours[key], key
    if "is_disabled" in ours["account"]:
        assert item["enrichments"][0]["data"]["is_enabled"] is (not ours["account"]["is_disabled"])
    assert theirs["name"]


# --- the connector's hooks ------------------------------------------------------------------

@pytest.fixture
def connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EntraIdUsersAssetConnector]:
    monkeypatch.chdir(MODULE_DIR)
    made = EntraIdUsersAssetConnector(module=Module(), data_path=tmp_path)
    yield made
    made.stop()
    ours = logging.getLogger("connector")
    ours.handlers = [h for h in ours.handlers if getattr(h, "trigger", None) is not made]


def test_a_mapping_change_changes_the_sdk_fingerprint(
    connector: EntraIdUsersAssetConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = connector._compute_schema_fingerprint()
    assert before == connector._compute_schema_fingerprint()
    monkeypatch.setattr(asset_connector_module, "MAPPING",
                        (*MAPPING, MappingRow("`newField`", "user.forward_addr", "as reported")))
    assert connector._compute_schema_fingerprint() != before


def test_the_sdk_resets_our_checkpoint_when_the_mapping_changed(
    connector: EntraIdUsersAssetConnector, tmp_path: Path
) -> None:
    store = StateStore(tmp_path / connector.STATE_FILE)
    store.save({"version": 1, "watermark": "2026-01-01T00:00:00Z"}, "users")
    store.commit(Batch([], {"version": 1}, writes=StoreWrites(
        users={}, cursors={"users_delta": "https://graph.example/delta?$deltatoken=x"})))
    with connector.schema_store as stored:
        stored["fingerprint"], stored["fields"] = "an older mapping", {"a": "b"}
    asyncio.run(connector._check_schema_and_reset_if_needed())
    # no checkpoint and no change cursor: the next cycle is a full collection
    assert store.load("users") is None
    assert store.cursors() == {}
    with connector.schema_store as stored:
        assert stored["fingerprint"] == connector._compute_schema_fingerprint()


def test_waits_back_off_and_a_429_without_retry_after_waits_a_minute_not_an_hour(
    connector: EntraIdUsersAssetConnector,
) -> None:
    assert 0.8 <= connector._push_wait("transient", None, 1) <= 1.2
    assert 3.2 <= connector._push_wait("transient", None, 3) <= 4.8
    assert connector._push_wait("transient", None, 30) <= 360
    assert connector._push_wait("throttled", None, 1) == 60
    assert connector._push_wait("throttled", 7.0, 1) == 7.0
    assert connector._push_wait("throttled", 0.0, 1) == 60  # Retry-After: 0 is not "now"
    assert [connector._cycle_wait(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]
