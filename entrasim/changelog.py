"""A sequence-ordered log of directory changes, so a delta round costs what changed, not the
size of the tenant.

Every tenant mutation takes the next number of one global sequence; the entries a delta
stream reports are appended here in that order, so "what changed in (after, upto]" is two
binary searches and a slice, whatever the number of users.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    object_id: str
    what: Hashable  # users: a frozenset of changed property names; groups: see delta.py


class ChangeLog:
    """Append-only; callers hold the tenant lock."""

    def __init__(self) -> None:
        self._seqs: list[int] = []
        self._entries: list[Entry] = []

    def record(self, seq: int, object_id: str, what: Hashable) -> None:
        if self._seqs and seq < self._seqs[-1]:
            raise ValueError("change log entries must arrive in sequence order")
        self._seqs.append(seq)
        self._entries.append(Entry(seq, object_id, what))

    def between(self, after: int, upto: int) -> list[Entry]:
        """Entries with `after < seq <= upto`, oldest first."""
        lo = bisect.bisect_right(self._seqs, after)
        hi = bisect.bisect_right(self._seqs, upto)
        return self._entries[lo:hi]

    def __len__(self) -> int:
        return len(self._entries)
