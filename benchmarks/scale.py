"""One tenant size: a full collection and an incremental one through the real CLI.

Each run is its own `python -m connector run` process, waited for with `os.wait4` so its peak
RSS is that process' alone (not the simulator's, not an earlier run's). Graph traffic is read
from the simulator's counters, which see every request and `$batch` item whatever the
connector believes it sent.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.baseline import BaselineResult
from benchmarks.tenant import TenantFacts, TenantProcess
from entrasim import floor_from_counters, throttling_floor_seconds

NEW_USERS = 10
# Routes that are not Graph: the identity platform's.
_IDENTITY_MARK = "{tenant}"


@dataclass(frozen=True, slots=True)
class Traffic:
    """Graph traffic of one run, from the simulator's counters; the identity platform's
    routes (token requests) are kept apart, as they are not Graph requests."""

    by_route: dict[str, dict[str, int]]
    identity: dict[str, dict[str, int]] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(c.get(name, 0) for c in self.by_route.values())

    @property
    def requests(self) -> int:  # HTTP round trips; a `$batch` envelope counts once
        return self.total("requests")

    @property
    def batch_items(self) -> int:
        return self.total("batch_items")

    @property
    def resource_units(self) -> int:
        return self.total("ru")

    @property
    def throttled(self) -> int:
        return self.total("throttled")

    @classmethod
    def of(cls, snapshot: dict[str, dict[str, int]]) -> Traffic:
        graph = {r: c for r, c in snapshot.items() if _IDENTITY_MARK not in r and r != "control"}
        return cls(graph, {r: c for r, c in snapshot.items() if _IDENTITY_MARK in r})


@dataclass(frozen=True, slots=True)
class Run:
    """One connector process."""

    exit_code: int
    wall_seconds: float
    peak_rss_mb: float
    events: int
    traffic: Traffic
    stderr_tail: str
    summary: dict[str, Any] | None = None
    enabled_without_mfa: int = 0  # enabled users whose event lacks `user.has_mfa`
    with_last_sign_in: int = 0  # events carrying a last sign-in time
    first_output_seconds: float | None = None  # until the first event was in the output

    @property
    def throttled_share(self) -> float:
        """429s as a share of the requests Graph saw (HTTP requests + `$batch` items)."""
        seen = self.traffic.requests + self.traffic.batch_items
        return self.traffic.throttled / seen if seen else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class SizeResult:
    facts: TenantFacts
    full: Run
    incremental: Run
    new_users: int
    baseline: BaselineResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def users(self) -> int:
        return self.facts.users

    @property
    def floor_seconds(self) -> float:
        """The floor of the documented limits for the traffic the data strictly needs."""
        n = self.facts.needed
        return throttling_floor_seconds(n.resource_units, n.reporting, self.facts.users,
                                        sign_in_activity=n.sign_in_activity)

    @property
    def floor_as_made_seconds(self) -> float:
        """The floor of the documented limits for the traffic the connector actually made
        (every bucket: RU, reports, signInActivity, Identity Protection)."""
        return floor_from_counters(self.full.traffic.by_route, self.facts.users)


@functools.cache
def _cli_supports(flag: str) -> bool:
    help_text = subprocess.run(
        [sys.executable, "-m", "connector", "run", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return flag in help_text.stdout


def run_connector(
    config: Path, state: Path, output: Path, *, timeout: float, run_args: tuple[str, ...] = ()
) -> tuple[int, float, float, str, dict[str, Any] | None]:
    """(exit code, wall s, peak RSS MB, stderr tail, summary JSON) of one `connector run`."""
    summary_path = output.with_suffix(".summary.json")
    command = [
        sys.executable,
        "-m",
        "connector",
        "run",
        "--config",
        str(config),
        "--state",
        str(state),
        "--output",
        str(output),
        *run_args,
    ]
    if _cli_supports("--summary-json"):
        command += ["--summary-json", str(summary_path)]
    stderr_path = output.with_suffix(".stderr")
    with stderr_path.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        watcher = HighWater(proc.pid)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
            watcher.stop()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    tail = "\n".join(stderr_path.read_text(errors="replace").splitlines()[-15:])
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    return proc.returncode, wall, watcher.peak_mb or usage.ru_maxrss / 1024, tail, summary


class HighWater:
    """The child's own peak RSS, from /proc/PID/status `VmHWM`, sampled until it exits.

    `ru_maxrss` from `wait4` is not enough on Linux: a child started by fork (or vfork) keeps
    the parent's high-water mark across exec, so a benchmark that holds 300 MB reports 300 MB
    for any child. `VmHWM` belongs to the memory map exec created. A peak reached in the last
    sampling interval before exit can be missed; the figure is a lower bound within that.
    """

    INTERVAL = 0.05

    def __init__(self, pid: int) -> None:
        self.path = Path(f"/proc/{pid}/status")
        self.peak_mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                text = self.path.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):  # monotonic within one memory map: keep the last
                    self.peak_mb = int(line.split()[1]) / 1024
            self._done.wait(self.INTERVAL)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=1)


class OutputWatch:
    """When the first byte reached `output` (`time.perf_counter()`): the time until the first
    user is in the output, where the wall time is the time until every user is."""

    INTERVAL = 0.1

    def __init__(self, output: Path) -> None:
        self.output = output
        self.first_at: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> OutputWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._done.is_set():
            try:
                if self.output.stat().st_size > 0:
                    self.first_at = time.perf_counter()
                    return
            except OSError:
                pass
            self._done.wait(self.INTERVAL)


def _count_events(output: Path) -> int:
    if not output.exists():
        return 0
    with output.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _coverage(output: Path) -> tuple[int, int]:
    """(enabled users without MFA, users with a last sign-in) in an inventory's output."""
    without_mfa = with_sign_in = 0
    if not output.exists():
        return 0, 0
    with output.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            user = orjson.loads(line).get("user") or {}
            if not (user.get("account") or {}).get("is_disabled") and "has_mfa" not in user:
                without_mfa += 1
            if "last_login_time" in (user.get("ldap_person") or {}):
                with_sign_in += 1
    return without_mfa, with_sign_in


