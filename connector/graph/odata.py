"""The OData toolkit every Graph source shares: URLs, refusals, complete listings, `$batch`
rounds and delta rounds.

Sources (`sources.py` for users, `devices.py`, `changes.py`, `sign_ins.py`) say *what* to read;
this module knows *how* Graph wants to be asked: percent-encoded OData options, which errors
are refusals to degrade on (licence, permission) rather than outages, a listing restarted when
its page token expires, `$batch` in bounded rounds, and the delta protocol (`$deltatoken=latest`,
rounds to a deltaLink, refused links as `DeltaExpired`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import quote

from connector.graph.client import (
    EXPIRED_PAGE_TOKEN,
    BatchRequest,
    BatchResponse,
    GraphClient,
    GraphError,
    GraphUnavailable,
    Page,
)
from connector.graph.dates import format_graph_datetime

__all__ = [
    "DENIED",
    "EXPIRED_CODES",
    "LISTING_RESTARTS",
    "MAX_PAGE",
    "NON_PREMIUM",
    "ROUND_ITEMS",
    "UNKNOWN_PROPERTY",
    "Availability",
    "DeltaExpired",
    "batch_values",
    "build_url",
    "complete_listing",
    "delta_rounds",
    "final_link",
    "in_rounds",
    "is_expired",
    "is_refusal",
    "latest_link",
    "odata_datetime",
    "odata_string",
    "refusal_reason",
]

log = logging.getLogger(__name__)

NON_PREMIUM: Final = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
DENIED: Final = "Authorization_RequestDenied"
LISTING_RESTARTS: Final = 3
# `$batch` items sent per round (8 requests of 20): enough to keep the limiter busy.
ROUND_ITEMS: Final = 160
UNKNOWN_PROPERTY: Final = re.compile(r"Could not find a property named '([^']+)'")
# Graph's answers to a delta token it no longer honours.
EXPIRED_CODES: Final = frozenset({"syncStateNotFound", "SyncStateNotFound", "syncStateInvalid",
                                  "resyncRequired", EXPIRED_PAGE_TOKEN})
MAX_PAGE: Final = {"Prefer": "odata.maxpagesize=999"}

FEATURE_LABELS: Final = {
    "last_sign_in": "last sign-in",
    "mfa": "MFA registration",
    "groups": "group memberships",
    "roles": "admin roles",
    "manager": "manager",
    "risk": "user risk level",
    "sso_apps": "SSO applications of users",
}


# --- availability ----------------------------------------------------------------------------

class Availability:
    """Features left out of this run and why; each is logged once, as a warning, under its
    label (`labels`: a stream's own, beside the inventory's `FEATURE_LABELS`)."""

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        self._reasons: dict[str, str] = {}
        self._labels = {**FEATURE_LABELS, **(labels or {})}

    def degrade(self, feature: str, reason: str) -> None:
        if feature in self._reasons:
            return
        self._reasons[feature] = reason
        log.warning("%s not collected: %s", self._labels.get(feature, feature), reason)

    def available(self, feature: str) -> bool:
        return feature not in self._reasons

    @property
    def reasons(self) -> dict[str, str]:
        return dict(self._reasons)


def refusal_reason(error: GraphError, licence: str = "P1/P2") -> str:
    """A plain sentence for why Graph refused an optional source."""
    if error.code == NON_PREMIUM:
        return (f"the tenant has no Microsoft Entra ID {licence} licence (Graph answered "
                f"{error.status} {error.code})")
    if error.code == DENIED:
        return (f"the app lacks a Graph permission it needs (Graph answered "
                f"{error.status} {error.code}: {error.message})")
    return f"Graph refused it ({error.status} {error.code}: {error.message})"


def is_refusal(error: GraphError) -> bool:
    """A refusal to degrade on, as opposed to Graph being unavailable (which fails the run)."""
    return not isinstance(error, GraphUnavailable) and 400 <= error.status < 500 \
        and error.status not in (401, 408, 429)


# --- URLs -------------------------------------------------------------------------------------

def _q(value: str) -> str:
    return quote(value, safe="$,()'=@/:*")


def build_url(path: str, params: Mapping[str, str | int | None]) -> str:
    """A relative Graph URL with OData options percent-encoded the way Graph expects."""
    parts = [f"{key}={_q(str(value))}" for key, value in params.items() if value is not None]
    return path + ("?" + "&".join(parts) if parts else "")


#: A date-time literal of a `$filter` (whole seconds, UTC).
odata_datetime: Final = format_graph_datetime


def odata_string(value: str) -> str:
    """A string literal of a `$filter`, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


