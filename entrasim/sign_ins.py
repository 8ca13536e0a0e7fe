"""The tenant's sign-in log: generated from the seed an hour at a time, only when a request
needs that hour; records tests add (late arrivals); the ground truth; and the keyset walk the
Graph route pages with.

Volume: interactive user sign-ins per 24 whole hours are exactly `round(users x
TenantSpec.sign_ins_per_user_per_day)`, spread over the hours of the day like office traffic;
non-interactive, service-principal and managed-identity volumes come from `SignInMix`. Each
(event type, hour) bucket is drawn from its own seeded RNG, so any hour can be built on its own
in a few milliseconds and a 10,000-user tenant's month of sign-ins never sits in memory: a
small LRU keeps the hours a listing is walking through. `SignInMix.late_fraction` makes a share
of generated records reach the log late (visible only `late_delay_seconds` after their
createdDateTime, on the simulator's clock); `SignInMix.live` keeps the log growing after
`sign_ins_until` as the clock advances. Both are off by default, so a quiet tenant stays quiet.

Assumptions, from Microsoft's documentation ("List signIns", "signIn resource type", "Microsoft
Graph service-specific throttling limits", "Analyze activity logs with Microsoft Graph"):
- v1.0 lists interactive user sign-ins only; `/beta` returns the others (non-interactive,
  service principal, managed identity) when filtered on `signInEventTypes`, and interactive
  ones without such a filter.
- Newest first (`createdDateTime` descending); default and maximum page size 1,000.
- Retention 30 days (Entra ID P1/P2): older records are not served.
- Records can become visible minutes to hours after their `createdDateTime`; a listing never
  shows a record before it is visible, and keyset paging means one that appears behind a
  listing's position is seen only by a later listing.
- Risk fields need P2: other tenants read "hidden" (and `riskState` "none").
- Users are the tenant's own (same id, UPN and display name as `/users`), taken when the
  tenant is generated; users that never signed in (per `signInActivity`) have no records.
"""

from __future__ import annotations

import bisect
import gc
import itertools
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from entrasim import sign_in_catalog as cat
from entrasim.spec import TenantSpec

if TYPE_CHECKING:
    from entrasim.tenant import User

Json = dict[str, Any]
Predicate = Callable[["SignIn"], bool]

EVENT_TYPES: tuple[str, ...] = ("interactiveUser", "nonInteractiveUser", "servicePrincipal", "managedIdentity")
INTERACTIVE, NON_INTERACTIVE, SERVICE_PRINCIPAL, MANAGED_IDENTITY = range(4)
RETENTION = timedelta(days=30)
HOUR = 3600
_CACHE_HOURS = 64
# Share of each hour of the day (UTC) in a day's sign-ins: office hours dominate.
_INTERACTIVE_SHAPE = (1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 7, 8, 9, 8, 7, 6, 4, 3, 2, 2, 1, 1, 1)
_NON_INTERACTIVE_SHAPE = tuple(w + 3 for w in _INTERACTIVE_SHAPE)
_FLAT_SHAPE = (1,) * 24
_MFA_METHODS = ("Mobile app notification", "Mobile app notification", "Text message",
                "FIDO2 security key", "Windows Hello for Business", "OATH verification code")
BETA_ONLY = frozenset({
    "signInEventTypes", "userType", "authenticationDetails", "authenticationMethodsUsed",
    "servicePrincipalId", "servicePrincipalName", "userAgent", "clientCredentialType",
    "managedServiceIdentity", "resourceTenantId", "homeTenantId",
})


class Actor(NamedTuple):
    """Who signed in: a user, or a service principal / managed identity (then `upn` is None)."""

    id: str
    upn: str | None
    display: str | None
    guest: bool
    enabled: bool


# deviceId, displayName, operatingSystem, browser, isCompliant, isManaged, trustType: an
# unmanaged device reads "" / False, or null where Graph did not evaluate it.
Device = tuple[str, str | None, str, str, bool | None, bool | None, str | None]


class Profile(NamedTuple):
    """A user's habits: where they usually are and the device they usually use."""

    home: cat.Location
    home_ip: str
    device: Device
    rich_device: Device  # the same device seen from a desktop or mobile app