def collect(tenant: TenantProcess, workdir: Path, name: str, *, timeout: float) -> Run:
    """One run against the tenant, with fresh counters and throttling windows."""
    assert tenant.facts is not None
    config = workdir / "config.json"
    if not config.exists():
        config.write_text(json.dumps(tenant.facts.config))
        config.chmod(0o600)
    output = workdir / f"{name}.ndjson"
    tenant.reset_counters()
    with OutputWatch(output) as watch:
        code, wall, rss, tail, summary = run_connector(
            config, workdir / "state.json", output, timeout=timeout
        )
        started = time.perf_counter() - wall  # when the connector process started
    without_mfa, with_sign_in = _coverage(output)
    return Run(
        exit_code=code,
        wall_seconds=wall,
        peak_rss_mb=rss,
        enabled_without_mfa=without_mfa,
        with_last_sign_in=with_sign_in,
        events=_count_events(output),
        traffic=Traffic.of(tenant.counters()),
        stderr_tail=tail,
        summary=summary,
        first_output_seconds=None if watch.first_at is None else watch.first_at - started,
    )


def measure(tenant: TenantProcess, workdir: Path, *, timeout: float) -> SizeResult:
    """Full run, then `NEW_USERS` new users, then an incremental run on the same state file."""
    assert tenant.facts is not None
    full = collect(tenant, workdir, "full", timeout=timeout)
    notes = []
    if full.exit_code != 0:
        notes.append(f"full run exited {full.exit_code}:\n{full.stderr_tail}")
    tenant.add_users(NEW_USERS)
    incremental = collect(tenant, workdir, "incremental", timeout=timeout)
    if incremental.exit_code != 0:
        notes.append(f"incremental run exited {incremental.exit_code}:\n{incremental.stderr_tail}")
    return SizeResult(
        facts=tenant.facts, full=full, incremental=incremental, new_users=NEW_USERS, notes=notes
    )
