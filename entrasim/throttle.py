"""Graph's throttling model for identity endpoints, and the per-endpoint counters.

The model is the published one: resource units (RU) per app+tenant in a sliding 10 s window
(3,500 / 5,000 / 8,000 RU by tenant size), a per-request cost by endpoint with `$select`,
`$expand` and small-`$top` modifiers, and a separate 5-requests-per-10-s budget for reporting
endpoints. Identity Protection (`/identityProtection/*`) has its own published limit of 1
request per second per tenant, answered with 429 and no `Retry-After`
(learn.microsoft.com "Microsoft Graph service-specific throttling limits"). Delta functions
and deleted items are not in the published cost table, so they cost 1 like any unlisted GET.
`throttling_floor_seconds` turns request counts into the least wall time those
budgets allow, so a benchmark can tell "the connector is slow" from "Graph would not allow
faster".
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


def throttling_floor_seconds(ru_total: int, reporting_requests: int, tenant_users: int) -> float:
    """Least wall time (s) in which Graph lets an app spend `ru_total` RU and make
    `reporting_requests` reporting calls: the first window is free, each further window's
    worth of budget costs one window of waiting."""
    budget = ru_budget(tenant_users)
    ru_floor = max(0, math.ceil(ru_total / budget) - 1) * WINDOW_SECONDS
    rep_floor = max(0, math.ceil(reporting_requests / REPORTING_REQUESTS_PER_WINDOW) - 1) * WINDOW_SECONDS
    return max(ru_floor, rep_floor)


def floor_from_counters(snapshot: Mapping[str, Mapping[str, int]], tenant_users: int) -> float:
    """`throttling_floor_seconds` for a `Counters.snapshot()` (its `ru` and `reporting` fields)."""
    ru = sum(c.get("ru", 0) for c in snapshot.values())
    reporting = sum(c.get("reporting", 0) for c in snapshot.values())
    return throttling_floor_seconds(ru, reporting, tenant_users)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    usage: float = 0.0  # fraction of the RU budget in use after this request


class ThrottleModel:
    """Sliding-window budgets; thread-safe. Throttled requests spend nothing."""

    def __init__(self, tenant_users: int, enabled: bool = False) -> None:
        self.enabled = enabled
        self.budget = ru_budget(tenant_users)
        self.reporting_limit = REPORTING_REQUESTS_PER_WINDOW
        self.window = WINDOW_SECONDS
        self._spent: deque[tuple[float, int]] = deque()
        self._spent_total = 0
        self._reporting: deque[float] = deque()
        self._protection_last = float("-inf")
        self._lock = threading.Lock()

    def charge(self, cost: int, reporting: bool, now: float | None = None) -> Verdict:
        now = time.monotonic() if now is None else now
        with self._lock:
            horizon = now - self.window
            while self._spent and self._spent[0][0] <= horizon:
                self._spent_total -= self._spent.popleft()[1]
            while self._reporting and self._reporting[0] <= horizon:
                self._reporting.popleft()
            if not self.enabled:
                return Verdict(True, usage=0.0)
            if reporting and len(self._reporting) >= self.reporting_limit:
                wait = self._reporting[0] + self.window - now
                return Verdict(False, max(1, math.ceil(wait)), self._spent_total / self.budget)
            if self._spent_total + cost > self.budget:
                need = self._spent_total + cost - self.budget
                freed, wait = 0, self.window
                for at, spent in self._spent:
                    freed += spent
                    if freed >= need:
                        wait = at + self.window - now
                        break
                return Verdict(False, max(1, math.ceil(wait)), self._spent_total / self.budget)
            self._spent.append((now, cost))
            self._spent_total += cost
            if reporting:
                self._reporting.append(now)
            return Verdict(True, usage=self._spent_total / self.budget)

    def charge_protection(self, now: float | None = None) -> bool:
        """Whether an Identity Protection request may pass its 1-per-second limit (no RU)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if not self.enabled:
                return True
            if now - self._protection_last < PROTECTION_INTERVAL_SECONDS:
                return False
            self._protection_last = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._protection_last = float("-inf")
            self._spent.clear()
            self._spent_total = 0
            self._reporting.clear()


@dataclass(slots=True)
class EndpointCounts:
    requests: int = 0  # HTTP requests (a $batch counts once, under "POST /$batch")
    batch_items: int = 0  # requests that arrived inside a $batch
    ru: int = 0  # resource units charged (throttled requests charge none)
    reporting: int = 0  # charged requests against the reporting budget
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
