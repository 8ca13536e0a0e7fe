"""What the SDK's own cycle loses or hammers on, and what this module does instead.

Each test starts `main.py` through the SDK against the simulated tenant and a local Sekoia.io
that refuses, throttles or fails some pushes (see tests/sekoia/platform.py).
"""

from __future__ import annotations

import time
from collections import Counter

from entrasim.server import TOKEN_ROUTE
from tests.conftest import MakeSim
from tests.sekoia.conftest import PROMPT_EXIT_SECONDS, StartModule, wait_for
from tests.sekoia.platform import FakeSekoia


def token_requests(sim: object) -> int:
    return int(sim.counters.snapshot().get(TOKEN_ROUTE, {}).get("requests", 0))  # type: ignore[attr-defined]


def test_a_refused_a_throttled_and_a_failed_push_are_delivered_later_in_order(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    platform.script.extend(["ok", 500, (429, "1"), "task_failed", "ok"])
    module = start_module(sim.connector_config())
    wait_for(lambda: len(platform.delivered()) >= 25, 60, "every user", module)

    pushes = platform.pushes
    assert [p.answer for p in pushes[:4]] == ["ok", 500, (429, "1"), "task_failed"]
    # a refused or throttled push is retried in place, unchanged, before anything after it
    assert pushes[1].uids == pushes[2].uids == pushes[3].uids
    assert not set(pushes[1].uids) & set(pushes[0].uids)
    # the batch whose task FAILED is sent again, unchanged (later pushes went on meanwhile)
    resent = [p for p in pushes[4:] if p.uids == pushes[3].uids]
    assert resent and resent[0].acknowledged
    assert Counter(i["user"]["uid"] for i in platform.delivered()) == \
        Counter({u.id: 1 for u in sim.tenant.users()})
    # no hot loop: our backoff after the 500 (1 s +-20%), the server's Retry-After after the 429
    assert pushes[2].at - pushes[1].at >= 0.75
    assert pushes[3].at - pushes[2].at >= 1.0
    assert resent[0].at - pushes[3].at >= 0.75
    module.stop()
    assert module.process.returncode == 0


def test_a_429_without_retry_after_holds_the_checkpoint_and_a_stop_ends_the_wait_at_once(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    platform.script.extend(["ok", 429])
    module = start_module(sim.connector_config())
    wait_for(lambda: len(platform.pushes) >= 2, 60, "the throttled push", module)
    time.sleep(3)
    assert len(platform.pushes) == 2  # waiting (a minute), not hammering, not moving on
    state = module.state
    assert state is not None
    committed = state["in_progress"]["skip_ids"]
    assert sorted(committed) == sorted(platform.pushes[0].uids)  # not past the refused batch
    assert module.stop() < PROMPT_EXIT_SECONDS
    assert module.process.returncode == 0

    again = start_module(sim.connector_config(), env={"SUB_FOLDER": str(module.data)})
    wait_for(lambda: len(platform.delivered()) >= 25, 60, "the rest after a restart", again)
    assert Counter(i["user"]["uid"] for i in platform.delivered()) == \
        Counter({u.id: 1 for u in sim.tenant.users()})
    again.stop()


def test_an_outage_backs_off_instead_of_looping_through_graph_and_login(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=15)
    platform.script.extend([503] * 20)
    module = start_module(sim.connector_config())
    wait_for(lambda: len(platform.pushes) >= 1, 60, "the first push", module)
    tokens, graph = token_requests(sim), sim.counters.totals()["requests"]
    time.sleep(5)
    assert len(platform.pushes) <= 4  # 1 + retries after ~1, ~2, ~4 s
    assert token_requests(sim) == tokens  # the batch is retried, the cycle not restarted
    assert sim.counters.totals()["requests"] == graph
    assert module.state is None or not module.state.get("watermark")
    assert module.stop() < PROMPT_EXIT_SECONDS


def test_a_failing_cycle_backs_off_and_says_why_without_the_secret(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    module = start_module(sim.connector_config(client_secret="wrong-secret-value-123"))
    wait_for(lambda: any("AADSTS7000215" in m for m in platform.messages()), 30,
             "the failure in the platform's logs", module)
    time.sleep(3)
    assert token_requests(sim) <= 2  # the SDK's loop: 270 token requests in 8 s
    assert platform.pushes == []
    assert module.stop() < PROMPT_EXIT_SECONDS
    everything = module.text() + "\n".join(platform.messages())
    assert "wrong-secret-value-123" not in everything


def test_a_stop_mid_collection_cancels_it_at_once_and_commits_nothing(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25, latency=1.0)  # every Graph request takes a second
    module = start_module(sim.connector_config())
    wait_for(lambda: sim.counters.totals()["requests"] >= 2, 60, "the collection to start",
             module)
    assert module.stop() < PROMPT_EXIT_SECONDS
    assert module.process.returncode == 0
    assert platform.pushes == []
    assert module.state is None


def test_a_stop_during_the_wait_for_the_next_cycle_exits_at_once(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    module = start_module(sim.connector_config(), frequency=3600)
    wait_for(lambda: "Next collection cycle in" in module.text(), 60, "the wait", module)
    assert module.stop() < PROMPT_EXIT_SECONDS  # the SDK's own sleep outlives a SIGTERM (test_sdk_baseline.py)
    assert module.process.returncode == 0
    assert len(platform.delivered()) == 5
