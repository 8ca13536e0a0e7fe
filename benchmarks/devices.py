"""`python -m benchmarks.devices --devices 10000 100000`: the device stream through the real CLI.

For each size: a simulated P2 tenant with Intune in its own process (50 ms per request, Graph's
published throttling budgets, about 1.25 devices per user), a full `run --stream devices` with a
state file, then 100 device changes (compliance, OS version, disable, delete, new device, owner:
in turn) and a refresh run on the same state. Each run is its own process (peak RSS its own);
Graph traffic is read from the simulator's counters. Prints a Markdown table.

The floor is the documented number of requests a full collection needs (docs/changes.md):
ceil(devices / 999) for the devices with their owners, as many for the registered users,
ceil(managed devices / 1,000) for Intune, and 1 for the delta link (`$deltatoken=latest`).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.scale import Traffic, run_connector

USERS_PER_DEVICE = 0.8
CHANGES = 100
KINDS = ("compliance", "os_version", "disable", "delete", "add", "owner")


@dataclass(frozen=True, slots=True)
class Tenant:
    config: dict[str, Any]
    devices: int
    managed: int

    @property
    def floor(self) -> int:
        pages = math.ceil(self.devices / 999)
        return 2 * pages + math.ceil(self.managed / 1000) + 1


def _serve(conn: Connection, devices: int, seed: int) -> None:
    from entrasim import SimulatedGraph, TenantSpec

    spec = TenantSpec(seed=seed, users=max(10, int(devices * USERS_PER_DEVICE)), licence="P2",
                      devices=devices)
    with SimulatedGraph(spec, latency=0.05, throttling=True) as sim:
        directory = sim.tenant.devices
        conn.send(Tenant({**sim.connector_config(), "devices": {"enabled": True}},
                         len(directory), len(directory.managed())))
        rng = random.Random(seed)
        while True:
            command, arg = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "reset":
                sim.counters.reset()
                sim.throttle.reset()
                conn.send(None)
            elif command == "counters":
                conn.send(sim.counters.snapshot())
            elif command == "changes":
                conn.send(_changes(sim, rng, int(arg)))


def _changes(sim: Any, rng: random.Random, count: int) -> int:
    directory = sim.tenant.devices
    managed = directory.managed()
    users = [u.id for u in sim.tenant.users()]
    picked = rng.sample(managed, count)
    for i, device in enumerate(picked):
        kind = KINDS[i % len(KINDS)]
        if kind == "compliance":
            directory.set_compliance(device.id, "noncompliant")
        elif kind == "os_version":
            directory.set_os_version(device.id, f"10.0.{30000 + i}.1")
        elif kind == "disable":
            directory.disable_device(device.id)
        elif kind == "delete":
            directory.delete_device(device.id)
        elif kind == "add":
            directory.add_device(rng.choice(users))
        else:
            directory.set_owner(device.id, rng.choice(users))
    return count


@dataclass(frozen=True, slots=True)
class Row:
    devices: int
    managed: int
    floor: int
    full_requests: int
    full_wall: float
    full_rss: float
    full_events: int
    refresh_requests: int
    refresh_events: int
    refresh_wall: float
    refresh_rss: float

    @property
    def per_thousand(self) -> float:
        return 1000 * self.full_requests / self.devices


def _count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def measure(devices: int, *, seed: int = 5, timeout: float = 3600) -> Row:
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, devices, seed), daemon=True)
    process.start()
    child.close()

    def call(command: str, arg: object = None) -> Any:
        conn.send((command, arg))
        return conn.recv()

    try:
        tenant: Tenant = conn.recv()
        with tempfile.TemporaryDirectory(prefix="bench-devices-") as tmp:
            work = Path(tmp)
            config = work / "config.json"
            config.write_text(json.dumps(tenant.config))
            state = work / "state.db"
            call("reset")
            code, wall, rss, tail, _ = run_connector(config, state, work / "full.ndjson",
                                                     timeout=timeout,
                                                     run_args=("--stream", "devices"))
            if code != 0:
                raise RuntimeError(f"full run exited {code}:\n{tail}")
            full = Traffic.of(call("counters"))
            call("changes", CHANGES)
            call("reset")
            code, r_wall, r_rss, tail, _ = run_connector(config, state, work / "refresh.ndjson",
                                                         timeout=timeout,
                                                         run_args=("--stream", "devices"))
            if code != 0:
                raise RuntimeError(f"refresh run exited {code}:\n{tail}")
            refresh = Traffic.of(call("counters"))
            return Row(tenant.devices, tenant.managed, tenant.floor, full.requests, wall, rss,
                       _count(work / "full.ndjson"), refresh.requests,
                       _count(work / "refresh.ndjson"), r_wall, r_rss)
    finally:
        call("stop")
        process.join(timeout=30)


def render(rows: Sequence[Row]) -> str:
    lines = [
        "| devices (Intune) | full: requests / floor | requests per 1,000 devices | full wall "
        "| full peak RSS | refresh after 100 changes: requests | events | peak RSS |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.devices:,} ({r.managed:,}) | {r.full_requests} / {r.floor} "
            f"({r.full_requests / r.floor:.2f}x) | {r.per_thousand:.2f} | {r.full_wall:.1f} s "
            f"| {r.full_rss:.0f} MB | {r.refresh_requests} | {r.refresh_events} "
            f"| {r.refresh_rss:.0f} MB |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.devices", description=__doc__)
    parser.add_argument("--devices", type=int, nargs="+", default=[10_000])
    args = parser.parse_args(argv)
    rows = []
    for size in args.devices:
        row = measure(size)
        rows.append(row)
        print(render([row]).splitlines()[-1], flush=True)
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
