"""The sign-in stream: sign-in logs as OCSF Authentication events, incremental and late-arrival safe.

Sign-ins appear in Graph minutes to hours after `createdDateTime`, so the cursor never simply
moves to "now". Each run lists one window, `[since, until]`, newest first (Graph's only order):

- `until` is the run's start (whole seconds); `since` is the last complete run's `until` minus
  `overlap_minutes` (a first run: `until - lookback_days`; never older than Graph's 30 days).
- Ids already delivered inside the overlap are remembered in the checkpoint (`seen`: id and
  created second), so the re-read overlap yields exactly the late arrivals.
- Stragglers: Microsoft documents 2 min (95th percentile) and 5 min (99th) of latency, but
  practitioners measure tails of tens of minutes and more (non-interactive sign-ins are slower).
  Every `deep_reread_minutes` a run is a **deep re-read**: its `since` also reaches back to
  `deep_overlap_minutes` before the previous deep re-read (`deep_until`). A sign-in listed at
  most `deep_overlap_minutes` after it happened is then delivered by the first deep re-read
  after it became visible: the deep re-read before that one ran before it became visible, so
  less than `deep_overlap_minutes` after it happened, and the window reaches that far back.
  `seen` keeps the ids created since `min(until - overlap, deep_until - deep_overlap)` (the next
  deep re-read's `since`), so a straggler is delivered once and nothing is delivered twice.
  Memory and checkpoint size are bounded by that window (at 55,000 sign-ins a day and the
  defaults, about 3.75 h: some 9,000 ids, ~50 bytes each in the checkpoint), never by history.
  A sign-in that appears later than `deep_overlap_minutes` after it happened is missed.

Crash safety inside a run. The listing is newest first, so once a batch is delivered, everything
the listing returned between `until` and the oldest record handled so far (`low`) is delivered.
Each batch's checkpoint carries that resume point: `low` (a whole second), the ids already
handled in that second (`edge_ids`: the next listing includes that second again), and the ids
delivered in this run inside the next overlap (`recent`). A process killed after delivering a
batch but before committing it re-delivers exactly that batch; the resumed run lists
`[since, low + 1 s)` and skips what the checkpoint names, so nothing is lost and nothing else
is repeated. An expired page token restarts the listing from the same resume point. Should
Graph ever list out of order, the resume point stops moving (a resumed run re-reads the whole
window: at-least-once, duplicates possible) and a warning says so.

Checkpoint (under `"sign_ins"` in the state file):
`{"version": 1, "tenant_id", "cursor": "...Z" | null, "deep_until": "...Z" | null,
  "seen": [[id, epoch_s], ...],
  "in_progress": null | {"since", "until", "deep_until", "low": "...Z" | null, "edge_ids": [...],
  "recent": [[id, epoch_s], ...]}}` (`deep_until` absent in checkpoints written before the deep
re-read: the cursor stands in for it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connector.graph.client import GraphClient, GraphError
from connector.graph.dates import parse_graph_datetime
from connector.graph.odata import is_refusal, odata_datetime, refusal_reason
from connector.graph.permissions import Grants
from connector.graph.sign_ins import SignInQuery, sign_in_pages, whole_second
from connector.ocsf import authentication as ocsf
from connector.ocsf.common import MappingError, Product
from connector.streams.base import Restarts, Skips, usable_checkpoint
from connector.streams.batch import Batch

__all__ = ["RETENTION", "STREAM", "SignInCollection", "SignInSummary"]

log = logging.getLogger(__name__)

STREAM = "sign_ins"
CHECKPOINT_VERSION = 1
RETENTION = timedelta(days=30)
SKIPPED_KEPT = 100
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True, slots=True)
class SkippedSignIn:
    sign_in_id: str | None
    reason: str


@dataclass(slots=True)
class SignInSummary:
    """What one sign-in run did, for the CLI's stderr, the runtime's logs and the benchmarks."""

    mode: str = "first"  # first | incremental | resumed | skipped
    deep: bool = False  # this run was a deep re-read (stragglers)
    since: str | None = None
    until: str | None = None
    listed: int = 0
    events: int = 0
    already_delivered: int = 0
    skipped: Skips[SkippedSignIn] = field(default_factory=lambda: Skips(SKIPPED_KEPT))
    pages: int = 0
    listing_restarts: int = 0
    duration_seconds: float = 0.0
    degraded: dict[str, str] = field(default_factory=dict)
    completed: bool = False

    @property
    def skipped_count(self) -> int:
        return self.skipped.total

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "deep_reread": self.deep, "since": self.since, "until": self.until, "listed": self.listed,
            "events": self.events, "already_delivered": self.already_delivered,
            "skipped_count": self.skipped_count,
            "skipped": [{"sign_in_id": s.sign_in_id, "reason": s.reason} for s in self.skipped],
            "graph_pages": self.pages, "listing_restarts": self.listing_restarts,
            "duration_seconds": round(self.duration_seconds, 3),
            "degraded": dict(self.degraded), "completed": self.completed,
        }

    def lines(self) -> list[str]:
        """A short human summary (the CLI prints it on stderr)."""
        if self.mode == "skipped":
            return [f"sign-ins not collected: {reason}" for reason in self.degraded.values()]
        mode = f"{self.mode}, deep re-read" if self.deep else self.mode
        out = [f"sign-ins ({mode}, {self.since} .. {self.until}): {self.events} events from "
               f"{self.listed} listed in {self.pages} Graph pages, {self.duration_seconds:.1f} s"]
        if self.already_delivered:
            out.append(f"sign-ins not emitted: {self.already_delivered} already delivered")
        if self.skipped.total:
            out.append(self.skipped.shown([s.sign_in_id for s in self.skipped],
                                          "sign-in records"))
        return out


def _epoch_seconds(value: Any) -> int | None:
    moment = parse_graph_datetime(value)
    return int(moment.timestamp()) if moment is not None else None


def _pairs(raw: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    if isinstance(raw, list):
        for item in raw:
            if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and type(item[1]) is int):
                out[item[0]] = item[1]
    return out


@dataclass(slots=True)
class Window:
    """One run's window and how far down it the delivered batches reach (module docstring)."""

    since: datetime
    until: datetime
    keep_from: int  # epoch second: ids created since are remembered (the next runs re-read it)
    deep_until: datetime | None  # the last deep re-read, this one included
    seen: dict[str, int]  # delivered by earlier runs, created since their `keep_from`
    recent: dict[str, int] = field(default_factory=dict)
    low: int | None = None  # epoch second of the oldest record handled; None = nothing yet
    edge: set[str] = field(default_factory=set)
    ordered: bool = True

    def handled(self, sign_in_id: str, second: int) -> None:
        """The listing reached this record (delivered, already delivered or skipped)."""
        if not self.ordered:
            return
        if self.low is None or second < self.low:
            self.low = second
            self.edge = {sign_in_id}
        elif second == self.low:
            self.edge.add(sign_in_id)
        else:
            self.ordered = False
            log.warning("Graph listed sign-ins out of createdDateTime order; until this run "
                        "completes, a restart re-reads its whole window (duplicates possible)")

    def delivered(self, sign_in_id: str, second: int) -> bool:
        return (sign_in_id in self.seen or sign_in_id in self.recent
                or (second == self.low and sign_in_id in self.edge))

    def note_delivered(self, sign_in_id: str, second: int) -> None:
        if second >= self.keep_from:
            self.recent[sign_in_id] = second

    def resume_bound(self) -> tuple[datetime, bool]:
        """(upper bound, inclusive) of the listing that continues from here."""
        if self.low is None or not self.ordered:
            return self.until, True
        return datetime.fromtimestamp(self.low, UTC) + _ONE_SECOND, False

    def in_progress(self) -> dict[str, Any]:
        resumable = self.ordered and self.low is not None
        return {
            "since": odata_datetime(self.since),
            "until": odata_datetime(self.until),
            "deep_until": odata_datetime(self.deep_until) if self.deep_until else None,
            "low": odata_datetime(datetime.fromtimestamp(self.low, UTC))
            if resumable and self.low is not None else None,
            "edge_ids": sorted(self.edge) if resumable else [],
            "recent": [[i, s] for i, s in self.recent.items()],
        }

    def next_seen(self) -> dict[str, int]:
        horizon = self.keep_from
        kept = {i: s for i, s in self.seen.items() if s >= horizon}
        kept.update(self.recent)
        return kept


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed sign-in checkpoint; anything unreadable means "first run"."""

    tenant_id: str
    cursor: datetime | None = None
    deep_until: datetime | None = None
    seen: Mapping[str, int] = field(default_factory=dict)
    in_progress: Mapping[str, Any] | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, tenant_id: str) -> Checkpoint:
        raw = usable_checkpoint(raw, version=CHECKPOINT_VERSION, tenant_id=tenant_id,
                                what="sign-in", instead="starting over with the look-back")
        if raw is None:
            return cls(tenant_id)
        progress = raw.get("in_progress")
        usable = (isinstance(progress, Mapping)
                  and parse_graph_datetime(progress.get("since")) is not None
                  and parse_graph_datetime(progress.get("until")) is not None)
        return cls(tenant_id, parse_graph_datetime(raw.get("cursor")),
                   parse_graph_datetime(raw.get("deep_until")), _pairs(raw.get("seen")),
                   progress if usable else None)

    def to_json(self, cursor: datetime | None, seen: Mapping[str, int],
                in_progress: dict[str, Any] | None, *,
                deep_until: datetime | None) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "tenant_id": self.tenant_id,
            "cursor": odata_datetime(cursor) if cursor is not None else None,
            "deep_until": odata_datetime(deep_until) if deep_until is not None else None,
            "seen": [[i, s] for i, s in seen.items()],
            "in_progress": in_progress,
        }


class SignInCollection:
    """One sign-in run against one tenant (see module docstring)."""

    def __init__(self, settings: Any, checkpoint: Mapping[str, Any] | None, client: GraphClient,
                 *, product: Product, clock: Any = time.time) -> None:
        self.settings = settings
        self.client = client
        self.product = product
        self.summary = SignInSummary()
        self._raw_checkpoint = checkpoint
        self._clock = clock
        options = settings.sign_ins
        self.query = SignInQuery(page_size=int(options.page_size),
                                 event_types=tuple(options.event_types))
        self.overlap = timedelta(minutes=int(options.overlap_minutes))
        self.lookback = timedelta(days=int(options.lookback_days))
        self.deep_every = timedelta(minutes=int(options.deep_reread_minutes))
        self.deep_overlap = timedelta(minutes=int(options.deep_overlap_minutes))

    def _degrade(self, reason: str) -> None:
        self.summary.mode = "skipped"
        self.summary.degraded["sign_ins"] = reason
        log.warning("sign-in logs not collected: %s", reason)

    def _skip(self, sign_in_id: str | None, reason: str) -> None:
        self.summary.skipped.add(SkippedSignIn(sign_in_id, reason), sign_in_id, reason, "sign-in")

    async def batches(self) -> AsyncGenerator[Batch, None]:
        started = time.monotonic()
        try:
            async for batch in self._run():
                yield batch
            self.summary.completed = True
        finally:
            self.summary.duration_seconds = time.monotonic() - started

    def _window(self, previous: Checkpoint) -> Window:
        now = whole_second(datetime.fromtimestamp(self._clock(), UTC))
        oldest = now - RETENTION
        resume = previous.in_progress
        if resume is not None:
            self.summary.mode = "resumed"
            since = parse_graph_datetime(resume.get("since")) or oldest
            until = parse_graph_datetime(resume.get("until")) or now
            resumed_deep = parse_graph_datetime(resume.get("deep_until"))
            self.summary.deep = resumed_deep == until
            window = Window(max(since, oldest), until, self._keep_from(until, resumed_deep),
                            resumed_deep, dict(previous.seen),
                            recent=_pairs(resume.get("recent")))
            low = _epoch_seconds(resume.get("low"))
            if low is not None:
                window.low = low
                edge = resume.get("edge_ids")
                window.edge = {str(i) for i in edge} if isinstance(edge, list) else set()
            return window
        deep_until: datetime | None = now
        if previous.cursor is not None:
            self.summary.mode = "incremental"
            since = previous.cursor - self.overlap
            anchor = previous.deep_until or previous.cursor
            if self.deep_every and now - anchor >= self.deep_every:
                self.summary.deep = True
                since = min(since, anchor - self.deep_overlap)
            else:
                deep_until = anchor if self.deep_every else None
            if since < oldest:
                log.warning("the last sign-in run ended at %s, beyond Graph's 30-day retention: "
                            "sign-ins between then and %s are no longer available",
                            odata_datetime(previous.cursor), odata_datetime(oldest))
        else:
            self.summary.mode = "first"
            since = now - self.lookback
            if not self.deep_every:
                deep_until = None
        return Window(max(since, oldest), now, self._keep_from(now, deep_until), deep_until,
                      dict(previous.seen))

    def _keep_from(self, until: datetime, deep_until: datetime | None) -> int:
        """The oldest createdDateTime a later run lists again: its ids must be remembered."""
        horizon = until - self.overlap
        if deep_until is not None:
            horizon = min(horizon, deep_until - self.deep_overlap)
        return int(horizon.timestamp())

    async def _run(self) -> AsyncIterator[Batch]:
        claims = await self.client.token_claims() or {}
        missing = Grants.from_claims(claims).missing("sign_ins")
        if missing:
            self._degrade(missing)
            return
        tenant_uid = str(claims.get("tid") or self.settings.tenant_id)
        previous = Checkpoint.parse(self._raw_checkpoint, str(self.settings.tenant_id))
        window = self._window(previous)
        self.summary.since = odata_datetime(window.since)
        self.summary.until = odata_datetime(window.until)
        restarts = Restarts("sign-ins")
        while True:
            try:
                async for batch in self._list(window, previous, tenant_uid):
                    yield batch
                break
            except GraphError as error:
                if restarts.allow(error, "listing again from the resume point"):
                    self.summary.listing_restarts = restarts.count
                    continue
                if is_refusal(error) and self.summary.pages == 0:
                    self._degrade(refusal_reason(error, "P1 or P2"))
                    return
                raise
        yield Batch([], previous.to_json(window.until, window.next_seen(), None,
                                         deep_until=window.deep_until), stream=STREAM)

    async def _list(self, window: Window, previous: Checkpoint, tenant_uid: str
                    ) -> AsyncIterator[Batch]:
        batch_size = max(1, int(self.settings.batch_size))  # at most; a page ends a batch
        summary = self.summary
        upto, inclusive = window.resume_bound()
        events: list[bytes] = []
        dumps = orjson.dumps
        to_event = ocsf.to_event
        async for page in sign_in_pages(self.client, self.query, window.since, upto,
                                        inclusive=inclusive):
            summary.pages += 1
            for item in page.items:
                summary.listed += 1
                raw_id = item.get("id") if isinstance(item, dict) else None
                sign_in_id = raw_id if isinstance(raw_id, str) and raw_id else None
                second = _epoch_seconds(item.get("createdDateTime")) \
                    if isinstance(item, dict) else None
                if sign_in_id is None or second is None:
                    self._skip(sign_in_id, "no id or no usable createdDateTime")
                    continue
                if window.delivered(sign_in_id, second):
                    window.handled(sign_in_id, second)
                    summary.already_delivered += 1
                    continue
                window.handled(sign_in_id, second)
                try:
                    event = to_event(item, tenant_id=tenant_uid, product=self.product)
                except MappingError as error:
                    self._skip(sign_in_id, str(error))
                    continue
                events.append(dumps(event))
                window.note_delivered(sign_in_id, second)
                if len(events) >= batch_size:
                    summary.events += len(events)
                    yield Batch(events, previous.to_json(previous.cursor, previous.seen,
                                                         window.in_progress(),
                                                         deep_until=previous.deep_until),
                                stream=STREAM)
                    events = []
            # Flushed at the end of every page: the window already counts these events as
            # delivered, so a listing restarted after this page (expired token) must not find
            # them still waiting in a buffer.
            if events:
                summary.events += len(events)
                yield Batch(events, previous.to_json(previous.cursor, previous.seen,
                                                     window.in_progress(),
                                                     deep_until=previous.deep_until),
                            stream=STREAM)
                events = []
