"""The simulated tenant in its own process, driven from the benchmark over a pipe.

`python -m entrasim` serves counters to other processes but cannot be mutated from outside,
and the incremental run needs 10 new users. Hosting `SimulatedGraph` in a spawned process of
our own keeps what matters from the CLI (the server has its own interpreter, so it shares no
GIL with the baseline, which runs in the benchmark's process) and adds the few commands the
benchmark needs: reset counters, read counters, add users, describe the tenant.
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

READY_TIMEOUT_SECONDS = 600.0
# Graph's page limits: a `/users` page selecting signInActivity holds at most 500 users;
# other listings, 999 objects.
SIGN_IN_PAGE = 500
PAGE = 999


@dataclass(frozen=True, slots=True)
class NeededTraffic:
    """The fewest Graph requests that return this tenant's data with the targets' bulk
    strategy: users with sign-in activity, the MFA registration report, all groups and each
    group's members, the role definitions and assignments. Its floor is the yardstick."""

    requests: int
    resource_units: int
    reporting: int
    sign_in_activity: int = 0  # of the reporting requests, those under the 10-per-minute limit


@dataclass(frozen=True, slots=True)
class TenantFacts:
    url: str
    ca_path: str
    config: dict[str, Any]  # connector settings; holds the (simulated) client secret
    token_url: str
    scope: str
    users: int  # listed users (what a full run must emit)
    enabled: int
    groups: int
    needed: NeededTraffic


def _needed(users: int, enabled: int, member_counts: list[int]) -> NeededTraffic:
    user_pages = math.ceil(users / SIGN_IN_PAGE)  # 1 RU each ($select), reporting
    report_pages = math.ceil(enabled / PAGE)  # 1 RU each, reporting
    group_pages = math.ceil(len(member_counts) / PAGE)  # 1 RU each ($select)
    member_pages = sum(max(1, math.ceil(n / PAGE)) for n in member_counts)  # 2 RU each ($select)
    roles = 2  # definitions + assignments, 1 RU each
    requests = user_pages + report_pages + group_pages + member_pages + roles
    return NeededTraffic(
        requests=requests,
        resource_units=user_pages + report_pages + group_pages + 2 * member_pages + roles,
        reporting=user_pages + report_pages,
        sign_in_activity=user_pages,
    )


def _serve(conn: Connection, users: int, seed: int, latency: float, throttling: bool,
           spec_fields: dict[str, Any]) -> None:
    """The child: generate, serve, answer commands until told to stop."""
    from entrasim import SimulatedGraph, TenantSpec

    spec = TenantSpec(seed=seed, users=users, licence="P2", **spec_fields)
    with SimulatedGraph(spec, latency=latency, throttling=throttling) as sim:
        tenant = sim.tenant
        listed = tenant.users()
        members = [len(g.members) + len(g.member_groups) for g in tenant.groups()]
        enabled = sum(1 for u in listed if u.enabled)
        conn.send(
            TenantFacts(
                url=sim.url,
                ca_path=sim.ca_path,
                config=sim.connector_config(),
                token_url=sim.token_url,
                scope=sim.scope,
                users=len(listed),
                enabled=enabled,
                groups=len(members),
                needed=_needed(len(listed), enabled, members),
            )
        )
        groups = tenant.groups()
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
            elif command == "add_users":
                added = []
                for i in range(int(arg)):
                    u = tenant.add_user(
                        display_name=f"Bench Newcomer {i}", methods=("microsoftAuthenticatorPush",)
                    )
                    tenant.add_to_group(u.id, groups[0].id)  # "All Company"
                    tenant.add_to_group(u.id, groups[4 + i % (len(groups) - 4)].id)
                    added.append(u.id)
                conn.send(added)
            elif command == "audit_history":
                count, seed = arg
                now = datetime.now(UTC)
                conn.send(tenant.add_audit_history(int(count), since=now - timedelta(days=1),
                                                   until=now, seed=int(seed)))
            elif command == "count_audits":
                since, until = arg
                with tenant.lock:
                    conn.send(sum(1 for r in tenant.audit.visible(since)
                                  if r.when.replace(microsecond=0) <= until))
            elif command == "count_sign_ins":
                since, until = arg
                conn.send(len(tenant.sign_ins(since=since, until=until)))
            elif command == "mixed_changes":
                count, seed = arg
                changes = tenant.apply_mixed_changes(int(count), int(seed), late_listings=0)
                conn.send([(c.kind, c.object_id, tuple(c.users)) for c in changes])
            elif command == "sign_ins":
                count, seed = arg
                conn.send(tenant.sign_in_many(int(count), int(seed)))
            elif command == "check":
                conn.send(_check(tenant, *arg))
            else:
                conn.send(ValueError(f"unknown command {command!r}"))


