"""`python -m benchmarks.sekoia`: the Sekoia.io module against the SDK's own cycle, in figures.

Both run through sekoia-automation-sdk (`main.py` subprocesses), against a simulated tenant and
the local Sekoia.io of tests/sekoia/platform.py: the module (integrations/sekoia) and a minimal
module on the SDK's own `asset_fetch_cycle` (tests/sekoia/naive_module.py). Three situations:
a first collection of `--users` users; an outage (every push answered 503 for `--outage`
seconds, then accepted); one push refused with a 500. Prints one Markdown table. Needs the
`sekoia` extra; not part of the test suite.

`--task-api` runs instead the slow-task-API comparison (issue 19): the module's first cycle of
`--users` users (10,000 for the issue's figure) through a platform whose every ingestion task
answers RUNNING for `--task-seconds` (60) after its push, against the same cycle with tasks that
finish at once; the target is slow <= 1.25 x (immediate + task seconds). Real time, no time
dilation; the task poll interval is the SDK's default (5 s), as on the platform.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from entrasim import SimulatedGraph, TenantSpec
from entrasim.server import TOKEN_ROUTE
from tests.sekoia.naive_module import naive_module
from tests.sekoia.platform import MODULE_DIR, FakeSekoia, module_environment


@dataclass
class Row:
    situation: str
    runtime: str
    delivered: str
    pushes: int
    graph_requests: int
    token_requests: int
    seconds: float
    stop_seconds: float | None


def _tokens(sim: SimulatedGraph) -> int:
    return int(sim.counters.snapshot().get(TOKEN_ROUTE, {}).get("requests", 0))


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _start(folder: Path, platform: FakeSekoia, sim: SimulatedGraph, work: Path,
           batch_size: int, extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    config: dict[str, Any] = sim.connector_config()
    platform.secrets = {"client_secret": config.pop("client_secret")}
    data = Path(tempfile.mkdtemp(dir=work))
    env = module_environment(platform, config, data, frequency=3600, batch_size=batch_size,
                             extra=extra)
    return subprocess.Popen([sys.executable, "main.py", "entra_id_users_asset_connector"],
                            cwd=folder, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen[bytes]) -> float | None:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    return time.monotonic() - started


def _run(situation: str, runtime: str, folder: Path, work: Path, users: int,
         script: list[Any], watch: float, batch_size: int = 100) -> Row:
    with SimulatedGraph(TenantSpec(users=users, licence="P2")) as sim, FakeSekoia() as platform:
        platform.script.extend(script)
        started = time.monotonic()
        process = _start(folder, platform, sim, work, batch_size)
        _wait(lambda: bool(platform.pushes), 120)
        if watch:
            time.sleep(watch)
            platform.script.clear()
        everyone = {u.id for u in sim.tenant.users()}
        _wait(lambda: {i["user"]["uid"] for i in platform.delivered()} >= everyone, 60)
        seconds = time.monotonic() - started
        time.sleep(1)
        delivered = len({i["user"]["uid"] for i in platform.delivered()})
        row = Row(situation, runtime, f"{delivered} / {users}", len(platform.pushes),
                  sim.counters.totals()["requests"] - _tokens(sim), _tokens(sim), seconds,
                  _stop(process))
    return row


def _task_api_cycle(work: Path, users: int, task_seconds: float) -> tuple[float, int]:
    """Seconds from start until every user's task FINISHED (and was seen so), and pushes."""
    with SimulatedGraph(TenantSpec(users=users, licence="P2")) as sim, FakeSekoia() as platform:
        platform.task_seconds = task_seconds
        everyone = {u.id for u in sim.tenant.users()}
        started = time.monotonic()
        process = _start(MODULE_DIR, platform, sim, work, 100,
                         {"ASSET_CONNECTOR_TASK_POLL_INTERVAL": "5"})
        done = _wait(lambda: {i["user"]["uid"] for i in platform.delivered()} >= everyone,
                     task_seconds + 900)
        seconds = time.monotonic() - started
        pushes = len(platform.pushes)
        _stop(process)
    if not done:
        raise SystemExit(f"not every user was acknowledged within {seconds:.0f} s")
    return seconds, pushes


def task_api(users: int, task_seconds: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        immediate, quick_pushes = _task_api_cycle(work, users, 0.0)
        slow, slow_pushes = _task_api_cycle(work, users, task_seconds)
    target = immediate + task_seconds
    print(f"| first cycle, {users} users | task API | pushes | seconds until all acknowledged |")
    print("| --- | --- | --- | --- |")
    print(f"| | immediate | {quick_pushes} | {immediate:.1f} |")
    print(f"| | RUNNING {task_seconds:g} s per task | {slow_pushes} | {slow:.1f} |")
    print(f"\nslow / (immediate + {task_seconds:g} s) = {slow:.1f} / {target:.1f} = "
          f"{slow / target:.2f} (target <= 1.25)")
    return 0 if slow <= 1.25 * target else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sekoia", description=__doc__)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--outage", type=float, default=5.0)
    parser.add_argument("--task-api", action="store_true",
                        help="only the slow-task-API comparison (see the module docstring)")
    parser.add_argument("--task-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.task_api:
        return task_api(args.users, args.task_seconds)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        runtimes = {"module": MODULE_DIR, "SDK cycle": naive_module(work)}
        for name, folder in runtimes.items():
            rows.append(_run(f"first collection, {args.users} users", name, folder, work,
                             args.users, [], 0))
            rows.append(_run(f"503 for {args.outage:g} s, then accepted (200 users)", name,
                             folder, work, 200, [503] * 100_000, args.outage))
            rows.append(_run("2nd of 3 pushes refused with a 500 (250 users)", name, folder,
                             work, 250, ["ok", 500], 0))
    print("| situation | runtime | users delivered | pushes | Graph requests | token requests "
          "| seconds to deliver | SIGTERM to exit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in sorted(rows, key=lambda r: (r.situation, r.runtime)):
        stop = f"{r.stop_seconds:.1f} s" if r.stop_seconds is not None else "> 10 s (killed)"
        print(f"| {r.situation} | {r.runtime} | {r.delivered} | {r.pushes} | "
              f"{r.graph_requests} | {r.token_requests} | {r.seconds:.1f} | {stop} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
