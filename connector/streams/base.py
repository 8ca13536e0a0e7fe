"""What every stream repeats, written once: whether a stored checkpoint still applies, the
restart of a listing whose page token expired, the accounting of records that could not
become events, and the shape of a run's summary.

A stream keeps its own checkpoint format and its own summary fields; these are the parts whose
rules must not drift apart between streams (a checkpoint of another version or tenant starts
over, with a warning; a listing restarts at most `LISTING_RESTARTS` times; a bad record is
counted, logged with its id and skipped, never the end of a run).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final, Protocol, TypeVar

from connector.graph.client import EXPIRED_PAGE_TOKEN, GraphError

__all__ = ["LISTING_RESTARTS", "Restarts", "RunSummary", "Skips", "restarted",
           "usable_checkpoint"]

log = logging.getLogger(__name__)

#: How many times one run lists a source again after its page token expired.
LISTING_RESTARTS: Final = 3

T = TypeVar("T")


def usable_checkpoint(raw: Mapping[str, Any] | None, *, version: int, tenant_id: str,
                      what: str, instead: str) -> Mapping[str, Any] | None:
    """`raw` when it is a checkpoint of `version` for `tenant_id`; else None, with a warning
    saying the `what` checkpoint is not used and the run does `instead`."""
    if not raw:
        return None
    if raw.get("version") != version:
        log.warning("%s checkpoint version %r is not %d: %s", what, raw.get("version"), version,
                    instead)
        return None
    if str(raw.get("tenant_id", "")).lower() != tenant_id.lower():
        log.warning("%s checkpoint belongs to another tenant: %s", what, instead)
        return None
    return raw


class Restarts:
    """The restarts of one listing after an expired page token (`Directory_ExpiredPageToken`,
    the only cure for which is listing again), at most `limit` a run."""

    def __init__(self, what: str, limit: int = LISTING_RESTARTS) -> None:
        self.what = what
        self.limit = limit
        self.count = 0

    def allow(self, error: GraphError, how: str = "listing again") -> bool:
        """True (counted, logged) when `error` is an expired page token and restarts are left;
        the caller raises otherwise."""
        if error.code != EXPIRED_PAGE_TOKEN or self.count >= self.limit:
            return False
        self.count += 1
        log.warning("the %s listing's page token expired; %s", self.what, how)
        return True


async def restarted(listing: Callable[[], AsyncIterator[T]], restarts: Restarts,
                    how: str) -> AsyncIterator[T]:
    """What `listing()` yields; when its page token expires, `listing()` again, as long as
    `restarts` allow (`how` says where the new listing starts: it must not repeat what was
    already yielded)."""
    while True:
        try:
            async for item in listing():
                yield item
            return
        except GraphError as error:
            if not restarts.allow(error, how):
                raise


class Skips(list[T]):
    """Records that could not become events: every one counted (`total`) and logged with its
    id; the first `kept` (None: all) kept for the summary."""

    def __init__(self, kept: int | None = None) -> None:
        super().__init__()
        self.kept = kept
        self.total = 0

    def add(self, record: T, record_id: str | None, reason: str, what: str) -> None:
        self.total += 1
        if self.kept is None or len(self) < self.kept:
            self.append(record)
        if record_id is None:
            log.warning("skipped one %s record: %s", what, reason)
        else:
            log.warning("skipped %s %s: %s", what, record_id, reason)

    def shown(self, ids: list[str | None], noun: str) -> str:
        """`skipped 7 bad <noun>: a, b, c, d, e and 2 more`."""
        listed = ", ".join(str(i) for i in ids[:5])
        rest = self.total - len(ids[:5])
        more = f" and {rest} more" if rest > 0 else ""
        return f"skipped {self.total} bad {noun}: {listed}{more}"


class RunSummary(Protocol):
    """What the CLI, the runtimes and the benchmarks read from any stream's summary."""

    events: int
    completed: bool
    degraded: dict[str, str]
    duration_seconds: float

    def as_dict(self) -> dict[str, Any]: ...

    def lines(self) -> list[str]: ...
