"""`python -m benchmarks.sign_ins`: the sign-in stream against its targets (issue 11).

- **CPU**: parse a 1,000-record `/auditLogs/signIns` page with orjson, map every record with
  `connector.ocsf.authentication.to_event`, serialise every event; one thread, best round.
- **First run**: one day of a 10,000-user tenant's sign-ins (5.5 a user: 55,000 records) through
  `python -m connector run --stream sign_ins` in its own process, against the simulated tenant in
  another process (50 ms per request, Graph's throttling on: 5 reporting requests per 10 s).
  Wall time against the reporting-budget floor for the pages the data needs
  (`ceil(records / 1000)`), peak RSS of the connector process (`os.wait4`).
- **Quiet run**: the same state file again at once, nothing new: its Graph requests.
- **Double volume**: a fresh tenant with twice the sign-ins a user (110,000 a day), first run:
  peak RSS must stay flat.

- **Stragglers** (`--stragglers`): what the deep re-read costs. A day of 15-minute runs (96) of
  the same tenant's sign-in stream in this process, on a virtual clock (windows and the
  reporting budget's waits), against the simulator's log (throttling off: requests are counted,
  not timed); Graph requests per run averaged over the day, with the default deep re-read and
  without it, and the largest checkpoint (`seen` ids) the day needed. Takes about 3 minutes.

Records come from the simulator (realistic shape: devices, locations, CA policies, failures).
Prints the figures as Markdown rows for docs/performance.md. Takes about 6 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from benchmarks.log_stream import (
    LogRun,
    LogStream,
    doubled_row,
    first_run_rows,
    quiet_rows,
    report_exits,
    run_once,
    verdict,
)
from benchmarks.tenant import TenantProcess
from connector.config import load_settings
from connector.graph.client import GraphClient
from connector.graph.throttle import Throttle
from connector.ocsf.authentication import to_event
from connector.ocsf.user_inventory import Product
from connector.streams.sign_ins import SignInCollection
from entrasim import SimulatedGraph, TenantSpec
from entrasim.tenant import Tenant

TARGET_PER_SECOND = 50_000
PAGE = 1000
USERS = 10_000
PER_USER_PER_DAY = 5.5
_PRODUCT = Product(name="Microsoft Entra ID sign-in logs", vendor_name="Microsoft",
                   version="0.1.0")
_TENANT = "00000000-0000-4000-8000-0000000000aa"


def _log(message: str) -> None:
    print(f"[bench sign-ins {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- CPU ---------------------------------------------------------------------------------------

def build_page(seed: int = 7) -> bytes:
    """A 1,000-record sign-in page as Graph sends it, records from the simulator."""
    tenant = Tenant(TenantSpec(seed=seed, users=2000, licence="P2"))
    records = tenant.sign_ins()[:PAGE]
    return orjson.dumps({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns",
        "@odata.nextLink": "https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=1000"
                           "&$skiptoken=9177f2e3532fcd4c4d225f68f7b9bdf7_1",
        "value": records,
    })


def run_page(page: bytes) -> int:
    """The measured work; returns the serialised bytes so nothing is optimised away."""
    dumps = orjson.dumps
    return sum(len(dumps(to_event(r, tenant_id=_TENANT, product=_PRODUCT)))
               for r in orjson.loads(page)["value"])


@dataclass(frozen=True, slots=True)
class CpuResult:
    best: float
    median: float
    wall_median: float
    page_bytes: int


def measure_cpu(rounds: int = 7, pages: int = 10) -> CpuResult:
    page = build_page()
    run_page(page)  # warm-up
    cpu_rates, wall_rates = [], []
    for _ in range(rounds):
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(pages):
            run_page(page)
        cpu_rates.append(PAGE * pages / (time.process_time() - cpu))
        wall_rates.append(PAGE * pages / (time.perf_counter() - wall))
    return CpuResult(max(cpu_rates), statistics.median(cpu_rates),
                     statistics.median(wall_rates), len(page))


# --- runs ---------------------------------------------------------------------------------------

STREAM = LogStream("sign_ins", PAGE, "state.json", TenantProcess.count_sign_ins)


def measure_volume(per_user: float, *, users: int, timeout: float, quiet: bool
                   ) -> list[LogRun]:
    with tempfile.TemporaryDirectory(prefix="bench-sign-ins-") as directory, \
            TenantProcess(users=users, sign_ins_per_user_per_day=per_user) as tenant:
        workdir = Path(directory)
        _log(f"{users:,} users x {per_user} sign-ins a day: first run")
        runs = [run_once(STREAM, tenant, workdir, "first", users=users, timeout=timeout)]
        if quiet:
            _log("quiet incremental run")
            runs.append(run_once(STREAM, tenant, workdir, "quiet", users=users, timeout=timeout))
        return runs


# --- stragglers: the deep re-read's cost -----------------------------------------------------------

SIGN_IN_ROUTE = "GET /auditLogs/signIns"
RUN_EVERY = timedelta(minutes=15)


class _VirtualWaits:
    """The connector's waits (the reporting budget's 10 s window) skipped, not slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class StragglerCost:
    deep_reread_minutes: int
    runs: int
    requests: int
    deep_runs: int
    most_requests: int
    events: int
    most_seen: int
    most_checkpoint_bytes: int

    @property
    def per_run(self) -> float:
        return self.requests / self.runs


