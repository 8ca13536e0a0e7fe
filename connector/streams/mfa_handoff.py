"""One read of the audit log serves two streams: the MFA registrations the audit stream saw,
handed to the user inventory's change tracking through the state store.

The inventory's change tracking learns whose MFA registration changed from the audit log's
Authentication Methods records. When the directory audit stream runs, it reads every record
anyway, so it leaves a note per such record in the state store's `cursors` table, in the same
transaction as the batch that delivered the record's event:

- `audit_mfa.<record id>` -> `{"at": activityDateTime, "users": [target user ids]}`: one key per
  record, so the two streams never rewrite each other's values (the audit stream only adds
  keys, change tracking only removes the keys it read), whatever their schedules;
- `audit_mfa_upto` -> the `until` of the audit stream's last complete run: how far its read
  reaches.

The inventory's tracked run takes the notes instead of calling Graph when the audit stream is
enabled and has read further than the inventory's own MFA cursor (`use_shared`); otherwise (the
stream disabled, not run yet, or not run since) it reads the log itself, as before. Either way
it takes every note present, so a record is never left behind when the streams change places.
Records the audit stream delivers late (its overlap and deep re-read) arrive as notes later and
are taken by the next tracked run: a late arrival is not lost between the two. A note the
inventory never takes (the inventory not run at all) is dropped by the audit stream once it is
older than Graph's 30-day retention.

In one combined run (both streams in one process) the inventory waits, before reading its
change sources, for the audit stream to finish and takes this run's notes from it (`Shared`)
as well as the store's, so the MFA changes of this run's audit records reach this run's
inventory. The audit batches are queued before the inventory's later batches, so the store
receives a note before the inventory's removal of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from connector.graph.dates import parse_graph_datetime

__all__ = ["COVERED", "PREFIX", "Handoff", "Shared", "note", "notes_of", "stale_keys",
           "use_shared", "with_shared"]

PREFIX = "audit_mfa."
COVERED = "audit_mfa_upto"
KEEP = timedelta(days=30)


def note(record_id: str, when: str, users: Iterable[str]) -> tuple[str, str]:
    """The cursor (key, value) that hands one MFA record over."""
    return PREFIX + record_id, orjson.dumps({"at": when, "users": list(users)}).decode()


@dataclass(frozen=True, slots=True)
class Handoff:
    """The notes found in the store: keys to remove once taken, users they name, coverage."""

    keys: tuple[str, ...]
    users: frozenset[str]
    covered: datetime | None


def _users(value: str) -> list[str]:
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return []
    users = parsed.get("users") if isinstance(parsed, dict) else None
    return [u for u in users if isinstance(u, str) and u] if isinstance(users, list) else []


def notes_of(cursors: Mapping[str, str]) -> Handoff:
    """Every note in a snapshot of the store's cursors (an unreadable one is taken, empty)."""
    keys = tuple(sorted(k for k in cursors if k.startswith(PREFIX)))
    users = frozenset(u for k in keys for u in _users(cursors[k]))
    return Handoff(keys, users, parse_graph_datetime(cursors.get(COVERED)))


@dataclass(frozen=True, slots=True)
class Shared:
    """What the audit stream of the same process read this run: its notes, and how far it read
    (None when it did not complete)."""

    notes: Mapping[str, str]
    covered: datetime | None


def with_shared(cursors: Mapping[str, str], shared: Shared | None) -> dict[str, str]:
    """The store's cursors with this run's notes and coverage added."""
    out = {**cursors, **(shared.notes if shared is not None else {})}
    if shared is not None and shared.covered is not None:
        stored = parse_graph_datetime(cursors.get(COVERED))
        if stored is None or shared.covered > stored:
            out[COVERED] = shared.covered.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def use_shared(enabled: bool, handoff: Handoff, own_cursor: datetime | None) -> bool:
    """Whether change tracking takes the audit stream's read instead of reading the log: the
    stream is enabled and has read further than change tracking's own MFA cursor."""
    if not enabled or handoff.covered is None:
        return False
    return own_cursor is None or handoff.covered > own_cursor


def stale_keys(cursors: Mapping[str, str], now: datetime) -> list[str]:
    """Notes older than Graph's retention that nobody took: the audit stream drops them."""
    horizon = now - KEEP
    out: list[str] = []
    for key, value in cursors.items():
        if not key.startswith(PREFIX):
            continue
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            out.append(key)
            continue
        at = parse_graph_datetime(parsed.get("at")) if isinstance(parsed, dict) else None
        if at is None or at < horizon:
            out.append(key)
    return out
