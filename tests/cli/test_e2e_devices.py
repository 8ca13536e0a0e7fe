"""The device stream end to end through the CLI, one state file across runs.

Story: a 150-user P2 tenant with Intune; a first run of every stream (users, sign-ins, devices);
then one mutation of every kind (a new device, a deleted one, a compliance change, an owner
change, a disabled device, an OS update) and a second run of `--stream devices` alone, which
must emit exactly the six devices, each equal to the tenant's ground truth (Entra and Intune
merged), and cost a handful of requests. Owners join the user inventory on `user.uid`, sign-ins
join devices on `device.uid`. Without Intune (no licence, or no permission) Entra's devices
still come, with one message, and `test` names the missing piece.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.validation import EventValidator
from entrasim import SimulatedGraph, TenantSpec
from entrasim.devices import ExpectedDevice
from entrasim.spec import DEFAULT_PERMISSIONS
from tests.cli.truth import connector, load_events, write_config

# Small pages and batches: a full run crosses page and batch boundaries.
DEVICES = {"enabled": True, "page_size": 70}


@dataclass
class Run:
    events: list[dict[str, Any]]
    summary: dict[str, Any]
    requests: int
    stderr: str


def graph_requests(sim: SimulatedGraph) -> int:
    return sum(route["requests"] for name, route in sim.counters.snapshot().items()
               if "oauth2" not in name)


def run_cli(sim: SimulatedGraph, directory: Path, n: int, *extra: str) -> Run:
    out, summary = directory / f"out{n}.ndjson", directory / f"summary{n}.json"
    before = graph_requests(sim)
    result = connector("run", "--config", directory / "config.json", "--state",
                       directory / "state.db", "--output", out, "--summary-json", summary,
                       "--no-progress", *extra)
    assert result.returncode == 0, result.stderr
    return Run(load_events(out) if out.exists() else [], json.loads(summary.read_text()),
               graph_requests(sim) - before, result.stderr)


def of_class(events: list[dict[str, Any]], class_uid: int) -> list[dict[str, Any]]:
    return [e for e in events if e["class_uid"] == class_uid]


def device_problems(event: Mapping[str, Any], expected: ExpectedDevice,
                    names: Mapping[str, str]) -> list[str]:
    """How a device event differs from the ground truth (empty when it agrees)."""
    device = event["device"]
    status = next(e["data"] for e in event.get("enrichments", []) if e["name"] == "device")
    found = {
        "uid_alt": device.get("uid_alt"), "name": device.get("name"),
        "os_version": device.get("os", {}).get("version"),
        "is_compliant": device.get("is_compliant"), "is_managed": device.get("is_managed"),
        "is_personal": device.get("is_personal"), "owner": device.get("owner", {}).get("uid"),
        "owner_name": device.get("owner", {}).get("name"),
        "serial": device.get("hw_info", {}).get("serial_number"), "imei": device.get("imei"),
        "enabled": status.get("is_enabled"), "deleted": status.get("is_deleted", False),
        "users": tuple(status.get("registered_user_uids", ())),
    }
    wanted = {
        "uid_alt": expected.id, "name": expected.name, "os_version": expected.os_version,
        "is_compliant": expected.is_compliant, "is_managed": expected.is_managed,
        "is_personal": expected.is_personal, "owner": expected.owner_id,
        "owner_name": names.get(expected.owner_id) if expected.owner_id else None,
        "serial": expected.serial, "imei": expected.imei or None, "enabled": expected.enabled,
        "deleted": expected.deleted, "users": tuple(sorted(expected.user_ids)),
    }
    return [f"{key}: {found[key]!r} != {wanted[key]!r}" for key in wanted
            if found[key] != wanted[key]]


@dataclass
class Story:
    sim: SimulatedGraph
    first: Run
    second: Run
    mutated: dict[str, str]  # deviceId -> kind of mutation
    truth_before: dict[str, ExpectedDevice]
    truth_after: dict[str, ExpectedDevice]
    names: dict[str, str]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    directory = tmp_path_factory.mktemp("devices")
    with SimulatedGraph(TenantSpec(seed=15, users=150, licence="P2")) as sim:
        write_config(directory, sim, devices=DEVICES, batch_size=50,
                     sign_ins={"enabled": True, "lookback_days": 1})
        directory_devices = sim.tenant.devices
        truth_before = directory_devices.truth()
        first = run_cli(sim, directory, 1)
        managed = [d for d in directory_devices.devices() if d.intune is not None]
        users = [u.id for u in sim.tenant.users()]
        added = directory_devices.add_device(users[0])
        deleted, compliance, owner, disabled, updated = managed[:5]
        directory_devices.delete_device(deleted.id)
        directory_devices.set_compliance(
            compliance.id, "noncompliant" if compliance.is_compliant else "compliant")
        directory_devices.set_owner(owner.id, next(u for u in users
                                                   if owner.owner is None or u != owner.owner.id))
        directory_devices.disable_device(disabled.id)
        directory_devices.set_os_version(updated.id, "10.0.99999.1")
        mutated = {added.device_id: "add", deleted.device_id: "delete",
                   compliance.device_id: "compliance", owner.device_id: "owner",
                   disabled.device_id: "disable", updated.device_id: "os version"}
        second = run_cli(sim, directory, 2, "--stream", "devices")
        names = {u.id: u.display for u in sim.tenant.users()}
        yield Story(sim, first, second, mutated, truth_before,
                    directory_devices.truth(include_deleted=True), names)


def test_the_first_run_emits_every_device_once_valid_and_equal_to_the_truth(story: Story) -> None:
    events = of_class(story.first.events, 5001)
    uids = [e["device"]["uid"] for e in events]
    assert len(uids) == len(set(uids)) and set(uids) == set(story.truth_before)
    validator = EventValidator()
    for event in events:
        assert validator.errors(event) == []
        assert device_problems(event, story.truth_before[event["device"]["uid"]],
                               story.names) == []
    assert story.first.summary["streams"]["devices"]["completed"] is True


def test_owners_join_the_user_inventory_on_uid_and_name(story: Story) -> None:
    users = {e["user"]["uid"]: e["user"] for e in of_class(story.first.events, 5003)}
    owned = [e["device"]["owner"] for e in of_class(story.first.events, 5001)
             if "owner" in e["device"]]
    assert owned
    for owner in owned:
        assert owner["uid"] in users
        assert owner.get("name") == users[owner["uid"]].get("name")
        assert owner["account"]["name"] == users[owner["uid"]]["account"]["name"]


def test_sign_ins_join_the_devices_on_device_uid(story: Story) -> None:
    devices = {e["device"]["uid"] for e in of_class(story.first.events, 5001)}
    named = [e["device"]["uid"] for e in of_class(story.first.events, 3002)
             if e.get("device", {}).get("uid")]
    assert named, "no sign-in named a device"
    assert set(named) <= devices


def test_the_second_run_emits_exactly_the_mutated_devices_as_they_are_now(story: Story) -> None:
    events = of_class(story.second.events, 5001)
    assert sorted(e["device"]["uid"] for e in events) == sorted(story.mutated)
    validator = EventValidator()
    for event in events:
        assert validator.errors(event) == []
        uid = event["device"]["uid"]
        assert device_problems(event, story.truth_after[uid], story.names) == [], \
            story.mutated[uid]
    assert not of_class(story.second.events, 5003)  # --stream devices ran the devices alone


def test_the_second_run_costs_requests_for_the_changes_not_the_tenant(story: Story) -> None:
    devices = story.second.summary["streams"]["devices"]
    assert devices["mode"] == "changes"
    assert (devices["new_devices"], devices["changed_devices"], devices["deleted_devices"]) \
        == (1, 4, 1)
    # delta, the audit log (the owner change), owners and users of the changed devices, their
    # Intune records: never a whole listing of devices, owners or Intune.
    assert story.second.requests <= 6
    assert "intune" not in devices["change_sources"]
    assert "device owner changes (audit log)" in devices["change_sources"]


@pytest.mark.parametrize("spec", [
    {"intune": False},
    {"permissions": DEFAULT_PERMISSIONS - {"DeviceManagementManagedDevices.Read.All"}},
], ids=["no-intune-licence", "no-intune-permission"])
def test_without_intune_entra_devices_complete_with_one_message_and_test_names_it(
        tmp_path: Path, spec: dict[str, Any]) -> None:
    with SimulatedGraph(TenantSpec(seed=16, users=40, licence="P2", **spec)) as sim:
        config = write_config(tmp_path, sim, devices={"enabled": True})
        run = run_cli(sim, tmp_path, 1, "--stream", "devices")
        truth = sim.tenant.devices.truth()
        diagnosis = connector("test", "--config", config, "--json")
    events = of_class(run.events, 5001)
    assert sorted(e["device"]["uid"] for e in events) == sorted(truth)
    assert not any("hw_info" in e["device"] for e in events)  # Intune's facts unknown, omitted
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, run.stderr  # one message; the summary recaps it
    missing = "licence" if "intune" in spec else "DeviceManagementManagedDevices.Read.All"
    assert "Intune" in warnings[0] and missing in warnings[0]
    assert run.summary["streams"]["devices"]["completed"] is True
    checks = {c["id"]: c for c in json.loads(diagnosis.stdout)["checks"]}
    assert checks["feature:devices"]["status"] == "ok"
    assert checks["feature:intune_devices"]["status"] == "unavailable"
    assert missing in checks["feature:intune_devices"]["detail"]
