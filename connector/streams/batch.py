"""The unit of delivery every stream yields: events, then the state they complete."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "StoreWrites"]


@dataclass(slots=True)
class StoreWrites:
    """What a batch adds to the state store besides its checkpoint, applied in the same
    transaction (`StateStore.commit`), so the facts remembered about a user never run ahead of,
    or fall behind, the events delivered for them.

    `users`: user id -> the user's document (`connector.streams.facts`: last delivered record and
    facts), the store's entities of type "user"; it derives its user indexes (memberships,
    admins, MFA age) from them. `entities`: documents of any other entity type (type -> id ->
    document, None removes one; a document's `fp` (fingerprint) and `deleted` keys are indexed).
    `cursors`: the batch's stream's change-source cursors and cadence times (a delta link,
    "sign-ins read up to ..."); a value of None removes one.
    `listed`: ids a full collection's listing showed in this batch's pages, kept until its
    deletion sweep (a resumed full collection sweeps against the whole listing, not its own
    part); `clear_listed` empties them first (a full collection's first batch, and its last).
    """

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursors: dict[str, str | None] = field(default_factory=dict)
    entities: dict[str, dict[str, dict[str, Any] | None]] = field(default_factory=dict)
    listed: set[str] = field(default_factory=set)
    clear_listed: bool = False

    def __bool__(self) -> bool:
        return bool(self.users or self.cursors or any(self.entities.values()) or self.listed
                    or self.clear_listed)

    def merge(self, other: StoreWrites) -> None:
        self.users.update(other.users)
        self.cursors.update(other.cursors)
        for kind, docs in other.entities.items():
            self.entities.setdefault(kind, {}).update(docs)
        self.listed.update(other.listed)
        self.clear_listed = self.clear_listed or other.clear_listed


@dataclass(frozen=True, slots=True)
class Batch:
    """Events to deliver, and the checkpoint of `stream` to commit once they are delivered.

    The caller delivers `events` first and commits afterwards (`StateStore.commit(batch)`), so
    a run that dies between the two re-delivers at most this batch. `writes` (optional) are the
    facts and cursors that belong to these events; `commit` applies them with the checkpoint.
    """

    events: list[bytes]
    checkpoint: dict[str, Any]
    stream: str = "users"
    writes: StoreWrites | None = None
