"""The module run by Sekoia's SDK, end to end: simulated tenant -> `main.py` -> local Sekoia.io."""

from __future__ import annotations

import re
from collections import Counter

from sekoia_automation_models.ocsf.user import UserOCSFModel

from connector.validation import EventValidator
from tests.conftest import MakeSim
from tests.sekoia.conftest import PROMPT_EXIT_SECONDS, StartModule, wait_for
from tests.sekoia.platform import API_KEY, FakeSekoia

VALIDATOR = EventValidator()
CYCLE_DONE = re.compile(r"Collection cycle \d+ complete")


def completed_cycles(platform: FakeSekoia) -> int:
    """Cycles the module reported through the SDK's log channel (sent every 5 s)."""
    return sum(bool(CYCLE_DONE.search(m)) for m in platform.messages())


def test_first_cycle_delivers_every_user_once_and_later_cycles_only_new_and_changed_ones(
    make_sim: MakeSim, platform: FakeSekoia, start_module: StartModule
) -> None:
    sim = make_sim(users=25, licence="P2")
    # what a test tenant, a national cloud or a proxied customer needs comes through the module
    # configuration: authority_host, graph_endpoint, ca_bundle (all three point at the
    # simulator), cloud, and a filter (no guests)
    expected = {u.id for u in sim.tenant.users() if not u.is_guest}
    assert len(expected) < 25
    module = start_module(sim.connector_config(cloud="global", include_guests=False))
    wait_for(lambda: len(platform.delivered()) >= len(expected), 90, "the first cycle", module)

    first = platform.delivered()
    assert Counter(i["user"]["uid"] for i in first) == Counter({uid: 1 for uid in expected})
    for item in first:
        UserOCSFModel.model_validate(item)
        assert VALIDATOR.errors(item) == [], item
    assert all(p.version == 1 for p in platform.pushes)

    # an account enabled now, so that disabling it is a change
    members = sorted(uid for uid in expected if sim.tenant.expected(uid).enabled)
    disabled, deleted = members[0], members[1]
    # a deleted manager changes their reports' manager: they are changed users too
    reports = {uid for uid in expected if sim.tenant.expected(uid).manager_id == deleted}
    sim.tenant.disable_user(disabled)
    sim.tenant.delete_user(deleted)
    new = [sim.tenant.add_user(display_name=f"Late Joiner {n}") for n in range(3)]
    wait_for(lambda: len(platform.delivered()) >= len(expected) + 5 + len(reports), 60,
             "the new and changed users", module)
    seen = completed_cycles(platform)
    wait_for(lambda: completed_cycles(platform) >= seen + 2, 30, "two more cycles", module)

    # later cycles: exactly the new users and the changed ones, each once, as they are now
    later = {i["user"]["uid"]: i for i in platform.delivered()[len(first):]}
    assert len(later) == len(platform.delivered()) - len(first)
    assert set(later) == {u.id for u in new} | {disabled, deleted} | reports
    for uid in (disabled, deleted):
        UserOCSFModel.model_validate(later[uid])
        assert VALIDATOR.errors(later[uid]) == [], later[uid]
        assert later[uid]["enrichments"][0]["data"]["is_enabled"] is False
    assert all(later[u.id]["enrichments"][0]["data"]["is_enabled"] is True for u in new)
    assert module.stop() < PROMPT_EXIT_SECONDS
    assert module.process.returncode == 0
    assert module.state is not None and module.state["watermark"]
    # the connector's own records (here the start-of-run credential check) reach the platform
    assert any("client secret expires" in m for m in platform.messages())
    everything = module.text() + "\n".join(platform.messages())
    assert sim.spec.client_secret not in everything
    assert API_KEY not in everything
