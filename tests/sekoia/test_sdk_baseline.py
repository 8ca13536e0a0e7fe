"""The SDK's own cycle, measured: why the module replaces it (docs/sekoia.md).

A minimal module on `AsyncAssetConnector`'s own `asset_fetch_cycle`, built the way the SDK's
modules are (automation-library's Entra ID connector: `update_checkpoint()` commits what
`get_assets()` last yielded), run through the SDK against the same local Sekoia.io. These tests
pin the SDK behaviour that docs/sekoia.md describes; the module's own tests show the opposite.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.conftest import MakeSim
from tests.sekoia.conftest import StartModule, wait_for
from tests.sekoia.naive_module import naive_module
from tests.sekoia.platform import FakeSekoia
from tests.sekoia.test_module_faults import token_requests


def test_the_sdk_cycle_loses_a_refused_batch_and_its_sleep_ignores_sigterm(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule, tmp_path: Path
) -> None:
    sim = make_sim(users=25)
    platform.script.extend(["ok", 500, "ok"])
    module = start_module(sim.connector_config(), module_dir=naive_module(tmp_path),
                          frequency=3600)
    wait_for(lambda: len(platform.pushes) >= 3, 60, "three pushes", module)
    wait_for(lambda: (module.state or {}).get("watermark")
             is not None, 30, "a complete checkpoint", module)
    time.sleep(2)
    refused = set(platform.pushes[1].uids)
    delivered = {i["user"]["uid"] for i in platform.delivered()}
    assert len(refused) == 10
    assert not refused & delivered  # never delivered ...
    assert len(delivered) == 15  # ... yet the checkpoint says the collection is complete

    # the next cycle finds nothing new, so the SDK sleeps `frequency`, deaf to SIGTERM
    wait_for(lambda: "Next run in the future" in module.text(), 30, "the idle sleep", module)
    module.process.send_signal(signal.SIGTERM)
    time.sleep(3)
    assert module.process.poll() is None


def test_the_sdk_cycle_turns_an_outage_into_a_hot_loop_through_graph_and_login(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule, tmp_path: Path
) -> None:
    sim = make_sim(users=15)
    platform.script.extend([503] * 10_000)
    module = start_module(sim.connector_config(), module_dir=naive_module(tmp_path))
    wait_for(lambda: len(platform.pushes) >= 1, 60, "the first push", module)
    tokens, pushes = token_requests(sim), len(platform.pushes)
    time.sleep(3)
    assert len(platform.pushes) - pushes >= 6  # the module: at most 3 in the same time
    assert token_requests(sim) - tokens >= 3  # the module: none (the cycle is not restarted)
    module.stop()
