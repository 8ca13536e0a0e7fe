"""The window of a log stream: a Graph report listed newest first between two instants
(sign-ins, directory audits), read incrementally and safe against late arrivals and crashes.

Records appear in Graph minutes to hours after their time, so the cursor never simply moves to
"now" (`connector.streams.sign_ins` has the full reasoning). A run lists `[since, until]`:

- `until` is the run's start (whole seconds); `since` is the last complete run's `until` minus
  the overlap (a first run: `until` minus the look-back); the stream clamps it to its source's
  retention.
- Every `deep_every` a run is a deep re-read: `since` also reaches back to `deep_overlap`
  before the previous deep re-read (`deep_until`), for stragglers.
- Ids delivered inside what later runs re-read (`keep_from` on) are remembered (`seen`), so a
  re-read yields exactly the late arrivals.
- Each batch's checkpoint carries the resume point inside the run: `low` (the oldest second
  handled), `edge` (the ids handled in that second) and `recent` (ids delivered by this run
  worth remembering). A listing continuing from there reaches up to second `low` included.

Checkpoint (the same for every log stream, under its stream's name in the state store):
`{"version": 1, "tenant_id", "cursor": "...Z" | null, "deep_until": "...Z" | null,
  "seen": [[id, epoch_s], ...],
  "in_progress": null | {"since", "until", "deep_until", "low": "...Z" | null, "edge_ids": [...],
  "recent": [[id, epoch_s], ...]}}` (`deep_until` absent in checkpoints written before the deep
re-read: the cursor stands in for it).

What stays with each stream: its Graph query (and so how it bounds the continued listing:
`lt` where Graph allows it, `le` and passing over newer records where not), its retention, its
mapping, and whatever else it does with a record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from connector.graph.dates import parse_graph_datetime
from connector.graph.odata import odata_datetime
from connector.streams.base import usable_checkpoint

__all__ = ["CHECKPOINT_VERSION", "Cadence", "Checkpoint", "Opening", "Source", "Window",
           "epoch_seconds", "id_pairs", "open_window", "record_key"]

log = logging.getLogger(__name__)

CHECKPOINT_VERSION: Final = 1
_ONE_SECOND = timedelta(seconds=1)


def epoch_seconds(value: Any) -> int | None:
    """The whole epoch second of a Graph date-time, None when it is not one."""
    moment = parse_graph_datetime(value)
    return int(moment.timestamp()) if moment is not None else None


def id_pairs(raw: Any) -> dict[str, int]:
    """`[[id, epoch_s], ...]` from a checkpoint as a dict; malformed entries are dropped."""
    out: dict[str, int] = {}
    if isinstance(raw, list):
        for item in raw:
            if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and type(item[1]) is int):
                out[item[0]] = item[1]
    return out


@dataclass(frozen=True, slots=True)
class Source:
    """What a log stream lists, for its messages and its records' keys."""

    what: str  # "sign-in": names the checkpoint in warnings
    records: str  # "sign-ins": names the records in warnings
    time_field: str  # the record's time property (createdDateTime, activityDateTime)


def record_key(item: Any, time_field: str) -> tuple[str | None, int | None]:
    """(id, epoch second) of a listed record; either None when the record lacks it."""
    if not isinstance(item, dict):
        return None, None
    raw_id = item.get("id")
    return (raw_id if isinstance(raw_id, str) and raw_id else None,
            epoch_seconds(item.get(time_field)))


