"""How long to wait before trying again: one reading of `Retry-After` for Graph and the intake.

Graph (`graph/throttle.py`) and the HTTP intake (`sinks.py`) both honour a server's
`Retry-After` and fall back to their own backoff without one; they must read the header the same
way, so neither imports the other and both import this. Nothing here does I/O.
"""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["next_wait", "parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header, or None when it is absent or unusable.

    Accepts delta-seconds (fractions tolerated) and an HTTP date (a date without a zone is taken
    as UTC, as HTTP dates always are); a moment in the past means 0. `inf` and `nan` are
    unusable rather than "forever" or "now". `now` (epoch seconds) is for tests.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def next_wait(retry_after: float | None, backoff: float) -> float:
    """The server's `Retry-After` when it asks for a real pause, else our own `backoff`.

    `Retry-After: 0` would have every client retry at once, so it counts as no answer.
    """
    return retry_after if retry_after else backoff