async def _one_run(settings: Any, checkpoint: dict[str, Any] | None, moment: float
                   ) -> tuple[dict[str, Any], int, bool]:
    waits = _VirtualWaits()
    throttle = Throttle.create(max_concurrency=int(settings.max_concurrency),
                               deadline_seconds=float(settings.retry_deadline_seconds),
                               clock=waits.clock, sleep=waits.sleep)
    client = GraphClient.from_settings(settings, throttle=throttle)
    try:
        collection = SignInCollection(settings, checkpoint, client, product=_PRODUCT,
                                      clock=lambda: moment)
        last: dict[str, Any] = {}
        events = 0
        async for batch in collection.batches():
            events += len(batch.events)
            last = batch.checkpoint
        return last, events, collection.summary.deep
    finally:
        await client.aclose()


def measure_stragglers(*, users: int, per_user: float, runs: int = 96
                       ) -> list[StragglerCost]:
    """A day of 15-minute runs ending where the simulator's log ends, for the default deep
    re-read and without it; each day starts from a checkpoint at its first instant."""
    spec = TenantSpec(seed=11, users=users, licence="P2", sign_ins_per_user_per_day=per_user)
    out = []
    with SimulatedGraph(spec, latency=0.0, throttling=False) as sim:
        end = sim.tenant.sign_in_now().replace(microsecond=0)
        start = end - runs * RUN_EVERY
        for deep in (60, 0):
            settings = load_settings(sim.connector_config(sign_ins={
                "enabled": True, "lookback_days": 1, "deep_reread_minutes": deep}))
            checkpoint: dict[str, Any] | None = {
                "version": 1, "tenant_id": spec.tenant_id, "cursor": _iso(start),
                "deep_until": _iso(start), "seen": [], "in_progress": None}
            total = most = deep_runs = events = most_seen = most_bytes = 0
            _log(f"stragglers: {runs} runs, deep_reread_minutes={deep}")
            for i in range(1, runs + 1):
                sim.counters.reset()
                moment = (start + i * RUN_EVERY).timestamp()
                checkpoint, delivered, was_deep = asyncio.run(
                    _one_run(settings, checkpoint, moment))
                requests = sim.counters.snapshot().get(SIGN_IN_ROUTE, {}).get("requests", 0)
                total += requests
                most = max(most, requests)
                deep_runs += was_deep
                events += delivered
                most_seen = max(most_seen, len(checkpoint.get("seen") or ()))
                most_bytes = max(most_bytes, len(orjson.dumps(checkpoint)))
            out.append(StragglerCost(deep, runs, total, deep_runs, most, events, most_seen,
                                     most_bytes))
    return out


def _iso(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))


def render_stragglers(costs: Sequence[StragglerCost], users: int, per_user: float) -> str:
    lines = [
        f"| sign-ins, a day of 15-minute runs ({users:,} users x {per_user}: "
        f"{round(users * per_user):,} a day) | Graph requests per run (day average) | "
        "most in one run | largest checkpoint |",
        "| --- | --- | --- | --- |",
    ]
    for c in costs:
        what = (f"deep re-read every {c.deep_reread_minutes} min ({c.deep_runs} of {c.runs} "
                "runs), reaching 150 min behind" if c.deep_reread_minutes
                else "overlap only (60 min), no deep re-read")
        lines.append(f"| {what} | {c.per_run:.2f} ({c.requests} in {c.runs} runs, "
                     f"{c.events:,} events) | {c.most_requests} | {c.most_seen:,} ids, "
                     f"{c.most_checkpoint_bytes / 1e6:.2f} MB |")
    return "\n".join(lines)


# --- report -------------------------------------------------------------------------------------

def render(cpu: CpuResult, runs: Sequence[LogRun], doubled: LogRun | None) -> str:
    first = runs[0]
    lines = [
        "| sign-ins: what | measured | target |",
        "| --- | --- | --- |",
        f"| parse + map + serialise (1,000-record page, {cpu.page_bytes:,} bytes) | "
        f"{cpu.best:,.0f} sign-ins/s per CPU-second (median {cpu.median:,.0f}; wall "
        f"{cpu.wall_median:,.0f}/s) | ≥ {TARGET_PER_SECOND:,}/s: "
        f"{verdict(cpu.best >= TARGET_PER_SECOND)} |",
        *first_run_rows(first, f"one day of a {first.users:,}-user tenant"),
    ]
    if doubled is not None:
        lines.append(doubled_row(first, doubled, holds=False))
    lines.extend(quiet_rows(runs))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sign_ins",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--per-user", type=float, default=PER_USER_PER_DAY,
                        help="sign-ins a user a day (default 5.5: 55,000 a day at 10,000 users)")
    parser.add_argument("--no-double", action="store_true", help="skip the double-volume run")
    parser.add_argument("--cpu-only", action="store_true")
    parser.add_argument("--stragglers", action="store_true",
                        help="only the deep re-read's cost over a day of 15-minute runs")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)

    if args.stragglers:
        costs = measure_stragglers(users=args.users, per_user=args.per_user)
        print(render_stragglers(costs, args.users, args.per_user))
        return 0
    runs: list[LogRun] = []
    doubled: LogRun | None = None
    if not args.cpu_only:
        runs = measure_volume(args.per_user, users=args.users, timeout=args.timeout, quiet=True)
        if not args.no_double:
            doubled = measure_volume(args.per_user * 2, users=args.users, timeout=args.timeout,
                                     quiet=False)[0]
        report_exits([*runs, *([doubled] if doubled else [])])
    # After the runs: the page it builds would otherwise sit in this process while they start.
    _log("CPU: parse + map + serialise")
    cpu = measure_cpu()
    if runs:
        print(render(cpu, runs, doubled))
    else:
        print(f"sign-ins parse + map + serialise: {cpu.best:,.0f}/s per CPU-second (target "
              f"{TARGET_PER_SECOND:,}: {verdict(cpu.best >= TARGET_PER_SECOND)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
