"""`python -m benchmarks.manager_sweep`: what the manager sweep costs when users/delta leaves
`manager@delta` out.

One simulated P2 tenant in this process (`tenant.manager_delta_omitted = True`, no latency,
throttling off: requests are counted, not timed), one state store, change tracking in process
with the connector's waits on a virtual clock:

1. a full collection (starts tracking);
2. `--changes` managers set or removed; a changes run one hour later (sweep not due): what
   users/delta alone sees of them;
3. a changes run 25 hours after the full one (sweep due): the users it emits, and the requests
   and resource units the sweep added, read from the simulator's counters.

Prints one Markdown table. Takes well under a minute at 10,000 users.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.throttle import Throttle
from connector.plugin import PRODUCT
from connector.state import StateStore
from connector.streams.changes import TrackedRun
from connector.streams.users import Summary
from entrasim import SimulatedGraph, TenantSpec

USERS_ROUTE = "GET /users"


class _VirtualWaits:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class RunCost:
    name: str
    events: int
    users_requests: int
    requests: int
    ru: int
    wall_seconds: float
    sources: tuple[str, ...]


def _run(sim: SimulatedGraph, store: StateStore, name: str, at: float) -> RunCost:
    # The other cadences held back, so the sweep's cost is the difference of the two runs.
    settings = load_settings(sim.connector_config(sign_in_refresh_hours=1000,
                                                  mfa_fallback_hours=1000))

    async def main() -> int:
        waits = _VirtualWaits()
        throttle = Throttle.create(max_concurrency=int(settings.max_concurrency),
                                   deadline_seconds=float(settings.retry_deadline_seconds),
                                   clock=waits.clock, sleep=waits.sleep)
        client = GraphClient.from_settings(settings, throttle=throttle)
        events = 0
        try:
            tracked = TrackedRun(settings, client, store, product=PRODUCT, cloud_name="global",
                                 summary=summary, clock=lambda: at)
            async for batch in tracked.batches():
                events += len(batch.events)
                store.commit(batch)
        finally:
            await client.aclose()
        return events

    summary = Summary()
    sim.counters.reset()
    started = time.perf_counter()
    events = asyncio.run(main())
    wall = time.perf_counter() - started
    snapshot = sim.counters.snapshot()
    totals = sim.counters.totals()
    return RunCost(name, events, snapshot.get(USERS_ROUTE, {}).get("requests", 0),
                   totals["requests"], totals["ru"], wall, tuple(summary.change_sources))


def measure(users: int, changes: int) -> tuple[list[RunCost], int]:
    with tempfile.TemporaryDirectory(prefix="bench-managers-") as directory, \
            SimulatedGraph(TenantSpec(seed=5, users=users, licence="P2"), latency=0.0,
                           throttling=False) as sim:
        sim.tenant.manager_delta_omitted = True
        store = StateStore(Path(directory) / "state.db")
        start = time.time()
        print(f"[bench managers] full collection of {users:,} users", file=sys.stderr)
        runs = [_run(sim, store, "full collection", start)]
        members = [u for u in sim.tenant.users() if u.enabled and not u.is_guest]
        bosses = members[-changes:]
        for user, boss in zip(members[:changes], bosses, strict=True):
            sim.tenant.set_manager(user.id, boss.id if user.id != boss.id else None)
        runs.append(_run(sim, store, "changes run, sweep not due (1 h later)", start + 3600))
        runs.append(_run(sim, store, "changes run, sweep due (25 h later)", start + 25 * 3600))
        return runs, changes


def render(runs: Sequence[RunCost], users: int, changes: int) -> str:
    lines = [f"| {users:,} users, {changes} managers changed, no `manager@delta` | events | "
             "`GET /users` requests | all requests | resource units | wall (no latency) |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.name} | {r.events:,} | {r.users_requests} | {r.requests} | {r.ru:,} | "
              f"{r.wall_seconds:.1f} s |" for r in runs]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.manager_sweep",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=50)
    args: Any = parser.parse_args(argv)
    runs, changes = measure(args.users, args.changes)
    print(render(runs, args.users, changes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
