"""The device plugin with a state store against the simulator: when a run is full, what a
changes run costs and emits, and how deletions that no delta reported are still delivered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from connector.state import StateStore
from connector.streams.batch import Batch, StoreWrites
from connector.streams.devices import STREAM, EntraIdDevices
from entrasim import SimulatedGraph
from tests.conftest import MakeSim


def _run(sim: SimulatedGraph, store: StateStore, **devices: Any) -> tuple[
        EntraIdDevices, list[dict[str, Any]], int]:
    config = {**sim.connector_config(), "devices": {"enabled": True, **devices}}
    plugin = EntraIdDevices(config, store=store)
    before = _graph_requests(sim)
    events = []
    for batch in plugin.batches():
        events += [orjson.loads(e) for e in batch.events]
        store.commit(batch)
    return plugin, events, _graph_requests(sim) - before


def _graph_requests(sim: SimulatedGraph) -> int:
    return sum(route["requests"] for name, route in sim.counters.snapshot().items()
               if "oauth2" not in name)


def _full(sim: SimulatedGraph, store: StateStore) -> list[dict[str, Any]]:
    config = {**sim.connector_config(), "devices": {"enabled": True}}
    events = []
    for batch in EntraIdDevices(config, store=store, full=True).batches():
        events += [orjson.loads(e) for e in batch.events]
        store.commit(batch)
    return events


def test_a_quiet_changes_run_emits_nothing_for_two_requests(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim(seed=61, users=60)
    store = StateStore(tmp_path / "s.db")
    first, events, _ = _run(sim, store)
    assert first.summary.mode == "full" and len(events) == len(sim.tenant.devices.truth())
    quiet, events, requests = _run(sim, store)
    assert quiet.summary.mode == "changes" and events == []
    assert requests <= 2  # devices/delta and the audit log


def test_a_refused_delta_link_turns_the_run_into_a_full_collection(make_sim: MakeSim,
                                                                   tmp_path: Path) -> None:
    sim = make_sim(seed=62, users=40)
    store = StateStore(tmp_path / "s.db")
    _run(sim, store)
    sim.tenant.expire_delta_tokens()
    again, events, _ = _run(sim, store)
    assert again.summary.mode == "full"
    assert "refused the delta link" in (again.summary.full_reason or "")
    assert len(events) == len(sim.tenant.devices.truth())


def test_a_device_deleted_while_tracking_was_broken_is_delivered_as_deleted(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=63, users=40)
    store = StateStore(tmp_path / "s.db")
    _run(sim, store)
    gone = sim.tenant.devices.devices()[0]
    sim.tenant.devices.delete_device(gone.id)
    sim.tenant.expire_delta_tokens()
    _, events, _ = _run(sim, store)
    deleted = [e for e in events if e["enrichments"][0]["data"].get("is_deleted")]
    assert [e["device"]["uid"] for e in deleted] == [gone.device_id]
    _, after, _ = _run(sim, store)
    assert after == []  # delivered once


def test_a_forced_or_periodic_full_collection_covers_devices(make_sim: MakeSim,
                                                             tmp_path: Path) -> None:
    sim = make_sim(seed=64, users=40)
    store = StateStore(tmp_path / "s.db")
    _run(sim, store)
    assert len(_full(sim, store)) == len(sim.tenant.devices.truth())
    store.commit(Batch([], store.load(STREAM) or {}, stream=STREAM,
                       writes=StoreWrites(cursors={"last_full": "2000-01-01T00:00:00Z"})))
    periodic, events, _ = _run(sim, store)
    assert periodic.summary.full_reason == "periodic resync (full_resync_hours: 168)"
    assert len(events) == len(sim.tenant.devices.truth())


def test_an_intune_read_each_run_re_emits_only_devices_whose_intune_facts_changed(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=65, users=60)
    store = StateStore(tmp_path / "s.db")
    _run(sim, store, intune_refresh_hours=0)
    managed = next(d for d in sim.tenant.devices.devices() if d.intune is not None)
    with sim.tenant.lock:  # an Intune-only fact: Entra's device does not change, no delta
        managed.intune.serial = "NEW-SERIAL-1"
    run, events, _ = _run(sim, store, intune_refresh_hours=0)
    assert "intune" in run.summary.change_sources
    assert [(e["device"]["uid"], e["device"]["hw_info"]["serial_number"]) for e in events] \
        == [(managed.device_id, "NEW-SERIAL-1")]


def test_an_expired_page_token_restarts_the_listing_and_delivers_each_device_once(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=66, users=80)
    sim.faults.expired_page_token_on_page = 3  # only the device listing has 3 pages of 20
    run, events, _ = _run(sim, StateStore(tmp_path / "s.db"), page_size=20)
    uids = [e["device"]["uid"] for e in events]
    assert sorted(uids) == sorted(sim.tenant.devices.truth())
    assert run.summary.listing_restarts == 1


def test_a_changes_run_cut_after_a_batch_emits_only_the_rest_next_time(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(seed=67, users=60)
    store = StateStore(tmp_path / "s.db")
    _run(sim, store)
    changed = [d for d in sim.tenant.devices.devices() if d.intune is not None][:12]
    for i, device in enumerate(changed):
        sim.tenant.devices.set_os_version(device.id, f"10.0.{50000 + i}.1")
    config = {**sim.connector_config(), "batch_size": 5, "devices": {"enabled": True}}
    batches = EntraIdDevices(config, store=store).batches()
    first = next(batches)
    store.commit(first)  # delivered and committed; the process dies before the next batch
    batches.close()
    delivered = {orjson.loads(e)["device"]["uid"] for e in first.events}
    _, events, _ = _run(sim, store)
    rest = {e["device"]["uid"] for e in events}
    assert len(delivered) == 5 and not delivered & rest
    assert delivered | rest == {d.device_id for d in changed}
