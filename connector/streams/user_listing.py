"""The users listing of a collection, read ahead of the join at the pace Graph allows.

With `signInActivity` selected the listing is the scarcest thing a run asks for: 10 pages a
minute, and a minute in which it asks nothing is lost for good, since its window only slides.
The join cannot start before the tenant-wide lookups (group memberships, the registration
report) are complete, and the report alone takes minutes of the reports budget at 100,000
users. So the listing does not wait for the join: a background reader keeps asking at the
limit's pace and parks the pages in a `PageSpool` (a few in memory, the rest on disk) until the
join takes them. An expired page token restarts the listing from the start; each page carries
the query in force and whether it was read after a restart, for the checkpoint and the
de-duplication of users delivered before it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from connector.graph.client import GraphClient, GraphError, Page
from connector.graph.odata import Availability
from connector.graph.sources import UserQuery, user_pages
from connector.streams.base import Restarts
from connector.streams.spool import PageSpool

# Pages parked at most before the reader waits for the join: 200,000 users with signInActivity
# (500 a page), about 300 MB of disk at worst. Reached only when the join waits longer than 40
# minutes of the 10-per-minute limit (the registration report of about a million users).
MOST_PAGES_AHEAD = 400


@dataclass(frozen=True, slots=True)
class ListedPage:
    page: Page
    flags: dict[str, Any]  # the query in force when the page was read (for the checkpoint)
    restarted: bool  # read after the listing restarted: users delivered before are skipped


@dataclass(frozen=True, slots=True)
class _Meta:
    url: str
    next_link: str | None
    flags: dict[str, Any]
    restarted: bool


class UserListing:
    """`peek` reads ahead in the caller's task (the small-run decision needs the first pages);
    `read_ahead` goes on in the background; `pages` yields every page once, in order."""

    def __init__(self, client: GraphClient, availability: Availability, query: UserQuery,
                 resume_url: str | None, *, most_pages: int = MOST_PAGES_AHEAD) -> None:
        self.client = client
        self.availability = availability
        self.query = query
        self.start = resume_url
        self.buffer: list[ListedPage] = []
        self.ended = False
        self.most_pages = max(1, most_pages)
        self._restarts = Restarts("users")
        self._iterator: AsyncIterator[tuple[UserQuery, Page]] | None = None
        self._spool: PageSpool[_Meta] = PageSpool()
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # a page parked, one taken, or the reader stopped

    @property
    def restarts(self) -> int:
        return self._restarts.count

    @property
    def buffered_users(self) -> int:
        return sum(len(p.page.items) for p in self.buffer)

    @property
    def spilled_pages(self) -> int:
        """Pages the reader parked on disk (the join was that far behind)."""
        return self._spool.spilled_pages

    def query_flags(self) -> dict[str, Any]:
        q = self.query
        return {"sign_in": q.sign_in, "manager": q.manager, "advanced": q.advanced,
                "fields": list(q.fields)}

    async def _next(self) -> Page | None:
        while True:
            if self._iterator is None:
                self._iterator = user_pages(self.client, self.query, self.availability,
                                            self.start)
            try:
                query, page = await anext(self._iterator)
            except StopAsyncIteration:
                self.ended = True
                return None
            except GraphError as error:
                if not self._restarts.allow(error, "listing again from the start (users "
                                                   "already delivered are skipped)"):
                    raise
                self._iterator = None
                self.start = None
                continue
            self.query = query
            if page.next_link is None:
                self.ended = True
            return page

    async def peek(self, users: int) -> None:
        """Read ahead until more than `users` users are buffered or the listing ends."""
        while not self.ended and self.buffered_users <= users:
            page = await self._next()
            if page is None:
                return
            self.buffer.append(ListedPage(page, self.query_flags(), self.restarts > 0))

    def read_ahead(self) -> None:
        """Go on reading in the background from here (idempotent)."""
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read_rest())

    async def _read_rest(self) -> None:
        try:
            while not self.ended:
                while len(self._spool) >= self.most_pages:
                    self._changed.clear()
                    await self._changed.wait()
                page = await self._next()
                if page is None:
                    return
                self._spool.put(_Meta(page.url, page.next_link, self.query_flags(),
                                      self.restarts > 0), page.items)
                self._changed.set()
        finally:
            self._changed.set()

    async def pages(self) -> AsyncIterator[ListedPage]:
        """The peeked pages, then the reader's, each once and in order."""
        try:
            while self.buffer:
                yield self.buffer.pop(0)
            self.read_ahead()
            reader = self._reader
            assert reader is not None
            while True:
                if len(self._spool):
                    meta, items = self._spool.get()
                    self._changed.set()
                    yield ListedPage(Page(items, meta.url, meta.next_link), meta.flags,
                                     meta.restarted)
                    continue
                if reader.done():
                    reader.result()  # the reader's error, after every page it read
                    return
                self._changed.clear()
                await self._changed.wait()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Stop the reader and drop what it parked (a run that ended early)."""
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self._spool.close()
