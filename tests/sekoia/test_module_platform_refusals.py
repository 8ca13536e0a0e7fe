"""A bad day on Sekoia.io: slow, stuck and failing ingestion tasks, long Retry-After, refusals
that no retry cures (400, 413, 401), and what an idle cycle costs.

Each test starts `main.py` through the unmodified SDK against the simulated tenant and the local
Sekoia.io of tests/sekoia/platform.py, and each reproduced its defect on the module as it was
(commit 319b3e1) before the fix.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from entrasim.server import TOKEN_ROUTE
from tests.conftest import MakeSim
from tests.sekoia.conftest import PROMPT_EXIT_SECONDS, StartModule, wait_for
from tests.sekoia.platform import FakeSekoia

FAST_TASK_TIMEOUT = {"ASSET_CONNECTOR_TASK_POLL_TIMEOUT": "1"}


def token_requests(sim: object) -> int:
    return int(sim.counters.snapshot().get(TOKEN_ROUTE, {}).get("requests", 0))  # type: ignore[attr-defined]


def application_requests(sim: object) -> int:
    routes = sim.counters.snapshot()  # type: ignore[attr-defined]
    return sum(int(c["requests"]) for route, c in routes.items() if "applications" in route)


def delivered_once(platform: FakeSekoia, uids: set[str]) -> bool:
    return Counter(i["user"]["uid"] for i in platform.delivered()) == Counter(
        dict.fromkeys(uids, 1))


def test_a_task_pending_past_the_poll_timeout_then_failed_is_sent_again(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    everyone = {u.id for u in sim.tenant.users()}
    platform.script.extend(["ok", ("task_failed_after", 2.0)])
    module = start_module(sim.connector_config(), env=FAST_TASK_TIMEOUT)
    wait_for(lambda: delivered_once(platform, everyone), 30, "every user, once", module)
    failed = platform.pushes[1]
    assert [p for p in platform.pushes[2:] if p.uids == failed.uids]  # sent again
    module.stop()


def test_a_slow_task_api_does_not_hold_back_the_next_pushes(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=50)
    everyone = {u.id for u in sim.tenant.users()}
    platform.task_seconds = 4.0  # every task RUNNING for 4 s
    module = start_module(sim.connector_config())
    wait_for(lambda: delivered_once(platform, everyone), 30, "every user, once", module)
    first, last = platform.pushes[0], platform.pushes[-1]
    assert len(platform.pushes) == 5
    assert last.at < first.at + platform.task_seconds  # all 5 out before the 1st task ended
    module.stop()


def test_a_task_that_stays_running_holds_the_checkpoint_and_its_batch_is_sent_again(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    everyone = {u.id for u in sim.tenant.users()}
    platform.script.extend(["ok", "task_stuck"])
    module = start_module(sim.connector_config(),
                          env={"ASSET_CONNECTOR_TASK_POLL_TIMEOUT": "3"})
    wait_for(lambda: len(platform.pushes) >= 3, 30, "the third push", module)
    wait_for(lambda: module.state is not None, 5, "the first commit", module)
    state = module.state
    assert state is not None
    assert sorted(state["in_progress"]["skip_ids"]) == sorted(platform.pushes[0].uids)
    wait_for(lambda: delivered_once(platform, everyone), 30, "every user, once", module)
    stuck = platform.pushes[1]
    resent = [p for p in platform.pushes[2:] if p.uids == stuck.uids]
    assert resent and resent[0].at > platform.pushes[2].at  # the 3rd batch did not wait
    module.stop()


def test_a_retry_after_longer_than_the_push_deadline_is_honoured_by_the_next_cycle(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=15)
    platform.script.extend(["ok", (429, "1200")])
    module = start_module(sim.connector_config())
    wait_for(lambda: any("in 1200 s" in m for m in platform.messages()), 30,
             "the cycle scheduled as asked", module)
    assert len(platform.pushes) == 2
    assert delivered_once(platform, set(platform.pushes[0].uids))
    assert module.stop() < PROMPT_EXIT_SECONDS


def test_records_the_platform_refuses_are_isolated_skipped_and_counted(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    everyone = sorted(u.id for u in sim.tenant.users())
    bad, too_large = everyone[7], everyone[12]  # one refused as invalid, one as too large
    platform.refuse = {bad: 400, too_large: 413}
    module = start_module(sim.connector_config())
    wait_for(lambda: delivered_once(platform, set(everyone) - {bad, too_large}), 30,
             "every other user, once", module)
    wait_for(lambda: "2 refused by Sekoia.io and skipped" in module.text(), 10,
             "the cycle's report", module)
    skipped = [line for line in module.text().splitlines() if "Skipped user" in line]
    assert len(skipped) == 2
    assert any(bad in line and "HTTP 400" in line for line in skipped)
    assert any(too_large in line and "HTTP 413" in line for line in skipped)
    state = module.state
    assert state is not None and state.get("watermark")  # the cycle completed past them
    module.stop()


def test_a_push_too_large_is_split_until_accepted(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25)
    everyone = {u.id for u in sim.tenant.users()}
    platform.max_items = 3
    module = start_module(sim.connector_config())
    wait_for(lambda: delivered_once(platform, everyone), 30, "every user, once", module)
    assert all(len(p.items) <= 3 for p in platform.pushes if p.acknowledged)
    assert not any("Skipped" in m for m in platform.messages())
    module.stop()


def test_a_refused_api_key_is_a_configuration_error_naming_the_field(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5)
    platform.api_key = "another-key-the-platform-expects"
    module = start_module(sim.connector_config())
    wait_for(lambda: any("Configuration error" in m and "sekoia_api_key" in m
                         for m in platform.messages()), 30, "the configuration error", module)
    assert len(platform.pushes) <= 1  # not retried as if transient
    assert not any("retry" in m for m in platform.messages())
    assert module.stop() < PROMPT_EXIT_SECONDS


def test_an_idle_cycle_reuses_its_token_and_checks_the_secret_once_a_day(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=5, secret_end_datetime=datetime.now(UTC) + timedelta(days=10))
    module = start_module(sim.connector_config(), frequency=1)
    # the module's own output: the platform receives logs in 5-s batches, too late to count by
    wait_for(lambda: "cycle 1 complete" in module.text(), 30, "the first cycle", module)
    tokens, applications = token_requests(sim), application_requests(sim)
    wait_for(lambda: "cycle 2 complete" in module.text(), 30, "an idle cycle", module)
    assert token_requests(sim) == tokens
    assert application_requests(sim) == applications
    assert module.text().count("client secret expires on") == 1
    module.stop()
