"""`python -m benchmarks.both_streams`: sign-ins on their schedule while a full inventory runs.

Both streams in one process, on one `GraphClient` (one request planner), against a simulated
P2 tenant in another process (50 ms per request, Graph's documented limits: reports 5 per 10 s,
signInActivity 10 per minute, Identity Protection 1 per second, directory RU). The inventory
makes a full collection; meanwhile a sign-in run starts every `--interval` seconds (the first
at once, reading the `lookback_days: 1` backlog), each from the previous run's checkpoint.

Figures: each sign-in run's start and end against its schedule (a run "misses its schedule"
when it ends after the next one is due, i.e. lateness > one interval), the inventory's wall,
and the 429s Graph answered (the planner knows every limit here, so each one is avoidable).
The default interval (60 s) is stricter than the 15 minutes the targets name: at 10,000 users
the whole inventory lasts less than one 15-minute interval.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.scale import Traffic
from benchmarks.tenant import TenantProcess
from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.plugin import PRODUCT, SIGN_IN_PRODUCT
from connector.streams.sign_ins import SignInCollection
from connector.streams.users import Collection


@dataclass(frozen=True, slots=True)
class SignInRun:
    scheduled: float
    started: float
    finished: float
    events: int

    @property
    def lateness(self) -> float:
        return self.finished - self.scheduled


async def _inventory(settings: Any, client: GraphClient) -> tuple[float, int]:
    started = time.monotonic()
    collection = Collection(settings, None, client, product=PRODUCT)
    events = 0
    async for batch in collection.batches():
        events += len(batch.events)
    return time.monotonic() - started, events


async def _sign_ins(settings: Any, client: GraphClient, interval: float, origin: float,
                    done: asyncio.Event) -> list[SignInRun]:
    runs: list[SignInRun] = []
    checkpoint: Any = None
    k = 0
    while True:
        scheduled = origin + k * interval
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        started = time.monotonic()
        collection = SignInCollection(settings, checkpoint, client, product=SIGN_IN_PRODUCT)
        events = 0
        async for batch in collection.batches():
            events += len(batch.events)
            checkpoint = batch.checkpoint
        runs.append(SignInRun(scheduled - origin, started - origin,
                              time.monotonic() - origin, events))
        k += 1
        if done.is_set():
            return runs


async def _run(tenant: TenantProcess, interval: float) -> tuple[float, int, list[SignInRun], str]:
    assert tenant.facts is not None
    settings = load_settings({**tenant.facts.config,
                              "sign_ins": {"enabled": True, "lookback_days": 1}})
    client = GraphClient.from_settings(settings)
    done = asyncio.Event()
    origin = time.monotonic()
    try:
        sign_ins = asyncio.ensure_future(_sign_ins(settings, client, interval, origin, done))
        wall, events = await _inventory(settings, client)
        done.set()
        runs = await sign_ins
        return wall, events, runs, client.budget_summary()
    finally:
        await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.both_streams")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sign-ins-per-user", type=float, default=5.5)
    parser.add_argument("--interval", type=float, default=60.0)
    args = parser.parse_args(argv)
    with TenantProcess(users=args.users, latency=0.05, throttling=True,
                       sign_ins_per_user_per_day=args.sign_ins_per_user) as tenant:
        assert tenant.facts is not None
        tenant.reset_counters()
        wall, events, runs, bounded = asyncio.run(_run(tenant, args.interval))
        traffic = Traffic.of(tenant.counters())
    worst = max(run.lateness for run in runs)
    print("| users | sign-ins a day | interval s | inventory wall s | inventory events | "
          "sign-in runs | sign-in events | worst sign-in run end after its schedule s | "
          "missed schedules | 429s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.users:,} | {args.users * args.sign_ins_per_user:,.0f} | {args.interval:.0f} | "
          f"{wall:.1f} | {events:,} | {len(runs)} | {sum(r.events for r in runs):,} | "
          f"{worst:.1f} | {sum(1 for r in runs if r.lateness > args.interval)} | "
          f"{traffic.throttled} |")
    for run in runs:
        print(f"  sign-in run scheduled {run.scheduled:6.1f} s: started {run.started:6.1f} s, "
              f"ended {run.finished:6.1f} s, {run.events:,} events", file=sys.stderr)
    print(f"  {bounded}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