@dataclass(frozen=True, slots=True)
class Cadence:
    """A log stream's settings for its windows."""

    overlap: timedelta
    lookback: timedelta
    deep_every: timedelta  # zero: never a deep re-read
    deep_overlap: timedelta

    @classmethod
    def of(cls, options: Any) -> Cadence:
        """From a settings block with `overlap_minutes`, `lookback_days`,
        `deep_reread_minutes` and `deep_overlap_minutes`."""
        return cls(timedelta(minutes=int(options.overlap_minutes)),
                   timedelta(days=int(options.lookback_days)),
                   timedelta(minutes=int(options.deep_reread_minutes)),
                   timedelta(minutes=int(options.deep_overlap_minutes)))

    def keep_from(self, until: datetime, deep_until: datetime | None) -> int:
        """The oldest second a later run lists again: ids since must be remembered."""
        horizon = until - self.overlap
        if deep_until is not None:
            horizon = min(horizon, deep_until - self.deep_overlap)
        return int(horizon.timestamp())


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
    source: Source = Source("log", "records", "time")

    def handled(self, record_id: str, second: int) -> None:
        """The listing reached this record (delivered, already delivered or skipped)."""
        if not self.ordered:
            return
        if self.low is None or second < self.low:
            self.low = second
            self.edge = {record_id}
        elif second == self.low:
            self.edge.add(record_id)
        else:
            self.ordered = False
            log.warning("Graph listed %s out of %s order; until this run completes, a restart "
                        "re-reads its whole window (duplicates possible)", self.source.records,
                        self.source.time_field)

    def delivered(self, record_id: str, second: int) -> bool:
        return (record_id in self.seen or record_id in self.recent
                or (second == self.low and record_id in self.edge))

    def take(self, record_id: str, second: int) -> bool:
        """Marks the record handled; True when it is still to be delivered."""
        new = not self.delivered(record_id, second)
        self.handled(record_id, second)
        return new

    def note_delivered(self, record_id: str, second: int) -> None:
        if second >= self.keep_from:
            self.recent[record_id] = second

    def resume_bound(self) -> tuple[datetime, int | None]:
        """(upper bound, ceiling) of the listing that continues from here. Without a ceiling
        the bound is included; with one, records up to second `ceiling` are wanted: list
        before the bound (`lt`), or up to it (`le`) passing over what is newer than the
        ceiling (handled before)."""
        if self.low is None or not self.ordered:
            return self.until, None
        return datetime.fromtimestamp(self.low, UTC) + _ONE_SECOND, self.low

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
        kept = {i: s for i, s in self.seen.items() if s >= self.keep_from}
        kept.update(self.recent)
        return kept


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A parsed log-stream checkpoint; anything unreadable means "first run"."""

    tenant_id: str
    cursor: datetime | None = None
    deep_until: datetime | None = None
    seen: Mapping[str, int] = field(default_factory=dict)
    in_progress: Mapping[str, Any] | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None, tenant_id: str, *, what: str) -> Checkpoint:
        """`what` names the checkpoint in the warning when it is not used."""
        raw = usable_checkpoint(raw, version=CHECKPOINT_VERSION, tenant_id=tenant_id,
                                what=what, instead="starting over with the look-back")
        if raw is None:
            return cls(tenant_id)
        progress = raw.get("in_progress")
        usable = (isinstance(progress, Mapping)
                  and parse_graph_datetime(progress.get("since")) is not None
                  and parse_graph_datetime(progress.get("until")) is not None)
        return cls(tenant_id, parse_graph_datetime(raw.get("cursor")),
                   parse_graph_datetime(raw.get("deep_until")), id_pairs(raw.get("seen")),
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

    def during(self, window: Window) -> dict[str, Any]:
        """The checkpoint a batch inside `window` carries: this one, plus the resume point."""
        return self.to_json(self.cursor, self.seen, window.in_progress(),
                            deep_until=self.deep_until)

    def after(self, window: Window) -> dict[str, Any]:
        """The checkpoint once `window` was read to its end."""
        return self.to_json(window.until, window.next_seen(), None,
                            deep_until=window.deep_until)


@dataclass(frozen=True, slots=True)
class Opening:
    """How a run starts: its mode (first | incremental | resumed), whether it is a deep
    re-read, and its window (`since` not yet clamped to the source's retention)."""

    mode: str
    deep: bool
    window: Window


def open_window(previous: Checkpoint, now: datetime, cadence: Cadence,
                source: Source) -> Opening:
    """The window of the run starting at `now` (whole seconds) after `previous`."""
    resume = previous.in_progress
    if resume is not None:
        until = parse_graph_datetime(resume.get("until")) or now
        since = parse_graph_datetime(resume.get("since")) or until
        resumed_deep = parse_graph_datetime(resume.get("deep_until"))
        window = Window(since, until, cadence.keep_from(until, resumed_deep), resumed_deep,
                        dict(previous.seen), recent=id_pairs(resume.get("recent")),
                        source=source)
        low = epoch_seconds(resume.get("low"))
        if low is not None:
            window.low = low
            edge = resume.get("edge_ids")
            window.edge = {str(i) for i in edge} if isinstance(edge, list) else set()
        return Opening("resumed", resumed_deep == until, window)
    deep_until: datetime | None = now
    deep = False
    if previous.cursor is not None:
        mode = "incremental"
        since = previous.cursor - cadence.overlap
        anchor = previous.deep_until or previous.cursor
        if cadence.deep_every and now - anchor >= cadence.deep_every:
            deep = True
            since = min(since, anchor - cadence.deep_overlap)
        else:
            deep_until = anchor if cadence.deep_every else None
    else:
        mode = "first"
        since = now - cadence.lookback
        if not cadence.deep_every:
            deep_until = None
    return Opening(mode, deep, Window(since, now, cadence.keep_from(now, deep_until), deep_until,
                                      dict(previous.seen), source=source))
