"""The runtime-facing plugin with and without a state store, as runtimes and the Sekoia module
use it: `EntraIdUserInventory(settings, store=StateStore(path))`, deliver, `store.commit(batch)`."""

from __future__ import annotations

from pathlib import Path

import orjson

from connector.plugin import EntraIdUserInventory
from connector.state import StateStore
from connector.streams.batch import Batch
from tests.conftest import MakeSim


def test_without_a_store_runs_are_created_date_incremental_and_say_tracking_needs_a_store(
        make_sim: MakeSim) -> None:
    sim = make_sim(seed=91, users=80, licence="P2")
    first = EntraIdUserInventory(sim.connector_config())
    batches = list(first.batches())
    assert sum(len(b.events) for b in batches) == 80
    assert all(b.writes is None for b in batches)
    sim.tenant.disable_user(next(iter(sim.tenant.truth())))
    second = EntraIdUserInventory(sim.connector_config(), batches[-1].checkpoint)
    assert [e for b in second.batches() for e in b.events] == []
    assert second.summary.mode == "incremental"
    assert "needs a state store" in second.summary.tracking


def test_with_a_store_a_changed_user_comes_out_once_and_other_streams_keep_their_state(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=92, users=80, licence="P2")
    store = StateStore(tmp_path / "state.db")
    store.commit(Batch([], {"cursor": "2026-11-30T00:00:00Z"}, stream="sign_ins"))
    for batch in EntraIdUserInventory(sim.connector_config(), store=store).batches():
        store.commit(batch)
    changed = next(iter(sim.tenant.truth()))
    sim.tenant.disable_user(changed)
    plugin = EntraIdUserInventory(sim.connector_config(), store=store)
    events = []
    for batch in plugin.batches():
        events += [orjson.loads(e) for e in batch.events]
        store.commit(batch)
    assert [e["user"]["uid"] for e in events] == [changed]
    assert events[0]["user"]["account"]["is_disabled"] is True
    assert plugin.summary.tracking == "on" and plugin.summary.changed_users == 1
    assert store.load("sign_ins") == {"cursor": "2026-11-30T00:00:00Z"}
