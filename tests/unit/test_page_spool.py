"""The page spool: first in, first out, a few pages in memory and the rest on disk."""

from __future__ import annotations

import os

import orjson
from hypothesis import given
from hypothesis import strategies as st

from connector.streams.spool import PageSpool


def _page(n: int) -> list[dict[str, object]]:
    return [{"id": f"u{n}-{i}", "displayName": "Zoë", "n": i} for i in range(3)]


def test_pages_past_the_memory_limit_go_to_disk_and_come_back_in_order() -> None:
    spool: PageSpool[int] = PageSpool(memory_pages=2)
    for n in range(6):
        spool.put(n, _page(n))
    assert spool.spilled_pages == 4
    assert [spool.get() for _ in range(6)] == [(n, _page(n)) for n in range(6)]
    assert len(spool) == 0
    spool.close()


def test_a_spool_the_join_keeps_up_with_never_touches_the_disk() -> None:
    spool: PageSpool[int] = PageSpool(memory_pages=2)
    for n in range(50):
        spool.put(n, _page(n))
        assert spool.get() == (n, _page(n))
    assert spool.spilled_pages == 0
    spool.close()


def test_the_file_is_rewritten_from_its_start_once_drained() -> None:
    spool: PageSpool[int] = PageSpool(memory_pages=0)
    for n in range(100):
        spool.put(n, _page(n))
        assert spool.get() == (n, _page(n))
    assert spool._file is not None
    assert os.fstat(spool._file.fileno()).st_size < 2 * len(orjson.dumps(_page(99)))
    spool.close()


@given(st.lists(st.one_of(st.just(None), st.integers(0, 5)), max_size=60),
       st.integers(0, 3))
def test_any_interleaving_of_puts_and_gets_is_first_in_first_out(ops: list[int | None],
                                                                 memory: int) -> None:
    spool: PageSpool[int] = PageSpool(memory_pages=memory)
    put = got = 0
    for op in ops:
        if op is None and len(spool):
            assert spool.get() == (got, _page(got))
            got += 1
        elif op is not None:
            spool.put(put, _page(put))
            put += 1
    while len(spool):
        assert spool.get() == (got, _page(got))
        got += 1
    assert got == put
    spool.close()
