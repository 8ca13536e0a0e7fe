"""`python -m benchmarks.workloads --users 100000 --service-principals 5000`: the workload
identities stream through the CLI against a simulated tenant in its own process (50 ms per
request, Graph's throttling budgets): a full run, then a refresh after `--changes` changes of
every kind. Prints a Markdown table: wall time, Graph requests (a `$batch` envelope once, its
items apart), resource units, reporting requests, the throttling floor of the traffic (Graph's
budgets, `entrasim.floor_from_counters`) and the latency-bound least time (the longest chain of
requests that must follow one another: page after page of one listing), peak RSS, and whether
every event matched the simulator's truth.

Each run is a `python -m connector run --stream workload_identities` process; its peak RSS is
its own (`/proc/PID/status` VmHWM, as `benchmarks.scale`).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from benchmarks.scale import Traffic, run_connector
from entrasim import floor_from_counters, throttling_floor_seconds

LATENCY_SECONDS = 0.05
PAGE = 999


def _apply_changes(w: Any, tenant: Any, count: int) -> int:
    """`count` changes cycling through every kind the stream tracks; returns the SPs touched."""
    lob = [s for s in w.service_principals() if s.kind == "lob" and s.app is not None]
    saas = [s for s in w.service_principals() if s.kind == "saas"]
    users, groups = tenant.users(), tenant.groups()
    touched: set[str] = set()
    for i in range(count):
        kind = i % 10
        lob = [s for s in lob if s.deleted is None]
        sp = lob[i % len(lob)] if kind in (0, 1, 2, 3, 7, 8, 9) else saas[i % len(saas)]
        if kind == 0:
            w.add_credential(sp.id, "password")
        elif kind == 1:
            w.add_credential(sp.id, "certificate")
        elif kind == 2:
            w.grant_permission(sp.id, "Mail.ReadWrite")
        elif kind == 3:
            w.consent(sp.id, "User.Read Mail.Read")
        elif kind == 4:
            w.consent(sp.id, "Files.ReadWrite.All", user_id=users[i].id)
        elif kind == 5:
            w.assign(sp.id, users[i + 7].id)
        elif kind == 6:
            w.assign(sp.id, groups[i % len(groups)].id)
        elif kind == 7:
            w.add_owner(sp.id, users[i + 3].id, on_app=True)
        elif kind == 8:
            w.disable(sp.id)
        else:
            w.delete(sp.id)
        touched.add(sp.id)
    return len(touched)


def _problems(w: Any, path: str) -> list[str]:
    """Events whose identity, credentials, permissions or roster disagree with the truth."""
    import orjson

    truth = w.truth(include_deleted=True)
    latest: dict[str, Any] = {}
    with open(path, "rb") as handle:
        for line in handle:
            event = orjson.loads(line)
            latest[event["user"]["uid"]] = event
    out: list[str] = []
    for uid, event in latest.items():
        t = truth.get(uid)
        if t is None:
            out.append(f"{uid}: not in the tenant")
            continue
        data = {e["name"]: e["data"] for e in event.get("enrichments", ())}
        if t.deleted:
            if not data.get("workload", {}).get("is_deleted"):
                out.append(f"{uid}: deleted but not marked")
            continue
        creds = {i["uid"] for i in data.get("credentials", {}).get("items", ())}
        perms = {(p.get("resource"), p.get("permission")) for p in data.get("app_permissions", {}).get("items", ())}
        sso = data.get("sso", {})
        if creds != set(t.credentials) or perms != t.app_permissions or \
                (sso.get("users"), sso.get("groups")) != (t.roster_users, t.roster_groups):
            out.append(f"{uid}: differs from the truth")
    return out


def _serve(conn: Connection, users: int, sps: int, latency: float) -> None:
    from entrasim import DEFAULT_PERMISSIONS, SimulatedGraph, TenantSpec

    spec = TenantSpec(seed=1, users=users, licence="P2", service_principals=sps,
                      permissions=DEFAULT_PERMISSIONS | {"Directory.Read.All"})
    with SimulatedGraph(spec, latency=latency, throttling=True) as sim:
        w = sim.tenant.workloads
        from benchmarks.tenant import _needed

        listed = sim.tenant.users()
        needed = _needed(len(listed), sum(1 for u in listed if u.enabled),
                         [len(g.members) + len(g.member_groups) for g in sim.tenant.groups()])
        conn.send((sim.connector_config(workload_identities={"enabled": True}), len(w.truth()), needed))
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
                conn.send(_apply_changes(w, sim.tenant, int(arg)))
            elif command == "problems":
                conn.send(_problems(w, str(arg)))
            elif command == "truth":
                conn.send(len(w.truth()))


@dataclass(frozen=True, slots=True)
class Measured:
    name: str
    wall: float
    traffic: Traffic
    floor: float
    chain: float
    rss: float
    events: int
    problems: int


def _call(conn: Connection, command: str, arg: object = None) -> Any:
    conn.send((command, arg))
    return conn.recv()


def _run(conn: Connection, config: Path, state: Path, out: Path, users: int, name: str,
         chain_requests: int) -> Measured:
    _call(conn, "reset")
    code, wall, rss, tail, _ = run_connector(config, state, out, timeout=3600,
                                             run_args=("--stream", "workload_identities"))
    if code != 0:
        raise RuntimeError(f"{name} run failed ({code}):\n{tail}")
    snapshot = _call(conn, "counters")
    traffic = Traffic.of(snapshot)
    events = sum(1 for _ in out.open("rb")) if out.exists() else 0
    problems = _call(conn, "problems", str(out)) if events else []
    return Measured(name, wall, traffic, floor_from_counters(traffic.by_route, users),
                    chain_requests * LATENCY_SECONDS, rss, events, len(problems))


def _combined(conn: Connection, config: Path, work: Path, users: int, needed: Any,
              alone: Measured) -> Measured:
    """Users and workload identities in one full run (`--stream all`), against the floor of
    what both need: the users' bulk traffic (`benchmarks.tenant`) plus the workload stream's own
    full-run traffic."""
    _call(conn, "reset")
    out = work / "combined.ndjson"
    code, wall, rss, tail, _ = run_connector(config, work / "combined.db", out, timeout=7200,
                                             run_args=("--full",))
    if code != 0:
        raise RuntimeError(f"combined run failed ({code}):\n{tail}")
    traffic = Traffic.of(_call(conn, "counters"))
    t = alone.traffic
    floor = throttling_floor_seconds(needed.resource_units + t.resource_units,
                                     needed.reporting + t.total("reporting"), users,
                                     getattr(needed, "sign_in_activity", 0))
    events = sum(1 for _ in out.open("rb"))
    return Measured("users + workload identities, full (--stream all)", wall, traffic, floor, 0.0, rss,
                    events, 0)


def measure(users: int, sps: int, changes: int, *, with_users: bool = False) -> list[Measured]:
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, users, sps, LATENCY_SECONDS), daemon=True)
    process.start()
    child.close()
    try:
        settings, count, needed = conn.recv()
        with tempfile.TemporaryDirectory(prefix="bench-workloads-") as tmp:
            work = Path(tmp)
            config = work / "config.json"
            config.write_text(json.dumps(settings))
            config.chmod(0o600)
            state = work / "state.db"
            # token, latest links, then the longest listing: pages of 999, then a $batch round
            chain = 1 + 1 + math.ceil(count / PAGE) + 2
            full = _run(conn, config, state, work / "full.ndjson", users, "full", chain)
            _call(conn, "changes", changes)
            refresh = _run(conn, config, state, work / "refresh.ndjson", users,
                           f"refresh after {changes} changes", 5)
            if not with_users:
                return [full, refresh]
            combined = _combined(conn, config, work, users, needed, full)
            return [full, refresh, combined]
    finally:
        _call(conn, "stop")
        process.join(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workloads", description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--service-principals", type=int, default=5_000)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--with-users", action="store_true",
                        help="also one full run of the user inventory and the workload identities "
                             "together, against the floor of what both need (minutes at 100,000)")
    args = parser.parse_args(argv)
    rows = measure(args.users, args.service_principals, args.changes, with_users=args.with_users)
    print(f"Tenant: {args.users:,} users, {args.service_principals:,} service principals, "
          f"{LATENCY_SECONDS * 1000:.0f} ms per request, throttling on.")
    print()
    print("| run | wall s | Graph requests (HTTP) | batch items | RU | reporting | 429s | floor s "
          "(budgets) | latency-bound least s | peak RSS MB | events | problems |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for m in rows:
        t = m.traffic
        ratio = f" ({m.wall / m.floor:.2f} x floor)" if m.floor > 0 else ""
        print(f"| {m.name} | {m.wall:.1f} | {t.requests} | {t.batch_items} | {t.resource_units} "
              f"| {t.total('reporting')} | {t.throttled} | {m.floor:.1f}{ratio} | {m.chain:.2f} | {m.rss:.0f} "
              f"| {m.events:,} | {m.problems} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
