"""`python -m benchmarks.directory_audits`: the directory audit stream against its targets
(issue 16).

- **First run**: one day of a 10,000-user tenant's audit log (20,000 records by default:
  background activity of every kind the simulator writes, 2% failed, some initiated by
  applications) through `python -m connector run --stream directory_audits` in its own process,
  against the simulated tenant in another process (50 ms per request, Graph's throttling on:
  5 reporting requests per 10 s, which every `/auditLogs` request counts against). Wall time
  against the reporting-budget floor for the pages the data needs (`ceil(records / 999)`),
  peak RSS of the connector process.
- **Quiet run**: the same state file again at once, nothing new: its Graph requests.
- **Double volume**: a fresh tenant with twice the records, first run: peak RSS must stay flat.
- **CPU**: parse a 999-record page with orjson, map every record with
  `connector.ocsf.directory_audit.to_event`, serialise; one thread, best round (no target).

Prints the figures as Markdown rows for docs/performance.md. Takes about 4 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from benchmarks.scale import Traffic, run_connector
from benchmarks.tenant import TenantProcess
from connector.graph.dates import parse_graph_datetime
from connector.ocsf.directory_audit import to_event
from connector.ocsf.user_inventory import Product
from connector.state import StateStore
from entrasim import TenantSpec, throttling_floor_seconds
from entrasim.audit import record_json
from entrasim.tenant import Tenant

TARGET_FLOOR_RATIO = 1.25
TARGET_RSS_MB = 150.0
TARGET_QUIET_REQUESTS = 3
PAGE = 999
USERS = 10_000
RECORDS = 20_000
STREAM = "directory_audits"
_PRODUCT = Product(name="Microsoft Entra ID directory audits", vendor_name="Microsoft",
                   version="0.1.0")
_TENANT = "00000000-0000-4000-8000-0000000000aa"


def _log(message: str) -> None:
    print(f"[bench audits {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- CPU ---------------------------------------------------------------------------------------

def build_page(seed: int = 7) -> bytes:
    """A 999-record audit page as Graph sends it, records from the simulator's history."""
    tenant = Tenant(TenantSpec(seed=seed, users=2000, licence="P2"))
    now = datetime.now(UTC)
    tenant.add_audit_history(PAGE, since=now - timedelta(days=1), until=now, seed=seed)
    return orjson.dumps({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#auditLogs/directoryAudits",
        "value": [record_json(r) for r in tenant.audit.records[:PAGE]],
    })


def run_page(page: bytes) -> int:
    dumps = orjson.dumps
    return sum(len(dumps(to_event(r, tenant_id=_TENANT, product=_PRODUCT)))
               for r in orjson.loads(page)["value"])


def measure_cpu(rounds: int = 5, pages: int = 5) -> tuple[float, float]:
    """(best, median) records per CPU-second."""
    page = build_page()
    run_page(page)
    rates = []
    for _ in range(rounds):
        cpu = time.process_time()
        for _ in range(pages):
            run_page(page)
        rates.append(PAGE * pages / (time.process_time() - cpu))
    return max(rates), statistics.median(rates)


# --- runs ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AuditRun:
    name: str
    exit_code: int
    wall_seconds: float
    peak_rss_mb: float
    events: int
    expected: int
    traffic: Traffic
    users: int
    stderr_tail: str

    @property
    def pages_needed(self) -> int:
        return max(1, math.ceil(self.expected / PAGE))

    @property
    def floor_seconds(self) -> float:
        return throttling_floor_seconds(0, self.pages_needed, self.users)

    @property
    def ratio(self) -> float:
        return self.wall_seconds / self.floor_seconds if self.floor_seconds else float("inf")


