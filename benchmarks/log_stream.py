"""What the log-stream benchmarks (`benchmarks.sign_ins`, `benchmarks.directory_audits`) share:
one run of a stream through `python -m connector run --stream` in its own process against a
simulated tenant in another, its figures against the reporting budget's floor, and the report
rows both print alike. Each benchmark keeps its own tenant, volumes and CPU measure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks.scale import Traffic, run_connector
from benchmarks.tenant import TenantProcess
from connector.graph.dates import parse_graph_datetime
from connector.state import StateStore
from entrasim import throttling_floor_seconds

TARGET_FLOOR_RATIO = 1.25
TARGET_RSS_MB = 150.0
TARGET_QUIET_REQUESTS = 3


@dataclass(frozen=True, slots=True)
class LogStream:
    """A log stream as its benchmark runs it: a day's look-back, `page` records a Graph page,
    `visible(tenant, since, until)` the records Graph holds in `[since, until]`."""

    name: str
    page: int
    state_file: str
    visible: Callable[[TenantProcess, datetime, datetime], int]


@dataclass(frozen=True, slots=True)
class LogRun:
    name: str
    exit_code: int
    wall_seconds: float
    peak_rss_mb: float
    events: int
    expected: int
    traffic: Traffic
    users: int
    stderr_tail: str
    page: int

    @property
    def pages_needed(self) -> int:
        return max(1, math.ceil(self.expected / self.page))

    @property
    def floor_seconds(self) -> float:
        return throttling_floor_seconds(0, self.pages_needed, self.users)

    @property
    def ratio(self) -> float:
        return self.wall_seconds / self.floor_seconds if self.floor_seconds else float("inf")


def _config(stream: LogStream, tenant: TenantProcess, workdir: Path) -> Path:
    assert tenant.facts is not None
    path = workdir / "config.json"
    config = {**tenant.facts.config, stream.name: {"enabled": True, "lookback_days": 1}}
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def _events(output: Path) -> int:
    if not output.exists():
        return 0
    with output.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def run_once(stream: LogStream, tenant: TenantProcess, workdir: Path, name: str, *, users: int,
             timeout: float) -> LogRun:
    """One run with the state left by the previous one in `workdir`; `expected` is what Graph
    holds since that run's cursor (a first run: the day)."""
    config = _config(stream, tenant, workdir)
    state = workdir / stream.state_file
    output = workdir / f"{name}.ndjson"
    tenant.reset_counters()
    before = StateStore(state).load(stream.name)
    code, wall, rss, tail, _ = run_connector(config, state, output, timeout=timeout,
                                             run_args=("--stream", stream.name))
    after = StateStore(state).load(stream.name) or {}
    until = parse_graph_datetime(after.get("cursor"))
    expected = 0
    if until is not None:
        previous = parse_graph_datetime((before or {}).get("cursor"))
        since = until - timedelta(days=1) if previous is None else previous + timedelta(seconds=1)
        expected = stream.visible(tenant, since, until) if since <= until else 0
    return LogRun(name, code, wall, rss, _events(output), expected,
                  Traffic.of(tenant.counters()), users, tail, stream.page)


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def first_run_rows(first: LogRun, what: str) -> list[str]:
    """The first run against the floor, then its peak RSS; `what` names what it read."""
    return [
        f"| first run, {what} | {first.events:,} events "
        f"(Graph holds {first.expected:,}) in {first.wall_seconds:.1f} s; "
        f"{first.traffic.requests} Graph requests, {first.traffic.throttled} throttled; floor "
        f"for {first.pages_needed} pages {first.floor_seconds:.0f} s; ratio "
        f"{first.ratio:.2f} | ≤ {TARGET_FLOOR_RATIO} x floor: "
        f"{verdict(first.ratio <= TARGET_FLOOR_RATIO and first.events == first.expected)} |",
        f"| peak RSS, first run | {first.peak_rss_mb:.0f} MB | ≤ {TARGET_RSS_MB:.0f} MB: "
        f"{verdict(first.peak_rss_mb <= TARGET_RSS_MB)} |",
    ]


def doubled_row(first: LogRun, doubled: LogRun, *, holds: bool) -> str:
    """Peak RSS at twice the volume, which must stay flat (`holds`: say what Graph held)."""
    growth = doubled.peak_rss_mb - first.peak_rss_mb
    held = f", Graph holds {doubled.expected:,}" if holds else ""
    return (f"| peak RSS, twice the volume ({doubled.events:,} events{held}, "
            f"{doubled.wall_seconds:.0f} s, ratio {doubled.ratio:.2f}) | "
            f"{doubled.peak_rss_mb:.0f} MB ({growth:+.0f} MB) | flat: "
            f"{verdict(abs(growth) <= 10)} |")


def quiet_rows(runs: Sequence[LogRun]) -> list[str]:
    """The quiet incremental run's requests, when there was one (the second run)."""
    if len(runs) < 2:
        return []
    quiet = runs[1]
    return [f"| quiet incremental run (nothing new) | {quiet.traffic.requests} Graph requests, "
            f"{quiet.events} events, {quiet.wall_seconds:.1f} s | ≤ {TARGET_QUIET_REQUESTS}: "
            f"{verdict(quiet.traffic.requests <= TARGET_QUIET_REQUESTS)} |"]


def report_exits(runs: Sequence[LogRun]) -> None:
    for run in runs:
        if run.exit_code != 0:
            print(f"{run.name} run exited {run.exit_code}:\n{run.stderr_tail}")