class SignIn:
    """One record. `key` orders the log (time, then id); `overrides` are fields a test set."""

    __slots__ = (
        "actor", "app", "ca", "client", "corr", "device", "hidden_listings", "id", "ip", "key",
        "kind", "location", "mfa", "overrides", "resource", "risk", "status", "ts", "visible_at",
    )

    def __init__(self, ts: int, id: str, kind: int, actor: Actor, app: cat.App, resource: cat.Resource,
                 status: cat.Status, client: str, device: Device, location: cat.Location, ip: str,
                 corr: str, risk: tuple[str, tuple[str, ...]] | None,
                 ca: tuple[tuple[cat.Policy, str], ...], mfa: str | None) -> None:
        self.ts = ts
        self.id = id
        self.key = f"{ts:011d}|{id}"
        self.kind = kind
        self.actor = actor
        self.app = app
        self.resource = resource
        self.status = status
        self.client = client
        self.device = device
        self.location = location
        self.ip = ip
        self.corr = corr
        self.risk = risk
        self.ca = ca
        self.mfa = mfa
        self.overrides: Json | None = None
        self.visible_at = 0.0
        self.hidden_listings = 0

    def __repr__(self) -> str:
        return f"SignIn({self.id}, {iso_ts(self.ts)}, {EVENT_TYPES[self.kind]})"

    @property
    def event_type(self) -> str:
        return EVENT_TYPES[self.kind]

    def visible(self, now: float) -> bool:
        return self.visible_at <= now and self.hidden_listings <= 0

    def value(self, name: str) -> Any:
        """A top-level property as Graph would report it (a test's override wins)."""
        if self.overrides is not None and name in self.overrides:
            return self.overrides[name]
        return _FIELD_VALUES[name](self)


_HOUR_PREFIX: dict[int, str] = {}


def iso_ts(ts: int) -> str:
    """Graph's form, whole seconds: "2026-11-30T02:20:43Z" (the hour's prefix is cached)."""
    hour, rest = divmod(ts, HOUR)
    prefix = _HOUR_PREFIX.get(hour)
    if prefix is None:
        t = time.gmtime(hour * HOUR)
        prefix = _HOUR_PREFIX[hour] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:"
    minute, second = divmod(rest, 60)
    return f"{prefix}{minute:02d}:{second:02d}Z"


def _guid(n: int) -> str:
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[n & 3]}{h[17:20]}-{h[20:32]}"


def _record_id(rng: random.Random, hour: int, kind: int) -> str:
    """A GUID whose last group ends with the hour and event type, so `GET /signIns/{id}` can
    rebuild the bucket it came from; the rest is random like Graph's ids."""
    h = f"{rng.getrandbits(80):020x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{rng.getrandbits(16):04x}{hour:07x}{kind:x}"


