"""The runtime-facing plugin: configuration and checkpoint in, (events, checkpoint) batches out.

A runtime (or the CLI) iterates `batches()`, delivers each batch's events, and only then commits
its checkpoint; a run that dies between the two re-delivers at most one batch. The Graph work is
asynchronous; `batches()` drives it with one event loop kept for the plugin's life, so the sync
generator advances the collection exactly as far as the next batch and no further.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Iterator, Mapping
from importlib import metadata
from typing import Any

from connector.clouds import resolve
from connector.config import Settings, load_settings
from connector.diagnostics import start_of_run_checks
from connector.graph.client import GraphClient
from connector.ocsf import user_inventory as ocsf
from connector.state import StateStore
from connector.streams.batch import Batch
from connector.streams.changes import TrackedRun
from connector.streams.users import Collection, Summary

__all__ = ["PRODUCT", "Batch", "EntraIdUserInventory", "Summary"]

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return metadata.version("entra-ocsf-connector")
    except metadata.PackageNotFoundError:
        return "0.0.0"


PRODUCT = ocsf.Product(name="Microsoft Entra ID user inventory", vendor_name="Microsoft",
                       version=_version())


class EntraIdUserInventory:
    """One collection cycle per instance.

    `settings` is a `Settings` or a configuration mapping (validated here; `ConfigError` names
    every bad key). `checkpoint` is what the last delivered batch of an earlier run carried, or
    None for a first, full collection; with a `store` and no `checkpoint`, the store's is used.
    The caller delivers each batch's events, then commits it (`store.commit(batch)`). After the
    batches are exhausted (or the run failed), `summary` says what was done and what was left out.

    With a `store` (and no explicit `checkpoint`), runs track changes (`streams/changes.py`):
    besides new users, each changed, deleted or restored user is emitted once with their full
    current state, and batches carry the facts to remember (`Batch.writes`), which
    `store.commit(batch)` applies with the checkpoint. `full=True` forces a full collection.
    Without a store a run is a full or `createdDateTime`-incremental collection, as before, and
    the summary says change tracking needs a store.

    Every run starts with the checks of `diagnostics.start_of_run_checks` (the credential's end
    date, optional permissions), logged once, so a runtime's logs warn before the data stops;
    `warnings` keeps the ones that deserved a warning.
    """

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        self.settings = settings if isinstance(settings, Settings) else load_settings(settings)
        self.tracking = store is not None and checkpoint is None
        self.full = full
        if checkpoint is None and store is not None:
            checkpoint = store.load("users")
        self.checkpoint = dict(checkpoint) if checkpoint else None
        self.store = store
        self.summary = Summary()
        self.warnings: list[str] = []
        self._client: GraphClient | None = None
        self._runner: asyncio.Runner | None = None

    def counters(self) -> dict[str, float]:
        """Live counts for a progress display; plain numbers, safe to read from another thread."""
        stats = self._client.stats if self._client is not None else None
        return {
            "users_listed": self.summary.users_listed,
            "events": self.summary.events,
            "requests": stats.requests if stats else 0,
            "throttled": stats.throttled if stats else 0,
            "retry_wait_seconds": stats.retry_wait_seconds if stats else 0.0,
        }

    async def abatches(self) -> AsyncGenerator[Batch, None]:
        """The batches, for a runtime that already runs an event loop."""
        client = self._client = GraphClient.from_settings(self.settings)
        cloud_name = resolve(self.settings).name
        run: Collection | TrackedRun
        if self.tracking and self.store is not None:
            self.summary = Summary()
            run = TrackedRun(self.settings, client, self.store, product=PRODUCT,
                             cloud_name=cloud_name, summary=self.summary, full=self.full)
        else:
            run = Collection(self.settings, None if self.full else self.checkpoint, client,
                             product=PRODUCT, cloud_name=cloud_name)
            self.summary = run.summary
            if self.store is not None:
                self.summary.tracking = "off: an explicit checkpoint was given"
        try:
            self.warnings = await start_of_run_checks(self.settings, client)
            async for batch in run.batches():
                yield batch
        finally:
            await client.aclose()

    def batches(self) -> Iterator[Batch]:
        """The batches, synchronously: each `next()` runs the collection to the next batch."""
        runner = self._runner = asyncio.Runner()
        stream = self.abatches()
        try:
            while True:
                try:
                    batch = runner.run(_next(stream))
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            try:
                runner.run(stream.aclose())
            finally:
                runner.close()
                self._runner = None


async def _next(stream: AsyncGenerator[Batch, None]) -> Batch:
    return await anext(stream)
