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

from connector import ocsf
from connector.clouds import resolve
from connector.config import Settings, load_settings
from connector.graph.client import GraphClient
from connector.inventory import Batch, Collection, Summary

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
    None for a first, full collection. After the batches are exhausted (or the run failed),
    `summary` says what was done and what was left out.
    """

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None) -> None:
        self.settings = settings if isinstance(settings, Settings) else load_settings(settings)
        self.checkpoint = dict(checkpoint) if checkpoint else None
        self.summary = Summary()
        self._runner: asyncio.Runner | None = None

    async def abatches(self) -> AsyncGenerator[Batch, None]:
        """The batches, for a runtime that already runs an event loop."""
        client = GraphClient.from_settings(self.settings)
        collection = Collection(self.settings, self.checkpoint, client, product=PRODUCT,
                                cloud_name=resolve(self.settings).name)
        self.summary = collection.summary
        try:
            async for batch in collection.batches():
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
