"""The request budget the whole process plans against: one planner, one bucket per documented
Graph limit, every request admitted before it is sent.

Graph answers 429 when any limit a request falls under is spent. The limits are documented
(learn.microsoft.com/graph/throttling-limits, updated 2026-02), so a client that knows which
buckets a request spends can wait *before* sending instead of after a 429:

| bucket | limit | section of the throttling page |
| --- | --- | --- |
| `directory` | 8,000 RU / 10 s per app per tenant (90 % planned) | Identity and access service limits |
| `reports` | 5 requests / 10 s per app per tenant | Identity and access reports service limits |
| `signInActivity` | 10 requests / 60 s per app per tenant | same section |
| `identityProtection` | 1 request / s per tenant, all apps; 429 without `Retry-After` | Identity Protection and Conditional Access service limits |
| `intune` | 2,000 requests / 20 s per app per tenant (`/deviceManagement/*`: the device stream's Intune reads, no directory RU) | Intune service limits |

The reports bucket covers the sign-in log, directory audits, the registration report,
`signInActivity` listings and the per-user `authentication/methods` (Microsoft's
`authenticationMethod` resource), `$batch` items included.

Every bucket is a sliding log of admissions. A request is admitted when all its buckets have
room, and its admission is stamped again when it is really sent (after waiting for a
concurrency slot) and once more when its answer arrives, since Graph counted it somewhere in
between (after a token fetch, say): the log never runs ahead of what Graph counts. Each window
carries a small margin (1 % of the window + 50 ms) for the distance between our clock and
Graph's; the stamp at the answer is already later than Graph's count by the answer's latency,
so a bigger margin only slows the listings paced by the 10-per-minute limit (at 2.5 % it cost
1.5 s of every minute: 30 s of a 100,000-user full run).

Sharing: other apps (Identity Protection is per tenant) or other instances of this app spend
the same budgets unseen. A bucket therefore plans against `share` of its capacity: a 429 halves
the share (three quarters with `Retry-After`) and pauses the bucket (`Retry-After` when Graph gives one, otherwise one interval
between requests at the new share), `x-ms-throttle-limit-percentage` >= 0.8 on a directory
answer lowers it by a fifth, and every quiet window gives a tenth back. That is additive
increase, multiplicative decrease: with half a budget taken elsewhere the planner settles just
below the half that is left, with a few 429s and no hot loop.

Waiting here is not failing: the time a request spends held back by our own pacing
(`Ticket.paced`) is off its retry deadline (`throttle.DeadlineClock`), so a thousand MFA lookups
queued at 5 per 10 s all go through; only waiting on Graph's throttling (a pause after a 429,
a share cut below the documented limit) spends it, and admission raises `BudgetDeadline`
rather than wait on that past what is left.

Priority (`priority_of`): the log streams' requests (`/auditLogs/signIns`,
`/auditLogs/directoryAudits`) first, then
`signInActivity` pages, then the rest; a request yields a bucket while one of a higher priority
waits on it, or was admitted less than `FOLLOW_UP_SECONDS` ago and could go again (a listing
between two pages), so sign-ins keep their schedule while a full inventory spends the same
reports budget, and the inventory's `signInActivity` pages, the scarcest limit, take the first
minute's reports slots before the registration report does. Every request still carries
`x-ms-throttle-priority: Low` (see `client.PRIORITY_HEADERS`): all of it is background work to
Graph.

`time_scale` multiplies every window, like the simulator's `ThrottleModel.time_scale`, so a test
can shrink time in both consistently.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

THROTTLING_PAGE = "https://learn.microsoft.com/graph/throttling-limits"
# Shrinks every window of the planner a process builds from its settings: only for a simulated
# tenant whose own windows are shrunk alike (`ThrottleModel.time_scale`), as the test suite does.
TIME_SCALE_ENV = "ENTRA_GRAPH_TIME_SCALE"
NEAR_LIMIT = 0.8
# A listing asks for its next page within this long of the previous one's admission (the page's
# latency and parsing): meanwhile a lower priority leaves it the bucket.
FOLLOW_UP_SECONDS = 2.0
SCARCE_CAPACITY = 100
# `admit_some` waits this share of a window for slots freeing right after the first.
GATHER_FRACTION = 0.05
MIN_SHARE = 0.05
_MARGIN_FRACTION = 0.01
_MARGIN_SECONDS = 0.05


class BudgetDeadline(Exception):
    """Graph paused a bucket past the caller's retry deadline (`wait`: the seconds the pause
    still has). Our own pacing never raises it: a request held back to stay within a budget
    has not failed."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the request budget needs {wait:.0f} s more")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class Limit:
    """One documented limit: `capacity` units in any `window` seconds."""

    name: str
    label: str
    capacity: float
    window: float
    source: str


