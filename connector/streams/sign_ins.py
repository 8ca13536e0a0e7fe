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

The window, the checkpoint and the resume point are `connector.streams.log_window`, shared with
the directory audit stream; what is the sign-in stream's own is its query (`lt` bounds the
resumed listing), its 30-day retention, its mapping and its summary.

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
from connector.graph.odata import is_refusal, odata_datetime, refusal_reason
from connector.graph.permissions import Grants
from connector.graph.sign_ins import SignInQuery, sign_in_pages, whole_second
from connector.ocsf import authentication as ocsf
from connector.ocsf.common import MappingError, Product
from connector.streams.base import Restarts, Skips, restarted
from connector.streams.batch import Batch
from connector.streams.log_window import (
    Cadence,
    Checkpoint,
    Source,
    Window,
    open_window,
    record_key,
)

__all__ = ["RETENTION", "STREAM", "SignInCollection", "SignInSummary"]

log = logging.getLogger(__name__)

STREAM = "sign_ins"
RETENTION = timedelta(days=30)
SKIPPED_KEPT = 100
SOURCE = Source("sign-in", "sign-ins", "createdDateTime")


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
        self.cadence = Cadence.of(options)

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
        opening = open_window(previous, now, self.cadence, SOURCE)
        self.summary.mode, self.summary.deep = opening.mode, opening.deep
        window = opening.window
        if (opening.mode == "incremental" and previous.cursor is not None
                and window.since < oldest):
            log.warning("the last sign-in run ended at %s, beyond Graph's 30-day retention: "
                        "sign-ins between then and %s are no longer available",
                        odata_datetime(previous.cursor), odata_datetime(oldest))
        window.since = max(window.since, oldest)
        return window

    async def _run(self) -> AsyncIterator[Batch]:
        claims = await self.client.token_claims() or {}
        missing = Grants.from_claims(claims).missing("sign_ins")
        if missing:
            self._degrade(missing)
            return
        tenant_uid = str(claims.get("tid") or self.settings.tenant_id)
        previous = Checkpoint.parse(self._raw_checkpoint, str(self.settings.tenant_id),
                                    what=SOURCE.what)
        window = self._window(previous)
        self.summary.since = odata_datetime(window.since)
        self.summary.until = odata_datetime(window.until)
        restarts = Restarts("sign-ins")
        try:
            async for batch in restarted(lambda: self._list(window, previous, tenant_uid),
                                         restarts, "listing again from the resume point"):
                yield batch
        except GraphError as error:
            if is_refusal(error) and self.summary.pages == 0:
                self._degrade(refusal_reason(error, "P1 or P2"))
                return
            raise
        finally:
            self.summary.listing_restarts = restarts.count
        yield Batch([], previous.after(window), stream=STREAM)

    async def _list(self, window: Window, previous: Checkpoint, tenant_uid: str
                    ) -> AsyncIterator[Batch]:
        batch_size = max(1, int(self.settings.batch_size))  # at most; a page ends a batch
        summary = self.summary
        upto, ceiling = window.resume_bound()
        events: list[bytes] = []
        dumps = orjson.dumps
        to_event = ocsf.to_event
        async for page in sign_in_pages(self.client, self.query, window.since, upto,
                                        inclusive=ceiling is None):
            summary.pages += 1
            for item in page.items:
                summary.listed += 1
                sign_in_id, second = record_key(item, SOURCE.time_field)
                if sign_in_id is None or second is None:
                    self._skip(sign_in_id, "no id or no usable createdDateTime")
                    continue
                if not window.take(sign_in_id, second):
                    summary.already_delivered += 1
                    continue
                try:
                    event = to_event(item, tenant_id=tenant_uid, product=self.product)
                except MappingError as error:
                    self._skip(sign_in_id, str(error))
                    continue
                events.append(dumps(event))
                window.note_delivered(sign_in_id, second)
                if len(events) >= batch_size:
                    summary.events += len(events)
                    yield Batch(events, previous.during(window), stream=STREAM)
                    events = []
            # Flushed at the end of every page: the window already counts these events as
            # delivered, so a listing restarted after this page (expired token) must not find
            # them still waiting in a buffer.
            if events:
                summary.events += len(events)
                yield Batch(events, previous.during(window), stream=STREAM)
                events = []