def _check(tenant: Any, paths: list[str], ids: list[str]) -> list[str]:
    """How the latest events (files in delivery order) of `ids` disagree with the ground truth."""
    import orjson

    from tests.cli.truth import Known, inventory_problems

    wanted = set(ids)
    latest: dict[str, Any] = {}
    for path in paths:
        with open(path, "rb") as handle:
            for line in handle:
                start = line.find(b'"uid":"', line.find(b'"user":{'))
                uid = line[start + 7:start + 43].decode() if start >= 0 else ""
                if uid in wanted:
                    latest[uid] = orjson.loads(line)
    truth = {uid: t for uid, t in tenant.truth(include_deleted=True).items() if uid in wanted}
    problems: list[str] = inventory_problems(latest, truth, Known(mfa=None, risk=True))
    return problems


class TenantProcess:
    """`with TenantProcess(users=10_000) as t:` starts the tenant and waits until it serves."""

    def __init__(
        self, *, users: int, seed: int = 1, latency: float = 0.05, throttling: bool = True,
        **spec_fields: Any,
    ) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve,
            args=(child, users, seed, latency, throttling, spec_fields),
            name=f"entrasim-{users}",
            daemon=True,
        )
        self._child_end = child
        self.facts: TenantFacts | None = None

    def __enter__(self) -> Self:
        self._process.start()
        self._child_end.close()
        try:
            if not self._conn.poll(READY_TIMEOUT_SECONDS):
                raise RuntimeError("the simulated tenant did not become ready in time")
            self.facts = self._conn.recv()
        except BaseException:
            self._process.kill()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._process.is_alive():
                self._call("stop")
        except (EOFError, OSError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def _call(self, command: str, arg: object = None) -> Any:
        self._conn.send((command, arg))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def reset_counters(self) -> None:
        """Zero the counters and the throttling windows (runs are hours apart in real life)."""
        self._call("reset")

    def counters(self) -> dict[str, dict[str, int]]:
        """Per route, as `entrasim.Counters.snapshot()`."""
        snapshot: dict[str, dict[str, int]] = self._call("counters")
        return snapshot

    def mixed_changes(self, count: int, seed: int) -> list[tuple[str, str, tuple[str, ...]]]:
        """`count` changes of every kind (`Tenant.apply_mixed_changes`): (kind, object, users)."""
        changes: list[tuple[str, str, tuple[str, ...]]] = self._call("mixed_changes",
                                                                     (count, seed))
        return changes

    def sign_ins(self, count: int, seed: int) -> list[str]:
        """`count` users sign in now; their ids."""
        ids: list[str] = self._call("sign_ins", (count, seed))
        return ids

    def check(self, paths: list[str], ids: list[str]) -> list[str]:
        """Ground-truth problems of the latest events of `ids` in these event files."""
        problems: list[str] = self._call("check", (paths, ids))
        return problems

    def add_users(self, count: int) -> list[str]:
        """New enabled members created now, each with an MFA method and two groups."""
        ids: list[str] = self._call("add_users", count)
        return ids

    def audit_history(self, count: int, seed: int = 0) -> int:
        """`count` audit records spread over the last day (`Tenant.add_audit_history`)."""
        written: int = self._call("audit_history", (count, seed))
        return written

    def count_audits(self, since: datetime, until: datetime) -> int:
        """Visible audit records with activityDateTime in [since, until] (whole seconds)."""
        count: int = self._call("count_audits", (since, until))
        return count

    def count_sign_ins(self, since: datetime, until: datetime) -> int:
        """Visible interactive sign-ins created in [since, until] (what a run must emit)."""
        count: int = self._call("count_sign_ins", (since, until))
        return count
