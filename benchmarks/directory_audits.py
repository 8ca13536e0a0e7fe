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
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from benchmarks.log_stream import (
    LogRun,
    LogStream,
    doubled_row,
    first_run_rows,
    quiet_rows,
    report_exits,
    run_once,
)
from benchmarks.tenant import TenantProcess
from connector.ocsf.directory_audit import to_event
from connector.ocsf.user_inventory import Product
from entrasim import TenantSpec
from entrasim.audit import record_json
from entrasim.tenant import Tenant

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

LOG_STREAM = LogStream(STREAM, PAGE, "state.db", TenantProcess.count_audits)


def measure_volume(records: int, *, users: int, timeout: float, quiet: bool) -> list[LogRun]:
    with tempfile.TemporaryDirectory(prefix="bench-audits-") as directory, \
            TenantProcess(users=users) as tenant:
        workdir = Path(directory)
        tenant.audit_history(records, seed=1)
        _log(f"{users:,} users, {records:,} audit records in the last day: first run")
        runs = [run_once(LOG_STREAM, tenant, workdir, "first", users=users, timeout=timeout)]
        if quiet:
            _log("quiet incremental run")
            runs.append(run_once(LOG_STREAM, tenant, workdir, "quiet", users=users,
                                 timeout=timeout))
        return runs


def render(runs: Sequence[LogRun], doubled: LogRun | None,
           cpu: tuple[float, float] | None) -> str:
    first = runs[0]
    lines = [
        "| directory audits: what | measured | target |",
        "| --- | --- | --- |",
        *first_run_rows(first, f"one day of a {first.users:,}-user tenant's audit log"),
    ]
    if doubled is not None:
        lines.append(doubled_row(first, doubled, holds=True))
    lines.extend(quiet_rows(runs))
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
    report_exits([*runs, *([doubled] if doubled else [])])
    cpu = None if args.no_cpu else measure_cpu()
    print(render(runs, doubled, cpu))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
