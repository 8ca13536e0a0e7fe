"""One read of the audit log serves two streams: the MFA registrations the audit stream saw,
handed to the user inventory's change tracking through the state store.

The inventory's change tracking learns whose MFA registration changed from the audit log's
Authentication Methods records. When the directory audit stream runs, it reads every record
anyway, so it leaves a note per such record in the state store, in the same transaction as the
batch that delivered the record's event:

- an entity of type `audit_mfa` per record (id: the record's id; document `{"at":
  activityDateTime, "users": [target user ids]}`), so the two streams never rewrite each
  other's data (the audit stream only adds notes, change tracking only removes the notes it
  read), whatever their schedules;
- `audit_mfa_upto`, a cursor of the directory audit stream: the `until` of its last complete
  run, how far its read reaches.

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
from typing import Any, Protocol

from connector.graph.dates import parse_graph_datetime

__all__ = ["AUDIT_STREAM", "COVERED", "KIND", "Handoff", "Notes", "Shared", "note", "notes_of",
           "stale_ids", "stored", "use_shared", "with_shared"]

KIND = "audit_mfa"  # the state store's entity type of a note
COVERED = "audit_mfa_upto"  # a cursor of the directory audit stream
AUDIT_STREAM = "directory_audits"
KEEP = timedelta(days=30)

#: record id -> note document
Notes = Mapping[str, Mapping[str, Any]]


class _Store(Protocol):
    def ids(self, kind: str) -> set[str]: ...

    def docs(self, kind: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    def cursors(self, stream: str = ...) -> dict[str, str]: ...


def note(record_id: str, when: str, users: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """The entity (id, document) that hands one MFA record over."""
    return record_id, {"at": when, "users": list(users)}


def stored(store: _Store) -> tuple[dict[str, dict[str, Any]], datetime | None]:
    """The notes in the store, and how far the audit stream has read."""
    notes = store.docs(KIND, store.ids(KIND))
    return notes, parse_graph_datetime(store.cursors(AUDIT_STREAM).get(COVERED))


@dataclass(frozen=True, slots=True)
class Handoff:
    """The notes found: ids to remove once taken, users they name, how far the stream read."""

    ids: tuple[str, ...]
    users: frozenset[str]
    covered: datetime | None


@dataclass(frozen=True, slots=True)
class Shared:
    """What the audit stream of the same process read this run: its notes, and how far it read
    (None when it did not complete)."""

    notes: Notes
    covered: datetime | None


def _users(doc: Mapping[str, Any]) -> list[str]:
    users = doc.get("users") if isinstance(doc, Mapping) else None
    return [u for u in users if isinstance(u, str) and u] if isinstance(users, list) else []


def notes_of(notes: Notes, covered: datetime | None) -> Handoff:
    """The notes to take (an unreadable one is taken, naming nobody)."""
    ids = tuple(sorted(notes))
    return Handoff(ids, frozenset(u for i in ids for u in _users(notes[i])), covered)


def with_shared(notes: Notes, covered: datetime | None, shared: Shared | None
                ) -> tuple[dict[str, Mapping[str, Any]], datetime | None]:
    """The store's notes and coverage with this run's added."""
    merged: dict[str, Mapping[str, Any]] = {**notes, **(shared.notes if shared else {})}
    if shared is not None and shared.covered is not None and (
            covered is None or shared.covered > covered):
        covered = shared.covered
    return merged, covered


def use_shared(enabled: bool, handoff: Handoff, own_cursor: datetime | None) -> bool:
    """Whether change tracking takes the audit stream's read instead of reading the log: the
    stream is enabled and has read further than change tracking's own MFA cursor."""
    if not enabled or handoff.covered is None:
        return False
    return own_cursor is None or handoff.covered > own_cursor


def stale_ids(notes: Notes, now: datetime) -> list[str]:
    """Notes older than Graph's retention that nobody took: the audit stream drops them."""
    horizon = now - KEEP
    out: list[str] = []
    for record_id, doc in notes.items():
        at = parse_graph_datetime(doc.get("at")) if isinstance(doc, Mapping) else None
        if at is None or at < horizon:
            out.append(record_id)
    return sorted(out)
