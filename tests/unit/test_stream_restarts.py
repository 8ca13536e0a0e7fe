"""`streams.base.restarted`: a listing whose page token expired is listed again, as many times
as its `Restarts` allow, and nothing else is retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from connector.graph.client import EXPIRED_PAGE_TOKEN, GraphError
from connector.streams.base import Restarts, restarted


def _listing(pages: list[list[int]], failures: list[GraphError]) -> AsyncIterator[int]:
    """Yields the next page's items, then raises the next failure (if any)."""

    async def listing() -> AsyncIterator[int]:
        for item in pages.pop(0):
            yield item
        if failures:
            raise failures.pop(0)

    return listing()


async def _collect(items: AsyncIterator[int]) -> list[int]:
    return [item async for item in items]


def _expired() -> GraphError:
    return GraphError(400, EXPIRED_PAGE_TOKEN, "expired")


def test_an_expired_page_token_lists_again_and_the_items_go_on() -> None:
    pages, failures = [[1, 2], [3]], [_expired()]
    restarts = Restarts("test")
    got = asyncio.run(_collect(restarted(lambda: _listing(pages, failures), restarts, "again")))
    assert (got, restarts.count) == ([1, 2, 3], 1)


def test_the_listing_fails_once_its_restarts_are_spent() -> None:
    pages, failures = [[1], [2], [3]], [_expired(), _expired(), _expired()]
    restarts = Restarts("test", limit=2)
    with pytest.raises(GraphError):
        asyncio.run(_collect(restarted(lambda: _listing(pages, failures), restarts, "again")))
    assert restarts.count == 2


def test_another_graph_error_is_not_retried() -> None:
    pages, failures = [[1], [2]], [GraphError(403, "Authorization_RequestDenied", "no")]
    restarts = Restarts("test")
    with pytest.raises(GraphError, match="no"):
        asyncio.run(_collect(restarted(lambda: _listing(pages, failures), restarts, "again")))
    assert (restarts.count, pages) == (0, [[2]])