def _split(total: int, shape: Sequence[int]) -> tuple[int, ...]:
    """`total` split over the 24 hours of a day in proportion to `shape` (largest remainder)."""
    weight = sum(shape)
    exact = [total * w / weight for w in shape]
    counts = [int(x) for x in exact]
    order = sorted(range(24), key=lambda i: (counts[i] - exact[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return tuple(counts)


def _ip(rng: random.Random, prefix: str) -> str:
    if ":" in prefix:
        return f"{prefix}{rng.randrange(65536):x}::{rng.randrange(1, 65536):x}"
    return f"{prefix}{rng.randrange(256)}.{rng.randrange(1, 255)}"


class SignInLog:
    """Thread-safe. The tenant builds one; `SimulatedGraph` serves it; tests read and add."""

    def __init__(self, spec: TenantSpec, users: Sequence[User]) -> None:
        self.spec = spec
        self.lock = threading.RLock()
        until = spec.sign_ins_until or datetime.now(UTC).replace(microsecond=0)
        self.until = until.astimezone(UTC)
        self._until_ts = int(self.until.timestamp())
        self._started = time.monotonic()
        signed_in = [u for u in users if u.last_sign_in is not None] or list(users)
        self._actors = [Actor(u.id, u.upn, u.display, u.is_guest, u.enabled) for u in signed_in]
        self._members = [a for a in self._actors if not a.guest] or self._actors
        self._profiles: dict[str, Profile] = {}
        # user id -> (deviceId, displayName, operatingSystem, isCompliant, isManaged, trustType)
        # of the directory device they sign in from (set by the tenant; see entrasim.devices).
        self.device_of: Callable[[str], tuple[str, str, str, bool | None, bool, str] | None] | None = None
        mix = spec.sign_in_mix
        self._per_hour = (
            _split(round(spec.users * spec.sign_ins_per_user_per_day), _INTERACTIVE_SHAPE),
            _split(round(spec.users * mix.non_interactive_per_user_per_day), _NON_INTERACTIVE_SHAPE),
            _split(mix.service_principal_per_day, _FLAT_SHAPE),
            _split(mix.managed_identity_per_day, _FLAT_SHAPE),
        )
        self._service_principals: list[Actor] = []
        self._cache: OrderedDict[tuple[int, int], tuple[list[SignIn], list[str]]] = OrderedDict()
        self._added: dict[int, list[SignIn]] = {}  # hour -> records sorted by key
        self._added_by_id: dict[str, SignIn] = {}
        self._pending: list[SignIn] = []
        self._added_count = 0
        self.listings = 0

    def set_service_principals(self, principals: Iterable[tuple[str, str, str]]) -> None:
        """(object id, app id, name) of the tenant's service principals, for their sign-ins."""
        self._service_principals = [Actor(oid, app_id, name, False, True) for oid, app_id, name in principals]

    # ---- clock ------------------------------------------------------------------------
    def now_ts(self) -> float:
        """The simulator's clock: the end of the generated history plus the time since."""
        return self._until_ts + (time.monotonic() - self._started)

    def now(self) -> datetime:
        return datetime.fromtimestamp(int(self.now_ts()), UTC)

    def retention_start(self) -> float:
        return self.now_ts() - RETENTION.total_seconds()

    # ---- generation -------------------------------------------------------------------
    def _bucket(self, kind: int, hour: int) -> tuple[list[SignIn], list[str]]:
        """The generated records of one event type in one hour, sorted, with their keys."""
        with self.lock:
            cached = self._cache.get((kind, hour))
            if cached is not None:
                self._cache.move_to_end((kind, hour))
                return cached
        records = self._generate(kind, hour)
        records.sort(key=lambda r: r.key)
        entry = (records, [r.key for r in records])
        # As for the directory (see Tenant): records hold no cycles, so reference counting frees
        # an evicted hour; keeping them out of the collector's full passes avoids pauses of
        # hundreds of milliseconds in the middle of a page.
        gc.freeze()
        with self.lock:
            self._cache[(kind, hour)] = entry
            while len(self._cache) > _CACHE_HOURS:
                self._cache.popitem(last=False)
        return entry

    def _generate(self, kind: int, hour: int) -> list[SignIn]:
        """One bucket. A record becomes visible (on `time.monotonic()`) when the simulator's
        clock reaches its createdDateTime plus its lateness: history before `until` at once
        unless late, the live tail as the clock gets there."""
        start = hour * HOUR
        mix = self.spec.sign_in_mix
        if start > self._until_ts and not mix.live:
            return []
        count = self._per_hour[kind][time.gmtime(start).tm_hour]
        if count == 0:
            return []
        rng = random.Random(f"signins:{self.spec.seed}:{kind}:{hour}")
        make = (self._interactive, self._non_interactive, self._service_principal, self._managed_identity)[kind]
        limit = HOUR if mix.live else self._until_ts - start
        late = mix.late_fraction
        shortest, longest = mix.late_delay_seconds
        base = self._started - self._until_ts  # monotonic time = base + simulator time
        out = []
        for _ in range(count):
            offset = rng.randrange(HOUR)
            rec = make(rng, start + offset, hour)
            if rec is None or offset > limit:
                continue
            delay = shortest + rng.random() * (longest - shortest) if late and rng.random() < late else 0.0
            rec.visible_at = base + rec.ts + delay
            out.append(rec)
        return out

    def profile(self, actor: Actor) -> Profile:
        found = self._profiles.get(actor.id)
        if found is not None:
            return found
        rng = random.Random(f"profile:{self.spec.seed}:{actor.id}")
        home = rng.choice(cat.HOME_LOCATIONS)
        r = rng.random()
        if r < 0.55:
            os_name, browser, prefix, trust = rng.choice(cat.DESKTOPS)
            name = prefix + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=7))
            device: Device = (_guid(rng.getrandbits(128)), name, os_name, browser, True, True, trust)
        elif r < 0.65:
            os_name, browser, prefix, trust = rng.choice(cat.DESKTOPS)
            name = prefix + "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=7))
            device = (_guid(rng.getrandbits(128)), name, os_name, browser, False, True, trust)
        elif r < 0.8:
            os_name, browser = rng.choice(cat.MOBILES)
            name = rng.choice(("iPhone", "Galaxy S24", "Pixel 8", "iPad"))
            device = (_guid(rng.getrandbits(128)), name, os_name, browser, rng.random() < 0.6, False,
                      "Azure AD registered")
        else:
            device = rng.choice(_UNMANAGED_DEVICES)
        owned = self.device_of(actor.id) if self.device_of is not None else None
        if owned is not None:  # the draws above still happen: other users' profiles stay put
            device = (*owned[:3], device[3] or cat.RICH_CLIENT, *owned[3:])
        elif self.device_of is not None and device[0]:
            # no device of theirs in the directory (a guest): Graph names none
            device = ("", "", device[2], device[3], False, False, "")
        rich = (*device[:3], cat.RICH_CLIENT, *device[4:]) if device[0] else device
        home_ip = _ip(rng, rng.choice(cat.IPV6_PREFIXES) if rng.random() < 0.15 else home.ip_prefix)
        made = Profile(home, home_ip, device, rich)
        with self.lock:
            self._profiles[actor.id] = made
        return made

    def _where(self, rng: random.Random, profile: Profile) -> tuple[cat.Location, str]:
        r = rng.random()
        if r < 0.88:
            return profile.home, profile.home_ip
        if r < 0.98:
            place = rng.choice(cat.TRAVEL_LOCATIONS if r < 0.93 else cat.HOME_LOCATIONS)
            return place, _ip(rng, place.ip_prefix)
        return cat.UNKNOWN_LOCATION, _ip(rng, cat.UNKNOWN_LOCATION.ip_prefix)

    def _interactive(self, rng: random.Random, ts: int, hour: int, actor: Actor | None = None,
                     error_code: int | None = None) -> SignIn:
        rand = rng.random
        actors = self._actors
        actor = actor or actors[int(rand() * len(actors))]
        profile = self.profile(actor)
        app = _USER_APPS[bisect.bisect(_APP_WEIGHTS, rand() * _APP_WEIGHTS[-1])]
        legacy = rand() < 0.02
        if legacy:
            client = cat.LEGACY_CLIENTS[int(rand() * len(cat.LEGACY_CLIENTS))]
        else:
            client = cat.MODERN_CLIENTS[1] if app.native and rand() < 0.8 else cat.MODERN_CLIENTS[0]
        if rand() < 0.8:
            device = profile.device if client == "Browser" else profile.rich_device
        else:
            device = _UNMANAGED_DEVICES[int(rand() * len(_UNMANAGED_DEVICES))]
        location, ip = self._where(rng, profile)
        risk = None
        mix = self.spec.sign_in_mix
        if rand() < mix.risky_rate:
            _, level, events = cat.RISKS[bisect.bisect(_RISK_WEIGHTS, rand() * _RISK_WEIGHTS[-1])]
            risk = (level, events)
        mfa: str | None = None
        if error_code is not None:
            status = cat.STATUS_BY_CODE.get(error_code) or cat.Status(error_code, "Other.", None)
        elif not actor.enabled:
            status = cat.DISABLED
        elif legacy:
            status = cat.BLOCKED_LEGACY if rand() < 0.7 else cat.FAILURES[0][1]
        elif rand() < mix.failure_rate:
            status = cat.FAILURES[bisect.bisect(_FAILURE_WEIGHTS, rand() * _FAILURE_WEIGHTS[-1])][1]
        elif rand() < 0.55 or risk is not None:
            status = cat.SUCCESS_MFA_DONE if rand() < 0.5 else cat.SUCCESS_MFA_CLAIM
            mfa = _MFA_METHODS[int(rand() * len(_MFA_METHODS))]
        else:
            status = cat.SUCCESS
        ca = _policies(legacy, status.code, mfa is not None, app.resource is cat.AZURE_MANAGEMENT,
                       bool(device[4]), risk is not None and risk[0] != "low")
        return SignIn(ts, _record_id(rng, hour, INTERACTIVE), INTERACTIVE, actor, app, app.resource,
                      status, client, device, location, ip, _guid(rng.getrandbits(128)), risk, ca, mfa)

    def _non_interactive(self, rng: random.Random, ts: int, hour: int, actor: Actor | None = None,
                         error_code: int | None = None) -> SignIn:
        actor = actor or rng.choice(self._members)
        profile = self.profile(actor)
        app = rng.choice(cat.NATIVE_APPS)
        location, ip = (profile.home, profile.home_ip) if rng.random() < 0.95 else self._where(rng, profile)
        if error_code is not None:
            status = cat.STATUS_BY_CODE.get(error_code) or cat.Status(error_code, "Other.", None)
        elif not actor.enabled:
            status = cat.DISABLED
        elif rng.random() < 0.03:
            status = rng.choices(cat.NON_INTERACTIVE_FAILURES, cum_weights=_NI_FAILURE_WEIGHTS)[0][1]
        else:
            status = cat.SUCCESS_MFA_CLAIM if rng.random() < 0.5 else cat.SUCCESS
        device = profile.rich_device
        return SignIn(ts, _record_id(rng, hour, NON_INTERACTIVE), NON_INTERACTIVE, actor, app, app.resource,
                      status, cat.MODERN_CLIENTS[1], device, location, ip, _guid(rng.getrandbits(128)),
                      None, (), "Previously satisfied" if status.details else None)

    def _service_principal(self, rng: random.Random, ts: int, hour: int, actor: Actor | None = None,
                           error_code: int | None = None) -> SignIn | None:
        if actor is None:
            if not self._service_principals:
                return None
            actor = rng.choice(self._service_principals)
        app = cat.App(actor.upn or "", actor.display or "", cat.GRAPH, 1, False)
        if error_code is not None:
            status = cat.STATUS_BY_CODE.get(error_code) or cat.Status(error_code, "Other.", None)
        else:
            status = cat.INVALID_CLIENT_SECRET if rng.random() < 0.02 else cat.SUCCESS
        return SignIn(ts, _record_id(rng, hour, SERVICE_PRINCIPAL), SERVICE_PRINCIPAL, actor, app, cat.GRAPH,
                      status, "", _NO_DEVICE, cat.DATACENTRE, _ip(rng, cat.DATACENTRE.ip_prefix),
                      _guid(rng.getrandbits(128)), None, (), None)

    def _managed_identity(self, rng: random.Random, ts: int, hour: int, actor: Actor | None = None,
                          error_code: int | None = None) -> SignIn:
        name, resource = rng.choice(cat.MANAGED_IDENTITIES)
        if actor is None:
            seed = self.spec.seed
            actor = Actor(_guid(hash_int(f"mi:{seed}:{name}")), _guid(hash_int(f"mi-app:{seed}:{name}")), name, False, True)
        app = cat.App(actor.upn or "", actor.display or "", resource, 1, False)
        status = (cat.STATUS_BY_CODE.get(error_code) or cat.Status(error_code, "Other.", None)) if error_code else cat.SUCCESS
        return SignIn(ts, _record_id(rng, hour, MANAGED_IDENTITY), MANAGED_IDENTITY, actor, app, resource,
                      status, "", _NO_DEVICE, cat.DATACENTRE, _ip(rng, cat.DATACENTRE.ip_prefix),
                      _guid(rng.getrandbits(128)), None, (), None)

    # ---- records tests add -------------------------------------------------------------
    def add(self, actor: Actor | None, *, created: datetime | None = None, kind: int = INTERACTIVE,
            error_code: int | None = None, visible_after_seconds: float = 0.0,
            visible_after_listings: int = 0, fields: Json | None = None) -> SignIn:
        with self.lock:
            self._added_count += 1
            rng = random.Random(f"added:{self.spec.seed}:{self._added_count}")
            ts = int(created.timestamp()) if created is not None else int(self.now_ts())
            make = (self._interactive, self._non_interactive, self._service_principal, self._managed_identity)[kind]
            if kind == SERVICE_PRINCIPAL and actor is None and not self._service_principals:
                raise ValueError("the tenant has no service principal to sign in")
            rec = make(rng, ts, ts // HOUR, actor, error_code)
            assert rec is not None
            if fields:
                unknown = (set(fields) - set(_FIELD_VALUES) - BETA_ONLY) | ({"id", "createdDateTime"} & set(fields))
                if unknown:
                    raise ValueError(f"cannot set {sorted(unknown)} (use created= for the time)")
                rec.overrides = dict(fields)
            rec.visible_at = time.monotonic() + visible_after_seconds
            if visible_after_listings > 0:
                rec.hidden_listings = visible_after_listings + 1  # counted down as a listing starts
                self._pending.append(rec)
            bucket = self._added.setdefault(ts // HOUR, [])
            bisect.insort(bucket, rec, key=lambda r: r.key)
            self._added_by_id[rec.id] = rec
            return rec

    def release(self) -> int:
        """Every late record becomes visible now; returns how many were waiting."""
        now = time.monotonic()
        with self.lock:
            waiting = [r for r in self._added_by_id.values() if not r.visible(now)]
            for rec in waiting:
                rec.visible_at = 0.0
                rec.hidden_listings = 0
            self._pending = []
            return len(waiting)

    def note_listing(self) -> None:
        """A listing (a request without `$skiptoken`) began: late records count down."""
        with self.lock:
            self.listings += 1
            for rec in self._pending:
                rec.hidden_listings -= 1
            self._pending = [r for r in self._pending if r.hidden_listings > 0]

    # ---- reading -----------------------------------------------------------------------
    def _hour(self, kinds: Sequence[int], hour: int) -> tuple[list[SignIn], list[str]]:
        added = self._added.get(hour)
        if len(kinds) == 1 and not added:
            return self._bucket(kinds[0], hour)
        merged: list[SignIn] = []
        for kind in kinds:
            merged.extend(self._bucket(kind, hour)[0])
        if added:
            with self.lock:
                merged.extend(r for r in added if r.kind in kinds)
        merged.sort(key=lambda r: r.key)
        return merged, [r.key for r in merged]

    def walk(self, kinds: Sequence[int], *, lo: float | None = None, hi: float | None = None,
             after: str | None = None, ascending: bool = False,
             visible_only: bool = True) -> Iterator[SignIn]:
        """Records of these event types with lo <= createdDateTime <= hi, within retention,
        strictly after the key `after` in the walk's order (newest first unless ascending)."""
        now = time.monotonic()
        floor = self.retention_start()
        lo = floor if lo is None else max(lo, floor)
        with self.lock:
            top_added = max(self._added, default=0)
        newest = int(self.now_ts()) if self.spec.sign_in_mix.live else self._until_ts
        hi_hour = max(newest // HOUR, top_added)
        if hi is not None:
            hi_hour = min(hi_hour, int(hi) // HOUR)
        lo_hour = int(lo) // HOUR
        if lo_hour > hi_hour:
            return
        if after is not None:
            cursor_hour = int(after[:11]) // HOUR
            if ascending:
                lo_hour = max(lo_hour, cursor_hour)
            else:
                hi_hour = min(hi_hour, cursor_hour)
        hours = range(lo_hour, hi_hour + 1) if ascending else range(hi_hour, lo_hour - 1, -1)
        for hour in hours:
            records, keys = self._hour(kinds, hour)
            if ascending:
                start = bisect.bisect_right(keys, after) if after is not None else 0
                chosen: Iterable[SignIn] = records[start:]
            else:
                end = bisect.bisect_left(keys, after) if after is not None else len(records)
                chosen = reversed(records[:end])
            for rec in chosen:
                if rec.ts < lo or (hi is not None and rec.ts > hi):
                    continue
                if visible_only and not rec.visible(now):
                    continue
                yield rec

    def find(self, record_id: str) -> SignIn | None:
        with self.lock:
            added = self._added_by_id.get(record_id)
        if added is not None:
            return added
        tail = record_id.rsplit("-", 1)[-1].lower()
        if len(tail) != 12:
            return None
        try:
            hour, kind = int(tail[4:11], 16), int(tail[11], 16)
        except ValueError:
            return None
        if kind >= len(EVENT_TYPES):
            return None
        records, _ = self._bucket(kind, hour)
        return next((r for r in records if r.id == record_id), None)

    # ---- Graph JSON ----------------------------------------------------------------------
    def render(self, rec: SignIn, version: str = "v1.0", select: Sequence[str] | None = None) -> Json:
        out = _render(rec, self.spec.licence == "P2", version == "beta", self.spec.tenant_id)
        if rec.overrides:
            for name, value in rec.overrides.items():
                if version == "beta" or name not in BETA_ONLY:
                    out[name] = value
        if select:
            return {name: out.get(name) for name in select}
        return out


def _risk_json(risk: tuple[str, tuple[str, ...]] | None, p2: bool) -> Json:
    """Risk needs P2: other licences read "hidden"."""
    if not p2:
        detail = level = "hidden"
        state, events = "none", list[str]()
    elif risk is None:
        detail = level = state = "none"
        events = []
    else:
        detail, level, state, events = "none", risk[0], "atRisk", list(risk[1])
    return {"riskDetail": detail, "riskLevelAggregated": level, "riskLevelDuringSignIn": level,
            "riskState": state, "riskEventTypes": events, "riskEventTypes_v2": list(events)}


def hash_int(text: str) -> int:
    return random.Random(text).getrandbits(128)


_NO_DEVICE: Device = ("", "", "", "", False, False, "")
_UNMANAGED_DEVICES: tuple[Device, ...] = (
    *(("", "", o, b, False, False, "") for o, b in cat.UNMANAGED),
    *(("", None, o, b, None, None, None) for o, b in cat.UNMANAGED[:3]),
)
_USER_APPS = cat.USER_APPS
_POLICY_CACHE: dict[tuple[bool, int, bool, bool, bool, bool], tuple[tuple[cat.Policy, str], ...]] = {}


def _policies(legacy: bool, code: int, mfa: bool, azure: bool, compliant: bool,
              risky: bool) -> tuple[tuple[cat.Policy, str], ...]:
    """The conditional-access outcome of a sign-in: which policies applied and how."""
    key = (legacy, code, mfa, azure, compliant, risky)
    found = _POLICY_CACHE.get(key)
    if found is not None:
        return found
    mfa_policy, legacy_policy, device_policy, risk_policy, disabled_policy = cat.POLICIES
    ca: list[tuple[cat.Policy, str]] = []
    if code in (50057, 50126, 50053, 50055):  # failed before conditional access ran
        ca = [(p, "notApplied") for p in cat.POLICIES[:4]]
    else:
        ca.append((legacy_policy, "failure" if legacy and code == 53003 else "notApplied"))
        ca.append((mfa_policy, "success" if mfa else ("failure" if code in (50074, 50076, 500121) else "notApplied")))
        if azure:
            ca.append((device_policy, "success" if compliant else "failure"))
        if risky:
            ca.append((risk_policy, "success" if mfa else "failure"))
        if code == 53003 and not any(r == "failure" for _, r in ca):
            ca.append((device_policy, "failure"))
    ca.append((disabled_policy, "notEnabled"))
    made = _POLICY_CACHE[key] = tuple(ca)
    return made
_APP_WEIGHTS = tuple(itertools.accumulate(a.weight for a in cat.USER_APPS))
_FAILURE_WEIGHTS = tuple(itertools.accumulate(w for w, _ in cat.FAILURES))
_NI_FAILURE_WEIGHTS = tuple(itertools.accumulate(w for w, _ in cat.NON_INTERACTIVE_FAILURES))
_RISK_WEIGHTS = tuple(itertools.accumulate(w for w, _, _ in cat.RISKS))


def _ca_status(rec: SignIn) -> str:
    results = [r for _, r in rec.ca]
    if "failure" in results:
        return "failure"
    if "success" in results:
        return "success"
    return "notApplied"


def _requirement(rec: SignIn) -> str:
    return "multiFactorAuthentication" if rec.mfa else "singleFactorAuthentication"


_FIELD_VALUES: dict[str, Callable[[SignIn], Any]] = {
    "id": lambda r: r.id,
    "createdDateTime": lambda r: iso_ts(r.ts),
    "userDisplayName": lambda r: r.actor.display if r.kind <= NON_INTERACTIVE else None,
    "userPrincipalName": lambda r: r.actor.upn if r.kind <= NON_INTERACTIVE else None,
    "userId": lambda r: r.actor.id if r.kind <= NON_INTERACTIVE else "",
    "appId": lambda r: r.app.id,
    "appDisplayName": lambda r: r.app.name,
    "ipAddress": lambda r: r.ip,
    "clientAppUsed": lambda r: r.client,
    "correlationId": lambda r: r.corr,
    "conditionalAccessStatus": _ca_status,
    "isInteractive": lambda r: r.kind == INTERACTIVE,
    "resourceDisplayName": lambda r: r.resource.name,
    "resourceId": lambda r: r.resource.id,
    "authenticationRequirement": _requirement,
    "status": lambda r: _status_json(r.status),
    "deviceDetail": lambda r: _device_json(r.device),
    "location": lambda r: _location_json(r.location),
    "appliedConditionalAccessPolicies": lambda r: _policies_json(r.ca),
    "riskDetail": lambda r: "none",
    "riskLevelAggregated": lambda r: r.risk[0] if r.risk else "none",
    "riskLevelDuringSignIn": lambda r: r.risk[0] if r.risk else "none",
    "riskState": lambda r: "atRisk" if r.risk else "none",
    "riskEventTypes": lambda r: list(r.risk[1]) if r.risk else [],
    "riskEventTypes_v2": lambda r: list(r.risk[1]) if r.risk else [],
}
V1_PROPERTIES: tuple[str, ...] = tuple(_FIELD_VALUES)
BETA_PROPERTIES: tuple[str, ...] = (*V1_PROPERTIES, *sorted(BETA_ONLY))


# Rendered sub-objects are shared between records (they are built once per distinct value),
# so JSON handed out is read-only: copy before changing it.
_JSON_CACHE: dict[object, Any] = {}


def _device_json(d: Device) -> Json:
    found = _JSON_CACHE.get(d)
    if found is None:
        found = {"deviceId": d[0], "displayName": d[1], "operatingSystem": d[2], "browser": d[3],
                 "isCompliant": d[4], "isManaged": d[5], "trustType": d[6]}
        if not d[0]:  # anonymous devices are a few shared values; named ones are per user
            _JSON_CACHE[d] = found
    return found  # type: ignore[no-any-return]


def _location_json(loc: cat.Location) -> Json:
    found = _JSON_CACHE.get(loc)
    if found is None:
        found = _JSON_CACHE[loc] = {
            "city": loc.city, "state": loc.state, "countryOrRegion": loc.country,
            "geoCoordinates": {"altitude": None, "latitude": loc.latitude, "longitude": loc.longitude}}
    return found  # type: ignore[no-any-return]


def _status_json(status: cat.Status) -> Json:
    found = _JSON_CACHE.get(status)
    if found is None:
        found = _JSON_CACHE[status] = {"errorCode": status.code, "failureReason": status.reason,
                                       "additionalDetails": status.details}
    return found  # type: ignore[no-any-return]


def _policies_json(ca: tuple[tuple[cat.Policy, str], ...]) -> list[Json]:
    found = _JSON_CACHE.get(ca)
    if found is None:
        found = _JSON_CACHE[ca] = [_policy_json(p, res) for p, res in ca]
    return found  # type: ignore[no-any-return]


def _policy_json(policy: cat.Policy, result: str) -> Json:
    return {"id": policy.id, "displayName": policy.name,
            "enforcedGrantControls": list(policy.grant) if result in ("success", "failure") else [],
            "enforcedSessionControls": [], "result": result}


def _render(r: SignIn, p2: bool, beta: bool, tenant_id: str) -> Json:
    user = r.kind <= NON_INTERACTIVE
    actor = r.actor
    status = r.status
    risk = r.risk
    out: Json = {
        "id": r.id,
        "createdDateTime": iso_ts(r.ts),
        "userDisplayName": actor.display if user else None,
        "userPrincipalName": actor.upn if user else None,
        "userId": actor.id if user else "",
        "appId": r.app.id,
        "appDisplayName": r.app.name,
        "ipAddress": r.ip,
        "clientAppUsed": r.client,
        "correlationId": r.corr,
        "conditionalAccessStatus": _ca_status(r),
        "isInteractive": r.kind == INTERACTIVE,
        **_risk_json(risk, p2),
        "resourceDisplayName": r.resource.name,
        "resourceId": r.resource.id,
        "status": _status_json(status),
        "deviceDetail": _device_json(r.device),
        "location": _location_json(r.location),
        "appliedConditionalAccessPolicies": _policies_json(r.ca),
        "authenticationRequirement": _requirement(r),
    }
    if beta:
        out["signInEventTypes"] = [EVENT_TYPES[r.kind]]
        out["userType"] = ("guest" if actor.guest else "member") if user else None
        out["servicePrincipalId"] = "" if user else actor.id
        out["servicePrincipalName"] = None if user else actor.display
        out["resourceTenantId"] = tenant_id
        out["homeTenantId"] = tenant_id
        out["userAgent"] = _user_agent(r) if r.kind == INTERACTIVE else ""
        out["clientCredentialType"] = ("clientSecret" if r.kind == SERVICE_PRINCIPAL else
                                       "managedIdentity" if r.kind == MANAGED_IDENTITY else "none")
        out["managedServiceIdentity"] = {
            "msiType": "systemAssigned" if r.kind == MANAGED_IDENTITY else "none",
            "associatedResourceId": None, "federatedTokenId": None, "federatedTokenIssuer": None,
        }
        steps = [_step(r, "Password", "Password in the cloud", "Primary authentication",
                       status.code not in (50126, 50053, 50055))] if r.kind == INTERACTIVE else []
        if r.mfa:
            steps.append(_step(r, r.mfa, "", "MFA", True))
        elif status.code == 500121:
            steps.append(_step(r, "Mobile app notification", "", "MFA", False))
        out["authenticationDetails"] = steps
        out["authenticationMethodsUsed"] = [s["authenticationMethod"] for s in steps if s["succeeded"]]
    return out


def _step(r: SignIn, method: str, detail: str, requirement: str, succeeded: bool) -> Json:
    return {"authenticationStepDateTime": iso_ts(r.ts), "authenticationMethod": method,
            "authenticationMethodDetail": detail, "succeeded": succeeded,
            "authenticationStepResultDetail": "Correct password" if succeeded and requirement != "MFA"
            else ("MFA successfully completed" if succeeded else (r.status.reason or "")),
            "authenticationStepRequirement": requirement}


_AGENTS = {
    "Windows10": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/132.0.0.0 Safari/537.36 Edg/132.0.0.0",
    "MacOs": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Ios": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Android": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
}


def _user_agent(r: SignIn) -> str:
    return _AGENTS.get(r.device[2], "")