# --- listings that must be complete -----------------------------------------------------------

async def complete_listing(client: GraphClient, url: str, consume: Callable[[Page], None],
                           reset: Callable[[], None], headers: Mapping[str, str] | None = None
                           ) -> None:
    """Read a whole listing; an expired page token restarts it from scratch (after `reset`)."""
    for attempt in range(LISTING_RESTARTS + 1):
        try:
            async for page in client.pages(url, headers):
                consume(page)
            return
        except GraphError as error:
            if error.code != EXPIRED_PAGE_TOKEN or attempt == LISTING_RESTARTS:
                raise
            log.info("page token expired while reading %s; reading it again", url.split("?")[0])
            reset()


# --- $batch -------------------------------------------------------------------------------------

async def in_rounds(client: GraphClient, pending: list[tuple[str, str]],
                    consume: Callable[[str, BatchResponse], str | None]) -> None:
    """`$batch` GETs keyed by owner, a bounded round at a time; `consume` returns a next link.

    Rounds keep memory flat: a round's responses are consumed before the next is sent, instead
    of holding every answer at once.
    """
    while pending:
        round_, pending = pending[:ROUND_ITEMS], pending[ROUND_ITEMS:]
        responses = await client.batch(
            [BatchRequest(str(i), url) for i, (_, url) in enumerate(round_)])
        for (owner, _), response in zip(round_, responses, strict=True):
            link = consume(owner, response)
            if link:
                pending.append((owner, client.relative(link)))


def batch_values(response: BatchResponse) -> tuple[list[Any], str | None]:
    """An item's `value` list and next link; 404 (deleted meanwhile) is empty, others raise."""
    if response.status == 404:
        return [], None
    if response.status != 200:
        raise response.error()
    body = response.body if isinstance(response.body, Mapping) else {}
    values = body.get("value")
    link = body.get("@odata.nextLink")
    return (values if isinstance(values, list) else [],
            link if isinstance(link, str) and link else None)


# --- delta --------------------------------------------------------------------------------------

class DeltaExpired(Exception):
    """Graph no longer honours a stored delta link; the message says which and what it said."""


def is_expired(error: GraphError) -> bool:
    return error.status == 410 or error.code in EXPIRED_CODES


def _link(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


async def latest_link(client: GraphClient, url: str) -> str:
    """A delta link meaning "changes from now on" (`$deltatoken=latest`); a Graph that does not
    know `latest` (400) gets a whole initial round instead, whose items are not needed."""
    sep = "&" if "?" in url else "?"
    try:
        return await final_link(client, f"{url}{sep}$deltatoken=latest")
    except GraphError as error:
        if error.status != 400 or UNKNOWN_PROPERTY.search(error.message):
            raise
        log.info("Graph refused $deltatoken=latest (%s); reading a whole delta round instead",
                 error.code)
        return await final_link(client, url)


async def final_link(client: GraphClient, url: str) -> str:
    """The deltaLink at the end of the round from `url` (its items are dropped)."""
    link: str | None = None
    next_url: str | None = url
    while next_url is not None:
        body = await client.get_json(next_url, MAX_PAGE)
        next_url = _link(body.get("@odata.nextLink"))
        link = _link(body.get("@odata.deltaLink")) or link
    if link is None:
        raise GraphError(500, "NoDeltaLink", f"{url.split('?')[0]} gave no deltaLink")
    return link


async def delta_rounds(client: GraphClient, link: str, source: str) -> tuple[list[Any], str]:
    """Every item of one delta round from `link`, and the round's new delta link; raises
    `DeltaExpired` when Graph refuses the link (the caller resyncs)."""
    items: list[Any] = []
    next_url: str | None = link
    while True:
        try:
            body = await client.get_json(next_url or link, MAX_PAGE)
        except GraphError as error:
            if is_expired(error):
                raise DeltaExpired(f"the {source} delta link was refused ({error.status} "
                                   f"{error.code}: {error.message})") from error
            raise
        values = body.get("value")
        if not isinstance(values, list):
            # Never "no changes": the link would move past changes nobody read.
            raise GraphError(502, "MalformedDeltaPage",
                             f"a {source} delta page has no 'value' list "
                             f"({'missing' if values is None else type(values).__name__}); "
                             "the delta link is kept, the next run reads these changes again")
        items.extend(values)
        next_url = _link(body.get("@odata.nextLink"))
        if next_url is None:
            delta = _link(body.get("@odata.deltaLink"))
            if delta is None:
                raise GraphError(500, "NoDeltaLink", f"the {source} delta round gave no link")
            return items, delta
