"""`python -m benchmarks`: tenant-scale collection measured against Graph's throttling floor.

For each size: start a simulated P2 tenant in its own process (50 ms per request, Graph's
published throttling budgets), run a full collection and then, after adding 10 users, an
incremental one through the real CLI, and time a per-user baseline on a sample of the same
tenant. Then the CPU micro-benchmark. Prints one Markdown report; `--write-doc` also puts it in
docs/performance.md. Not part of the test suite: the default sizes take about 20 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.baseline import run_baseline
from benchmarks.report import Cpu, render, write_doc
from benchmarks.scale import SizeResult, measure
from benchmarks.tenant import TenantProcess

LATENCY_SECONDS = 0.05
QUICK_SIZES = (1_000,)
QUICK_BASELINE_USERS = 30


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _sizes(text: str) -> list[int]:
    sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes are positive integers, comma-separated")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=[10_000, 100_000],
        help="tenant sizes in users (default 10000,100000)",
    )
    parser.add_argument(
        "--baseline-users",
        type=int,
        default=300,
        help="users sampled for the per-user baseline (0: skip; default 300)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_SIZES[0]:,} users, {QUICK_BASELINE_USERS}-user baseline",
    )
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds allowed per connector run"
    )
    parser.add_argument(
        "--write-doc",
        type=Path,
        metavar="PATH",
        help="also write the report into PATH's generated section (docs/performance.md)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.baseline_users = (
            list(QUICK_SIZES),
            min(args.baseline_users, QUICK_BASELINE_USERS),
        )
    return args


def run_cpu() -> Cpu | None:
    """`python -m benchmarks.bench_cpu`, when that module exists; its output is quoted as is."""
    if not (Path(__file__).parent / "bench_cpu.py").exists():
        return None
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_cpu"], capture_output=True, text=True, check=False
    )
    text = done.stdout.strip() or done.stderr.strip() or f"no output (exit {done.returncode})"
    found = re.search(r"median\s+([\d,]+) users/s", text)
    return Cpu(
        text=text, users_per_second=float(found.group(1).replace(",", "")) if found else None
    )


def run_size(users: int, baseline_users: int, timeout: float) -> SizeResult:
    _log(f"{users:,} users: generating the tenant")
    with (
        TenantProcess(users=users, latency=LATENCY_SECONDS, throttling=True) as tenant,
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
    ):
        assert tenant.facts is not None
        _log(f"{users:,} users: serving at {tenant.facts.url}; full then incremental collection")
        result = measure(tenant, Path(tmp), timeout=timeout)
        _log(
            f"{users:,} users: full run {result.full.wall_seconds:.1f} s, "
            f"{result.full.traffic.requests} requests, {result.full.events:,} events"
        )
        if baseline_users > 0:
            _log(f"{users:,} users: per-user baseline on {baseline_users} users")
            tenant.reset_counters()
            result = dataclasses.replace(
                result, baseline=run_baseline(tenant.facts, baseline_users)
            )
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m benchmarks " + shlex.join(argv if argv is not None else sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = [run_size(n, args.baseline_users, args.timeout) for n in args.sizes]
    _log("CPU micro-benchmark")
    cpu = run_cpu()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    report = render(results, cpu, command=command.strip(), when=started, machine=machine)
    print(report)
    if args.write_doc:
        write_doc(args.write_doc, report)
        _log(f"wrote {args.write_doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
