"""The device asset connector under the SDK (`python main.py entra_id_devices_asset_connector`),
against the simulated tenant and the local Sekoia.io: the same delivery guarantees as the user
connector, with the platform refusing pushes."""

from __future__ import annotations

from collections import Counter

from sekoia_automation_models.ocsf.device import DeviceOCSFModel

from tests.conftest import MakeSim
from tests.sekoia.conftest import StartModule, wait_for
from tests.sekoia.platform import FakeSekoia, item_uid

DEVICES = "entra_id_devices_asset_connector"


def _delivered(platform: FakeSekoia) -> Counter[str]:
    return Counter(item_uid(item) for item in platform.delivered())


def test_every_device_is_delivered_once_while_the_platform_refuses_pushes(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=30)
    truth = sim.tenant.devices.truth()
    # refused at once (503), throttled without Retry-After (429), a task that FAILED: each
    # time the batch goes out again, and nothing is committed before its task FINISHED
    platform.script.extend([503, 429, "ok", "task_failed"])
    module = start_module(sim.connector_config(), command=DEVICES,
                          env={"ASSET_CONNECTOR_RATE_LIMIT_WAIT": "0.2"})
    wait_for(lambda: set(_delivered(platform)) >= set(truth), 60, "every device", module)
    # a later cycle (nothing changed) delivers nothing again
    wait_for(lambda: any("Collection cycle 2 complete: 0 devices" in m
                         for m in platform.messages()), 20, "a second, empty cycle", module)
    assert _delivered(platform) == Counter(dict.fromkeys(truth, 1))
    for item in platform.delivered():
        DeviceOCSFModel.model_validate(item)
        expected = truth[item["device"]["uid"]]
        assert item["device"]["uid_alt"] == expected.id
        assert item["device"].get("is_compliant") == expected.is_compliant
        if expected.owner_id:
            assert item["enrichments"][0]["data"]["Users"][0] == expected.owner_id
    refused = [p for p in platform.pushes if p.answer in (503, 429)]
    assert len(refused) == 2 and all(p.uids for p in refused)
    module.stop()


def test_a_device_the_platform_rejects_is_skipped_and_the_rest_delivered_once(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=30)
    truth = sim.tenant.devices.truth()
    bad = sorted(truth)[3]
    platform.refuse[bad] = 400
    module = start_module(sim.connector_config(), command=DEVICES)
    wait_for(lambda: set(_delivered(platform)) >= set(truth) - {bad}, 60,
             "every other device", module)
    assert _delivered(platform) == Counter(dict.fromkeys(set(truth) - {bad}, 1))
    wait_for(lambda: any(f"Skipped device {bad}" in m for m in platform.messages()), 10,
             "the skip reported on the platform's log", module)
    module.stop()