def _config(tenant: TenantProcess, workdir: Path) -> Path:
    assert tenant.facts is not None
    path = workdir / "config.json"
    config = {**tenant.facts.config, STREAM: {"enabled": True, "lookback_days": 1}}
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def _events(output: Path) -> int:
    if not output.exists():
        return 0
    with output.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def run_once(tenant: TenantProcess, workdir: Path, name: str, *, users: int,
             timeout: float) -> AuditRun:
    config = _config(tenant, workdir)
    state = workdir / "state.db"
    output = workdir / f"{name}.ndjson"
    tenant.reset_counters()
    before = StateStore(state).load(STREAM)
    code, wall, rss, tail, _ = run_connector(config, state, output, timeout=timeout,
                                             run_args=("--stream", STREAM))
    after = StateStore(state).load(STREAM) or {}
    until = parse_graph_datetime(after.get("cursor"))
    expected = 0
    if until is not None:
        previous = parse_graph_datetime((before or {}).get("cursor"))
        since = until - timedelta(days=1) if previous is None else previous + timedelta(seconds=1)
        expected = tenant.count_audits(since, until) if since <= until else 0
    return AuditRun(name, code, wall, rss, _events(output), expected,
                    Traffic.of(tenant.counters()), users, tail)


def measure_volume(records: int, *, users: int, timeout: float, quiet: bool) -> list[AuditRun]:
    with tempfile.TemporaryDirectory(prefix="bench-audits-") as directory, \
            TenantProcess(users=users) as tenant:
        workdir = Path(directory)
        tenant.audit_history(records, seed=1)
        _log(f"{users:,} users, {records:,} audit records in the last day: first run")
        runs = [run_once(tenant, workdir, "first", users=users, timeout=timeout)]
        if quiet:
            _log("quiet incremental run")
            runs.append(run_once(tenant, workdir, "quiet", users=users, timeout=timeout))
        return runs


def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def render(runs: Sequence[AuditRun], doubled: AuditRun | None,
           cpu: tuple[float, float] | None) -> str:
    first = runs[0]
    lines = [
        "| directory audits: what | measured | target |",
        "| --- | --- | --- |",
        f"| first run, one day of a {first.users:,}-user tenant's audit log | {first.events:,} "
        f"events (Graph holds {first.expected:,}) in {first.wall_seconds:.1f} s; "
        f"{first.traffic.requests} Graph requests, {first.traffic.throttled} throttled; floor "
        f"for {first.pages_needed} pages {first.floor_seconds:.0f} s; ratio {first.ratio:.2f} | "
        f"≤ {TARGET_FLOOR_RATIO} x floor: "
        f"{_verdict(first.ratio <= TARGET_FLOOR_RATIO and first.events == first.expected)} |",
        f"| peak RSS, first run | {first.peak_rss_mb:.0f} MB | ≤ {TARGET_RSS_MB:.0f} MB: "
        f"{_verdict(first.peak_rss_mb <= TARGET_RSS_MB)} |",
    ]
    if doubled is not None:
        growth = doubled.peak_rss_mb - first.peak_rss_mb
        lines.append(
            f"| peak RSS, twice the volume ({doubled.events:,} events, Graph holds "
            f"{doubled.expected:,}, {doubled.wall_seconds:.0f} s, ratio {doubled.ratio:.2f}) | "
            f"{doubled.peak_rss_mb:.0f} MB ({growth:+.0f} MB) | flat: "
            f"{_verdict(abs(growth) <= 10)} |")
    if len(runs) > 1:
        quiet = runs[1]
        lines.append(
            f"| quiet incremental run (nothing new) | {quiet.traffic.requests} Graph requests, "
            f"{quiet.events} events, {quiet.wall_seconds:.1f} s | ≤ {TARGET_QUIET_REQUESTS}: "
            f"{_verdict(quiet.traffic.requests <= TARGET_QUIET_REQUESTS)} |")
    if cpu is not None:
        lines.append(f"| parse + map + serialise (999-record page) | {cpu[0]:,.0f} records/s "
                     f"per CPU-second (median {cpu[1]:,.0f}) | (none) |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.directory_audits",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--records", type=int, default=RECORDS,
                        help="audit records in the day (default 20,000)")
    parser.add_argument("--no-double", action="store_true", help="skip the double-volume run")
    parser.add_argument("--no-cpu", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)

    runs = measure_volume(args.records, users=args.users, timeout=args.timeout, quiet=True)
    doubled = None if args.no_double else measure_volume(
        args.records * 2, users=args.users, timeout=args.timeout, quiet=False)[0]
    for run in [*runs, *([doubled] if doubled else [])]:
        if run.exit_code != 0:
            print(f"{run.name} run exited {run.exit_code}:\n{run.stderr_tail}")
    cpu = None if args.no_cpu else measure_cpu()
    print(render(runs, doubled, cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
