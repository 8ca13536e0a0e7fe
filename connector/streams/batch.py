"""The unit of delivery every stream yields: events, then the checkpoint they complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Batch"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Events to deliver, and the checkpoint of `stream` to commit once they are delivered.

    The caller delivers `events` first and commits afterwards (`StateStore.commit(batch)`), so
    a run that dies between the two re-delivers at most this batch.
    """

    events: list[bytes]
    checkpoint: dict[str, Any]
    stream: str = "users"
