"""A first-in, first-out queue of listing pages that keeps a few in memory and the rest in an
anonymous temporary file.

A listing that must not stall while the run's other sources load (the users' `signInActivity`
pages: 10 a minute, and each minute they wait is lost for good) reads ahead of the join. How
far ahead depends on Graph's limits, not on us: at 100,000 users the registration report takes
six to seven minutes of the reports slots the listing leaves it, some 65 pages of users; at a
million users, over an hour.
Holding those pages parsed would cost memory in proportion to the tenant, so past
`memory_pages` they are written out as JSON and read back in order. The file is created
unlinked (`tempfile.TemporaryFile`, mode 0600), so user data never outlives the process.
"""

from __future__ import annotations

import tempfile
from collections import deque
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

import orjson

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _OnDisk:
    offset: int
    length: int


class PageSpool(Generic[T]):
    """FIFO of `(meta, items)` pairs: `items` is a JSON-able list, `meta` any object kept in
    memory (a page's URL and query flags: small)."""

    def __init__(self, memory_pages: int = 4) -> None:
        self.memory_pages = memory_pages
        self._queue: deque[tuple[T, list[Any] | _OnDisk]] = deque()
        self._in_memory = 0
        self._on_disk = 0
        self._file: IO[bytes] | None = None
        self._end = 0
        self.spilled_pages = 0
        self.most_pages = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, meta: T, items: list[Any]) -> None:
        if self._in_memory < self.memory_pages:
            self._queue.append((meta, items))
            self._in_memory += 1
        else:
            self._queue.append((meta, self._write(items)))
            self._on_disk += 1
            self.spilled_pages += 1
        self.most_pages = max(self.most_pages, len(self._queue))

    def get(self) -> tuple[T, list[Any]]:
        """The oldest page; IndexError when empty."""
        meta, held = self._queue.popleft()
        if isinstance(held, _OnDisk):
            items: list[Any] = orjson.loads(self._read(held))
            self._on_disk -= 1
            if not self._on_disk:
                self._end = 0  # nothing left on disk: the file is rewritten from its start
        else:
            items = held
            self._in_memory -= 1
        return meta, items

    def close(self) -> None:
        self._queue.clear()
        self._in_memory = self._on_disk = self._end = 0
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, items: list[Any]) -> _OnDisk:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="entra-ocsf-pages-")  # noqa: SIM115 (closed in close())
        data = orjson.dumps(items)
        self._file.seek(self._end)
        self._file.write(data)
        spot = _OnDisk(self._end, len(data))
        self._end += len(data)
        return spot

    def _read(self, spot: _OnDisk) -> bytes:
        assert self._file is not None
        self._file.seek(spot.offset)
        return self._file.read(spot.length)