DIRECTORY = Limit("directory", "directory 8,000 RU/10 s", 8000 * 0.9, 10.0,
                  THROTTLING_PAGE + "#identity-and-access-service-limits")
REPORTS = Limit("reports", "reports 5/10 s", 5, 10.0,
                THROTTLING_PAGE + "#identity-and-access-reports-service-limits")
SIGN_IN_ACTIVITY = Limit("signInActivity", "signInActivity 10/min", 10, 60.0,
                         THROTTLING_PAGE + "#identity-and-access-reports-service-limits")
IDENTITY_PROTECTION = Limit(
    "identityProtection", "Identity Protection 1/s per tenant", 1, 1.0,
    THROTTLING_PAGE + "#identity-protection-and-conditional-access-service-limits")
INTUNE = Limit("intune", "Intune 2,000/20 s", 2000, 20.0,
               THROTTLING_PAGE + "#intune-service-limits")
DOCUMENTED_LIMITS = (DIRECTORY, REPORTS, SIGN_IN_ACTIVITY, IDENTITY_PROTECTION, INTUNE)

# --- which buckets a request spends ------------------------------------------------------------

_API_VERSION_PREFIX = re.compile(r"^.*?/(?:v1\.0|beta)(?=/|$)")
_REPORTS_PREFIXES = ("/reports/", "/auditlogs/")
_METHODS = re.compile(r"^/users/[^/]+/authentication/methods(?:/|$)")


def time_scale_from_env() -> float:
    """`ENTRA_GRAPH_TIME_SCALE` (a number in (0, 1]), else 1: Graph's real windows."""
    try:
        scale = float(os.environ.get(TIME_SCALE_ENV, "1"))
    except ValueError:
        return 1.0
    return scale if 0.0 < scale <= 1.0 else 1.0


def split_url(url: str) -> tuple[str, dict[str, list[str]]]:
    """Lower-cased path below the API version, and the query."""
    parts = urlsplit(url)
    path = _API_VERSION_PREFIX.sub("", parts.path, count=1)
    return path.rstrip("/").lower(), parse_qs(parts.query)


def is_sign_in_activity(url: str) -> bool:
    path, query = split_url(url)
    selected = ",".join(query.get("$select", []) + query.get("$filter", [])).lower()
    return path == "/users" and "signinactivity" in selected


def is_reporting(url: str) -> bool:
    """Whether a request counts against the reports limit (5 per 10 s)."""
    path, query = split_url(url)
    if path.startswith(_REPORTS_PREFIXES) or _METHODS.match(path):
        return True
    selected = ",".join(query.get("$select", [])).lower()
    return "signinactivity" in selected


def is_identity_protection(url: str) -> bool:
    return split_url(url)[0].startswith("/identityprotection/")


def is_intune(url: str) -> bool:
    """Intune's API (`/deviceManagement/...`): its own limit, not the directory's RU."""
    return split_url(url)[0].startswith("/devicemanagement/")


SIGN_IN_LOG_PRIORITY = 2
SIGN_IN_ACTIVITY_PRIORITY = 1
BACKGROUND_PRIORITY = 0


def priority_of(url: str) -> int:
    """Who goes first when requests wait on the same bucket: the sign-in and directory audit
    logs (streams on a schedule of minutes), then `signInActivity` pages (the scarcest limit: a
    page that waits for a reports slot wastes the 10-per-minute window), then everything else."""
    if split_url(url)[0].startswith(("/auditlogs/signins", "/auditlogs/directoryaudits")):
        return SIGN_IN_LOG_PRIORITY
    if is_sign_in_activity(url):
        return SIGN_IN_ACTIVITY_PRIORITY
    return BACKGROUND_PRIORITY


