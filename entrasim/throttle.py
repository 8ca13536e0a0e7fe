"""Graph's throttling limits for identity endpoints, and the per-endpoint counters.

The model follows Microsoft's published limits (learn.microsoft.com/graph/throttling-limits,
updated 2026-02); each bucket below names its section:

- directory resource units ("Identity and access service limits",
  https://learn.microsoft.com/graph/throttling-limits#identity-and-access-service-limits):
  RU per app per tenant in a sliding 10 s window (3,500 / 5,000 / 8,000 RU by tenant size), a
  per-request cost by endpoint with `$select`, `$expand` and small-`$top` modifiers;
  `x-ms-throttle-limit-percentage` from 80 % use. Delta functions and deleted items are not in
  the cost table, so they cost 1 like any unlisted GET (assumption).
- reports ("Identity and access reports service limits",
  https://learn.microsoft.com/graph/throttling-limits#identity-and-access-reports-service-limits):
  5 requests per 10 s per app per tenant for every resource listed there: `signIn`,
  `directoryAudit`, `auditLogRoot`, `credentialUserRegistrationDetails` /
  `userRegistrationDetails`, `signInActivity` and `authenticationMethod` (the per-user
  `/users/{id}/authentication/methods`), `$batch` items one by one.
- `signInActivity` (same section): 10 requests per minute per app per tenant, on top of the
  reports window; a page with `$select=signInActivity` holds at most 500 users.
- Identity Protection ("Identity Protection and Conditional Access service limits",
  https://learn.microsoft.com/graph/throttling-limits#identity-protection-and-conditional-access-service-limits):
  1 request per second per tenant for all apps, answered with 429 and no `Retry-After`.

These buckets are what `ThrottleModel` enforces by default when throttling is on. The RU and
reports buckets also cost directory RU (the page is silent on whether report requests spend
RU; charging them is the stricter reading). `legacy=True` restores the older, generous model
(per-user methods in the RU bucket, no `signInActivity` window) for a test that needs it.

Options a test uses: `time_scale` multiplies every window (a test shrinks time consistently
with the connector's planner, `connector.graph.budget`); `other_app_share` is the part of every
*per-tenant* budget (Identity Protection) another app of the same tenant spends; the per-app
buckets are the app's own and stay whole (Microsoft scopes them to the app).

`throttling_floor_seconds` turns request counts into the least wall time all those budgets
allow (the floor of the documented limits), so a benchmark can tell "the connector is slow"
from "Graph would not allow faster".
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass

WINDOW_SECONDS = 10.0
REPORTING_REQUESTS_PER_WINDOW = 5
SIGN_IN_ACTIVITY_REQUESTS = 10
SIGN_IN_ACTIVITY_WINDOW_SECONDS = 60.0
SIGN_IN_ACTIVITY_PAGE = 500
THROTTLE_WARNING_RATIO = 0.8
PROTECTION_INTERVAL_SECONDS = 1.0

# Base RU cost of one GET by route; anything else costs 1.
BASE_COSTS: dict[str, int] = {
    "GET /users": 2,
    "GET /users/{id}/memberOf": 2,
    "GET /users/{id}/transitiveMemberOf": 2,
    "GET /groups/{id}/members": 3,
    "GET /groups/{id}/transitiveMembers": 5,
}


def ru_budget(tenant_users: int) -> int:
    """RU per app+tenant per 10 s window for a tenant of this size."""
    if tenant_users < 50:
        return 3500
    if tenant_users <= 500:
        return 5000
    return 8000


def request_cost(route: str, *, select: bool, expand: bool, top: int | None) -> int:
    cost = BASE_COSTS.get(route, 1)
    if select:
        cost -= 1
    if expand:
        cost += 1
    if top is not None and top < 20:
        cost -= 1
    return max(cost, 1)


def _windows_beyond_first(requests: float, per_window: float, window: float) -> float:
    return max(0, math.ceil(requests / per_window) - 1) * window if requests > 0 else 0.0


def throttling_floor_seconds(ru_total: int, reporting_requests: int, tenant_users: int,
                             sign_in_activity: int = 0, protection: int = 0) -> float:
    """The floor of the documented limits: least wall time (s) in which Graph lets an app spend
    `ru_total` RU, make `reporting_requests` reports requests (of which `sign_in_activity`
    select `signInActivity`) and `protection` Identity Protection requests. In each bucket the
    first window is free and each further window's worth costs one window of waiting; the
    buckets run in parallel, so the floor is the slowest one."""
    return max(
        _windows_beyond_first(ru_total, ru_budget(tenant_users), WINDOW_SECONDS),
        _windows_beyond_first(reporting_requests, REPORTING_REQUESTS_PER_WINDOW, WINDOW_SECONDS),
        _sign_in_activity_floor(sign_in_activity),
        max(0, protection - 1) * PROTECTION_INTERVAL_SECONDS,
    )


def _sign_in_activity_floor(requests: int) -> float:
    """signInActivity requests are reports requests too: the last minute's worth (up to 10)
    cannot all go at once, they pass 5 per 10 s."""
    if requests <= 0:
        return 0.0
    minutes = math.ceil(requests / SIGN_IN_ACTIVITY_REQUESTS) - 1
    last = requests - minutes * SIGN_IN_ACTIVITY_REQUESTS
    return (minutes * SIGN_IN_ACTIVITY_WINDOW_SECONDS
            + _windows_beyond_first(last, REPORTING_REQUESTS_PER_WINDOW, WINDOW_SECONDS))


def floor_from_counters(snapshot: Mapping[str, Mapping[str, int]], tenant_users: int) -> float:
    """`throttling_floor_seconds` for a `Counters.snapshot()` (all four buckets' fields)."""
    def total(name: str) -> int:
        return sum(c.get(name, 0) for c in snapshot.values())
    return throttling_floor_seconds(total("ru"), total("reporting"), tenant_users,
                                    total("sign_in_activity"), total("protection"))


def bounding_limit(snapshot: Mapping[str, Mapping[str, int]], tenant_users: int) -> str:
    """Which documented limit sets `floor_from_counters` (for benchmark tables)."""
    def total(name: str) -> int:
        return sum(c.get(name, 0) for c in snapshot.values())
    floors = {
        "directory RU": _windows_beyond_first(total("ru"), ru_budget(tenant_users), WINDOW_SECONDS),
        "reports 5/10 s": _windows_beyond_first(total("reporting"), REPORTING_REQUESTS_PER_WINDOW,
                                                WINDOW_SECONDS),
        "signInActivity 10/min": _sign_in_activity_floor(total("sign_in_activity")),
        "Identity Protection 1/s": max(0, total("protection") - 1) * PROTECTION_INTERVAL_SECONDS,
    }
    return max(floors, key=lambda k: floors[k])


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    usage: float = 0.0  # fraction of the RU budget in use after this request
    scope: str = ""  # which bucket refused (the x-ms-throttle-scope of a 429)


class _Window:
    """At most `limit` requests in any sliding `window` seconds."""

    __slots__ = ("_log", "limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._log: deque[float] = deque()

    def expire(self, now: float) -> None:
        while self._log and self._log[0] <= now - self.window:
            self._log.popleft()

    def full(self) -> bool:
        return len(self._log) >= self.limit

    def wait(self, now: float) -> float:
        return self._log[0] + self.window - now if self._log else 0.0

    def add(self, now: float) -> None:
        self._log.append(now)

    def clear(self) -> None:
        self._log.clear()


class ThrottleModel:
    """Sliding-window budgets; thread-safe. Throttled requests spend nothing.

    `enabled` switches throttling on (the documented limits); `legacy` keeps the older,
    generous model (no signInActivity window, per-user methods outside the reports window).
    """

    def __init__(self, tenant_users: int, enabled: bool = False, *, legacy: bool = False,
                 time_scale: float = 1.0, other_app_share: float = 0.0) -> None:
        if not 0.0 <= other_app_share < 1.0:
            raise ValueError("other_app_share must be in [0, 1)")
        self.enabled = enabled
        self.legacy = legacy
        self.time_scale = time_scale
        self.other_app_share = other_app_share
        self.budget = ru_budget(tenant_users)
        self.reporting_limit = REPORTING_REQUESTS_PER_WINDOW
        self._spent: deque[tuple[float, int]] = deque()
        self._spent_total = 0
        self._reporting = _Window(REPORTING_REQUESTS_PER_WINDOW, WINDOW_SECONDS)
        self._activity = _Window(SIGN_IN_ACTIVITY_REQUESTS, SIGN_IN_ACTIVITY_WINDOW_SECONDS)
        self._protection_last = float("-inf")
        self._lock = threading.Lock()

    @property
    def window(self) -> float:
        return WINDOW_SECONDS * self.time_scale

    @property
    def protection_interval(self) -> float:
        """Seconds between this app's Identity Protection requests: the tenant's 1 per second,
        less what the other app spends of it."""
        return PROTECTION_INTERVAL_SECONDS * self.time_scale / (1.0 - self.other_app_share)

    def charge(self, cost: int, reporting: bool, now: float | None = None, *,
               sign_in_activity: bool = False) -> Verdict:
        now = time.monotonic() if now is None else now
        with self._lock:
            horizon = now - self.window
            while self._spent and self._spent[0][0] <= horizon:
                self._spent_total -= self._spent.popleft()[1]
            self._reporting.window = self.window
            self._reporting.limit = self.reporting_limit
            self._reporting.expire(now)
            self._activity.window = SIGN_IN_ACTIVITY_WINDOW_SECONDS * self.time_scale
            self._activity.expire(now)
            if not self.enabled:
                return Verdict(True, usage=0.0)
            usage = self._spent_total / self.budget
            if reporting and self._reporting.full():
                return Verdict(False, _seconds(self._reporting.wait(now)), usage, "reports")
            activity = sign_in_activity and not self.legacy
            if activity and self._activity.full():
                return Verdict(False, _seconds(self._activity.wait(now)), usage, "signInActivity")
            if self._spent_total + cost > self.budget:
                need = self._spent_total + cost - self.budget
                freed, wait = 0, self.window
                for at, spent in self._spent:
                    freed += spent
                    if freed >= need:
                        wait = at + self.window - now
                        break
                return Verdict(False, _seconds(wait), usage, "directory")
            self._spent.append((now, cost))
            self._spent_total += cost
            if reporting:
                self._reporting.add(now)
            if activity:
                self._activity.add(now)
            return Verdict(True, usage=self._spent_total / self.budget)

    def charge_protection(self, now: float | None = None) -> bool:
        """Whether an Identity Protection request may pass its per-tenant limit (no RU)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self.enabled:
                return True
            if now - self._protection_last < self.protection_interval:
                return False
            self._protection_last = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._protection_last = float("-inf")
            self._spent.clear()
            self._spent_total = 0
            self._reporting.clear()
            self._activity.clear()


def _seconds(wait: float) -> int:
    """A `Retry-After` value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


@dataclass(slots=True)
class EndpointCounts:
    requests: int = 0  # HTTP requests (a $batch counts once, under "POST /$batch")
    batch_items: int = 0  # requests that arrived inside a $batch
    ru: int = 0  # resource units charged (throttled requests charge none)
    reporting: int = 0  # charged requests against the reports budget
    sign_in_activity: int = 0  # of those, charged against the signInActivity window
    protection: int = 0  # charged Identity Protection requests (per tenant, 1 per second)
    throttled: int = 0  # 429 answers, whether from the model or injected
    errors: int = 0  # other 4xx/5xx answers, and dropped connections
    bytes_out: int = 0  # response body bytes (batch items: their share of the envelope)


class Counters:
    """Per-route counts, keyed like "GET /users/{id}/memberOf"; readable while serving."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: dict[str, EndpointCounts] = {}

    def add(self, route: str, **deltas: int) -> None:
        with self._lock:
            counts = self._by_route.get(route)
            if counts is None:
                counts = self._by_route[route] = EndpointCounts()
            for name, delta in deltas.items():
                setattr(counts, name, getattr(counts, name) + delta)

    def snapshot(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {route: asdict(c) for route, c in sorted(self._by_route.items())}

    def totals(self) -> dict[str, int]:
        total = EndpointCounts()
        with self._lock:
            for c in self._by_route.values():
                for name in EndpointCounts.__slots__:
                    setattr(total, name, getattr(total, name) + getattr(c, name))
        return asdict(total)

    def reset(self) -> None:
        with self._lock:
            self._by_route.clear()