def resource_units(url: str) -> int:
    """Graph's published RU cost of one GET (identity endpoints), never below 1."""
    path, query = split_url(url)
    segments = path.strip("/").split("/")
    last = segments[-1] if segments else ""
    if last.startswith("microsoft.graph."):
        segments = segments[:-1]
        last = segments[-1] if segments else ""
    if segments == ["users"] or (segments[0] == "users" and last in ("memberof",
                                                                      "transitivememberof")):
        cost = 2
    elif last == "members" and segments[0] == "groups":
        cost = 3
    elif last == "transitivemembers" and segments[0] == "groups":
        cost = 5
    else:
        cost = 1
    if "$select" in query:
        cost -= 1
    if "$expand" in query:
        cost += 1
    top = query.get("$top")
    if top:
        try:
            if int(top[0]) < 20:
                cost -= 1
        except ValueError:
            pass
    return max(1, cost)


def charges_of(url: str) -> dict[str, float]:
    """Units of each bucket one GET spends (Identity Protection spends no directory RU)."""
    if is_identity_protection(url):
        return {IDENTITY_PROTECTION.name: 1.0}
    if is_intune(url):
        return {INTUNE.name: 1.0}
    out = {DIRECTORY.name: float(resource_units(url))}
    if is_reporting(url):
        out[REPORTS.name] = 1.0
    if is_sign_in_activity(url):
        out[SIGN_IN_ACTIVITY.name] = 1.0
    return out


def add_charges(total: dict[str, float], more: dict[str, float]) -> dict[str, float]:
    for name, units in more.items():
        total[name] = total.get(name, 0.0) + units
    return total


# --- one bucket ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    at: float
    units: float
    pending: bool = True  # sent, not answered: Graph may count it any moment from now

    def when(self, now: float) -> float:
        return max(self.at, now) if self.pending else self.at


@dataclass(slots=True)
class Bucket:
    """A sliding window over one documented limit, planned at `share` of its capacity."""

    limit: Limit
    time_scale: float = 1.0
    share: float = 1.0
    paused_until: float = 0.0
    waited_seconds: float = 0.0  # wall time during which some request waited on this bucket
    throttled: int = 0
    admitted: int = 0
    # priority -> the bucket names of each request waiting on this bucket -> how many
    waiting: dict[int, dict[tuple[str, ...], int]] = field(default_factory=dict)
    # priority -> (when a listing's page with a next page came back, the buckets it spends)
    recent: dict[int, tuple[float, tuple[str, ...]]] = field(default_factory=dict)
    _log: list[_Entry] = field(default_factory=list)
    _covered_until: float = 0.0
    _quiet_since: float = 0.0
    _last_cut: float = -math.inf
    _misses: int = 0
    _lock: asyncio.Lock | None = None

    @property
    def sleeper(self) -> asyncio.Lock:
        """Held by the one request sleeping on this bucket (created in the running loop)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    @property
    def window(self) -> float:
        """The effective window: a share below one request per window stretches it."""
        full = self.limit.window * self.time_scale
        per_window = self.limit.capacity * self.share
        return full if per_window >= 1.0 else full / per_window

    @property
    def capacity(self) -> float:
        return max(1.0, math.floor(self.limit.capacity * self.share))

    @property
    def scarce(self) -> bool:
        """A limit counted in a few requests (reports, signInActivity, Identity Protection):
        where priorities matter. The RU budget is never what bounds a run."""
        return self.limit.capacity <= SCARCE_CAPACITY

    @property
    def margin(self) -> float:
        return _MARGIN_FRACTION * self.window + _MARGIN_SECONDS

    def _used(self, now: float) -> float:
        horizon = now - self.window - self.margin
        self._log = [e for e in self._log if e.when(now) > horizon]
        return sum(e.units for e in self._log)

    def delay(self, units: float, now: float) -> float:
        """Seconds until `units` fit (0 = now). Heavier than the whole capacity: alone."""
        if now < self.paused_until:
            return self.paused_until - now
        used = self._used(now)
        if used + units <= self.capacity or not self._log:
            return 0.0
        need = used + units - self.capacity
        for entry in sorted(self._log, key=lambda e: e.when(now)):
            need -= entry.units
            if need <= 0:
                # An unanswered request counts as happening now, so it holds its slot a whole
                # window from now; a sleeper woken a hair early (asyncio may fire a timer up to
                # its clock's resolution early) looks again at once, not a margin later.
                return max(entry.when(now) + self.window + self.margin - now, 0.005)
        return self.window + self.margin

    def freed_by(self, now: float, within: float) -> float:
        """When the last of the answered requests whose slots free within `within` seconds
        from now frees its slot (`now` when none does)."""
        horizon = now + within
        last = now
        for entry in self._log:
            if not entry.pending:
                free_at = entry.at + self.window + self.margin
                if now < free_at <= horizon:
                    last = max(last, free_at)
        return last

    def admit(self, units: float, now: float) -> _Entry:
        entry = _Entry(now, units)
        self._log.append(entry)
        self.admitted += 1
        self._recover(now)
        return entry

    def throttled_at(self, now: float) -> bool:
        """Whether waiting on this bucket now is Graph's doing: paused after a 429, or planned
        below the documented limit since Graph (or another app) took part of it."""
        return now < self.paused_until or self.share < 1.0

    def note_wait(self, start: float, end: float) -> None:
        """Count the union of waiting intervals, so concurrent waiters count once."""
        start = max(start, self._covered_until)
        if end > start:
            self.waited_seconds += end - start
            self._covered_until = end

    def _recover(self, now: float) -> None:
        if self.share < 1.0 and now - self._quiet_since >= self.window:
            self.share = min(1.0, self.share + 0.1)
            self._quiet_since = now

    def on_throttled(self, retry_after: float | None, now: float) -> None:
        """Graph refused a request of this bucket: plan at a smaller share (half without
        `Retry-After`, three quarters with it), pause."""
        self.throttled += 1
        self._misses += 1
        if now - self._last_cut >= self.window / 2:  # one burst of 429s counts once
            # Graph's Retry-After says when; without one, only a smaller share helps.
            self.share = max(MIN_SHARE, self.share * (0.75 if retry_after else 0.5))
            self._last_cut = now
        # Without Retry-After: one interval at the new share per miss, never beyond one
        # documented window.
        pause = retry_after if retry_after else min(
            (self.window / self.capacity) * min(self._misses, 6),
            self.limit.window * self.time_scale)
        self.paused_until = max(self.paused_until, now + pause)
        self._quiet_since = self.paused_until

    def on_near_limit(self, now: float) -> None:
        if now - self._last_cut >= self.window / 4:
            self.share = max(MIN_SHARE, self.share * 0.8)
            self._last_cut = self._quiet_since = now

    def on_success(self) -> None:
        self._misses = 0


# --- the planner ---------------------------------------------------------------------------


@dataclass(slots=True)
class Ticket:
    """Admission of one request in its buckets; `sent()` stamps the real send time,
    `answered()` the time its answer came (until then the request counts as happening now)."""

    entries: list[_Entry]
    charges: dict[str, float]
    paced: float = 0.0  # seconds admission held the request back on our own pacing

    def sent(self, now: float) -> None:
        for entry in self.entries:
            entry.at = max(entry.at, now)

    def answered(self, now: float) -> None:
        for entry in self.entries:
            entry.at = max(entry.at, now)
            entry.pending = False


class Planner:
    """Every Graph request of the process passes here before it is sent."""

    def __init__(self, *, time_scale: float = 1.0, limits: Iterable[Limit] = DOCUMENTED_LIMITS,
                 clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.time_scale = time_scale
        self.buckets = {limit.name: Bucket(limit, time_scale) for limit in limits}
        self.follow_up = FOLLOW_UP_SECONDS * min(1.0, max(time_scale, 0.1))
        self._clock = clock
        self._sleep = sleep
        self._started = clock()

    def capacity(self, name: str) -> int:
        """Most units of bucket `name` one request (a `$batch`) may carry right now."""
        return int(self.buckets[name].capacity)

    async def admit(self, charges: dict[str, float], *,
                    priority: int = BACKGROUND_PRIORITY,
                    allowance: float | None = None) -> Ticket:
        """Wait until every bucket `charges` names has room and no request of a higher
        `priority` waits on it, then book it.

        Waiting has two causes, told apart in the ticket: our own pacing (a window full of
        our own requests at the documented limit, a higher priority's turn; `Ticket.paced`),
        which is not Graph failing the request and so never spends its retry deadline, and
        Graph's throttling (a pause after a 429, a share cut below the documented limit),
        which does: `BudgetDeadline` rather than wait on it longer than `allowance` seconds
        (what is left of the request's retry deadline)."""
        buckets = [(self.buckets[n], u) for n, u in charges.items() if n in self.buckets]
        names = tuple(bucket.limit.name for bucket, _ in buckets)
        for bucket, _ in buckets:
            waiters = bucket.waiting.setdefault(priority, {})
            waiters[names] = waiters.get(names, 0) + 1
        paced = paused = 0.0
        try:
            while True:
                now = self._clock()
                delays = [(bucket.delay(units, now), bucket) for bucket, units in buckets]
                wait, slowest = max(delays, default=(0.0, None), key=lambda d: d[0])
                yields = [bucket.limit.window * self.time_scale / 20
                          for bucket, _ in buckets if self._yields(bucket, priority, now)]
                if wait <= 0.0 and yields:  # making way is not waiting on a limit: not noted
                    await self._sleep(max(max(yields), 0.005))
                    paced += self._clock() - now
                    continue
                if wait <= 0.0 or slowest is None:
                    return Ticket([bucket.admit(units, now) for bucket, units in buckets],
                                  charges, paced)
                wait = max(wait, 0.005)
                graph_paused = slowest.throttled_at(now)
                if graph_paused and allowance is not None and paused + wait > allowance:
                    raise BudgetDeadline(wait)
                # One sleeper per bucket: the others queue on its lock and look again when it
                # wakes (on a virtual clock, concurrent sleeps would each advance time).
                async with slowest.sleeper:
                    woke = self._clock()
                    units = next(u for b, u in buckets if b is slowest)
                    wait = slowest.delay(units, woke)
                    if wait > 0.0:
                        slowest.note_wait(woke, woke + wait)
                        await self._sleep(wait)
                if graph_paused:
                    paused += self._clock() - now
                else:
                    paced += self._clock() - now
        finally:
            for bucket, _ in buckets:
                waiters = bucket.waiting[priority]
                waiters[names] -= 1
                if not waiters[names]:
                    del waiters[names]

    def expect_follow_up(self, charges: dict[str, float], priority: int) -> None:
        """A listing is about to ask for a page, or one came back with a next page to ask
        for: for `FOLLOW_UP_SECONDS` a lower priority leaves its buckets to it (see
        `_yields`), so its pages keep their slots in the window."""
        now = self._clock()
        names = tuple(n for n in charges if n in self.buckets)
        for name in names:
            self.buckets[name].recent[priority] = (now, names)

    def follow_up_done(self, charges: dict[str, float], priority: int) -> None:
        """The listing's last page came back: it holds nobody back any longer."""
        for name in charges:
            bucket = self.buckets.get(name)
            if bucket is not None:
                bucket.recent.pop(priority, None)

    async def admit_some(self, unit: dict[str, float], most: int, *,
                         priority: int = BACKGROUND_PRIORITY,
                         allowance: float | None = None) -> tuple[Ticket, int]:
        """Admit between 1 and `most` requests of `unit` charges each, as many as fit the
        moment the first does (`$batch` items, throttled one by one): a chunk sized up front
        would wait for the whole chunk's room and leave the slots freed before it unused.

        Slots that free moments after the first (within `GATHER_FRACTION` of the window: a
        listing page's and a chunk's answered a few hundred milliseconds apart) are waited for
        and taken too, or the chunks would keep that split window after window."""
        ticket = await self.admit(unit, priority=priority, allowance=allowance)
        if most <= 1:
            return ticket, 1
        scarce = [(self.buckets[n], u) for n, u in unit.items()
                  if n in self.buckets and u > 0 and self.buckets[n].scarce]
        now = self._clock()
        soon = max((b.freed_by(now, GATHER_FRACTION * b.window) for b, _ in scarce),
                   default=now)
        if soon > now:
            await self._sleep(soon - now)
            now = self._clock()
        fit = most - 1
        for name, units in unit.items():
            bucket = self.buckets.get(name)
            if bucket is not None and units > 0:
                fit = min(fit, max(0, math.floor((bucket.capacity - bucket._used(now)) / units)))
        if fit:
            for entry in ticket.entries:
                entry.units *= 1 + fit
            ticket.charges = {name: units * (1 + fit) for name, units in unit.items()}
        return ticket, 1 + fit

    def _yields(self, bucket: Bucket, priority: int, now: float) -> bool:
        """Whether a request of `priority` leaves `bucket` to a higher priority: one waits on
        it, or one was admitted moments ago (a listing's next page is on its way) and could go
        now as far as its other buckets are concerned.

        A higher priority held back by another of its buckets for longer than this bucket's
        window is not waiting on this one: a slot taken now is free again before it could use
        it (a `signInActivity` page that waits for its next minute leaves the reports window
        to the registration report until ten seconds before)."""
        if not bucket.scarce:
            return False
        horizon = bucket.window + bucket.margin  # how long a slot taken now stays taken
        for p, waiters in bucket.waiting.items():
            if p > priority and any(
                    self._others_open(bucket, names, now, horizon) for names in waiters):
                return True
        for p, (at, names) in bucket.recent.items():
            if p > priority and now - at < self.follow_up \
                    and self._others_open(bucket, names, now, 0.0):
                return True
        return False

    def _others_open(self, bucket: Bucket, names: tuple[str, ...], now: float,
                     within: float) -> bool:
        """Whether every bucket in `names` but `bucket` has room for one unit within `within`
        seconds."""
        return all(self.buckets[n].delay(1.0, now) <= within
                   for n in names if n != bucket.limit.name and n in self.buckets)

    def on_throttled(self, charges: dict[str, float], retry_after: float | None) -> None:
        """A 429 for a request that spent `charges`: blame its scarcest bucket."""
        bucket = self._scarcest(charges)
        if bucket is not None:
            bucket.on_throttled(retry_after, self._clock())

    def on_response(self, charges: dict[str, float], limit_percentage: float | None) -> None:
        now = self._clock()
        for name in charges:
            bucket = self.buckets.get(name)
            if bucket is not None:
                bucket.on_success()
        if limit_percentage is not None and limit_percentage >= NEAR_LIMIT \
                and DIRECTORY.name in charges:
            self.buckets[DIRECTORY.name].on_near_limit(now)

    def _scarcest(self, charges: dict[str, float]) -> Bucket | None:
        named = [self.buckets[n] for n in charges if n in self.buckets]
        return min(named, key=lambda b: b.limit.capacity / b.limit.window, default=None)

    def bounded_by(self) -> tuple[Bucket | None, float]:
        """The bucket that made requests wait longest, and how long (wall seconds)."""
        bucket = max(self.buckets.values(), key=lambda b: b.waited_seconds)
        return (bucket, bucket.waited_seconds) if bucket.waited_seconds > 0 else (None, 0.0)

    def summary(self) -> str:
        """e.g. "bounded by: signInActivity 10/min, 2 min 0 s waiting"."""
        bucket, waited = self.bounded_by()
        if bucket is None:
            return "bounded by: no Graph limit (no request waited)"
        throttled = f", {bucket.throttled} answered 429" if bucket.throttled else ""
        return f"bounded by: {bucket.limit.label}, {format_duration(waited)} waiting{throttled}"

    def figures(self) -> dict[str, dict[str, float]]:
        return {name: {"waited_seconds": round(b.waited_seconds, 3), "admitted": b.admitted,
                       "throttled": b.throttled, "share": round(b.share, 3)}
                for name, b in self.buckets.items() if b.admitted or b.throttled}


MFA_LOOKUP_INTERVAL_SECONDS = 900.0


def mfa_lookups_per_run(share: float, cap: int | None = None) -> int:
    """Per-user MFA lookups one run may make: `share` of the reports requests one 15-minute
    interval allows (5 per 10 s -> 450), at most `cap`. Each lookup is a reports request, so
    the share is also the most of a 15-minute schedule the lookups can add to a run's wall time,
    and what is left keeps the sign-in stream and the registration report on time."""
    allowed = math.floor(share * REPORTS.capacity * MFA_LOOKUP_INTERVAL_SECONDS / REPORTS.window)
    return allowed if cap is None else min(allowed, cap)


def format_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def chunk_by_budget(urls: Sequence[str], limit: int, capacity: Callable[[str], int]
                    ) -> list[list[int]]:
    """Indexes of `urls` in `$batch` chunks of at most `limit` items, none carrying more units of
    a bucket than `capacity(bucket)` (5 reports items, 1 Identity Protection item): Graph
    throttles each item on its own, so a bigger chunk would only buy 429s."""
    chunks: list[list[int]] = []
    current: list[int] = []
    load: dict[str, float] = {}
    for index, url in enumerate(urls):
        charges = charges_of(url)
        charges.pop(DIRECTORY.name, None)
        over = any(load.get(n, 0.0) + u > capacity(n) for n, u in charges.items())
        if current and (len(current) >= limit or over):
            chunks.append(current)
            current, load = [], {}
        current.append(index)
        add_charges(load, charges)
    if current:
        chunks.append(current)
    return chunks
