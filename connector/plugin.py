"""The runtime-facing plugins: configuration and checkpoint in, (events, checkpoint) batches out.

`EntraIdUserInventory` is the user inventory (class 5003), `EntraIdSignIns` the sign-in logs
(class 3002), `connector.streams.devices.EntraIdDevices` the devices (class 5001) and
`connector.streams.directory_audits.EntraIdDirectoryAudits` the directory audit log (classes
3001, 3004, 3005, 3006; a stream's plugin may live in its stream module, the stream registry
names it), each for a runtime that schedules them apart (logs every few minutes, the inventory
hourly or daily). `EntraIdConnector` runs several streams in one process over one
Graph client, so the single reporting budget (5 requests / 10 s) is shared first come, first
served between them; its batches interleave and each names its stream.

A runtime (or the CLI) iterates `batches()`, delivers each batch's events, and only then commits
its checkpoint; a run that dies between the two re-delivers at most one batch. The Graph work is
asynchronous; `batches()` drives it with one event loop kept for the plugin's life, so the sync
generator advances the collection exactly as far as the next batch and no further.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, ClassVar

from connector.clouds import resolve
from connector.config import Settings, load_settings
from connector.diagnostics import describe_login_failure, start_of_run_checks
from connector.graph.client import AuthenticationFailed, GraphClient
from connector.ocsf import user_inventory as ocsf
from connector.state import StateStore
from connector.streams import mfa_handoff, registry, sign_ins
from connector.streams.base import RunSummary
from connector.streams.batch import Batch
from connector.streams.changes import TrackedRun
from connector.streams.sign_ins import SignInCollection, SignInSummary
from connector.streams.users import Collection, Summary

__all__ = ["PRODUCT", "SIGN_IN_PRODUCT", "STREAMS", "Batch", "EntraIdConnector", "EntraIdSignIns",
           "EntraIdUserInventory", "SignInSummary", "StreamPlugin", "Summary", "default_streams",
           "drive", "product"]

#: Stream names, in the order a combined run starts them (the stream registry's).
STREAMS = registry.names()

log = logging.getLogger(__name__)


def product(name: str) -> ocsf.Product:
    """`metadata.product` of a stream's events: its name, Microsoft, the connector's version."""
    return ocsf.Product(name=name, vendor_name="Microsoft", version=_version())


def _version() -> str:
    try:
        return metadata.version("entra-ocsf-connector")
    except metadata.PackageNotFoundError:
        return "0.0.0"


PRODUCT = ocsf.Product(name="Microsoft Entra ID user inventory", vendor_name="Microsoft",
                       version=_version())
SIGN_IN_PRODUCT = ocsf.Product(name="Microsoft Entra ID sign-in logs", vendor_name="Microsoft",
                               version=_version())


def _settings(settings: Settings | Mapping[str, Any]) -> Settings:
    return settings if isinstance(settings, Settings) else load_settings(settings)


def default_streams(settings: Settings) -> tuple[str, ...]:
    """What a run collects unless told otherwise: the inventory, and each stream whose settings
    block is enabled (`sign_ins`, `devices`)."""
    return registry.default_streams(settings)


class StreamPlugin:
    """What every stream's plugin shares: settings and checkpoint in, one Graph client, batches
    out (sync or async), live counters. A subclass names its `STREAM` and collects in
    `abatches_on`; a new stream's plugin lives in its stream module (`streams/devices.py`) and
    the stream registry names it."""

    STREAM: ClassVar[str]
    summary: RunSummary

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        self.full = full
        self.settings = _settings(settings)
        if checkpoint is None and store is not None:
            checkpoint = store.load(self.STREAM)
        self.checkpoint = dict(checkpoint) if checkpoint else None
        self.store = store
        self.warnings: list[str] = []
        self._client: GraphClient | None = None

    def _listed(self) -> dict[str, float]:
        raise NotImplementedError

    def counters(self) -> dict[str, float]:
        """Live counts for a progress display; plain numbers, safe to read from another thread."""
        stats = self._client.stats if self._client is not None else None
        return {
            **self._listed(),
            "events": self.summary.events,
            "requests": stats.requests if stats else 0,
            "throttled": stats.throttled if stats else 0,
            "retry_wait_seconds": stats.retry_wait_seconds if stats else 0.0,
        }

    async def prepare(self, client: GraphClient) -> None:
        """What a run of this stream alone does before collecting (nothing by default)."""

    async def _explain_login(self, client: GraphClient) -> None:
        """A login failure explained (AADSTS meaning and fix), as the inventory's checks do."""
        try:
            await client.token_claims()
        except AuthenticationFailed as error:
            raise AuthenticationFailed(
                describe_login_failure(error, resolve(self.settings))) from None

    def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        raise NotImplementedError

    async def abatches(self) -> AsyncGenerator[Batch, None]:
        """The batches, for a runtime that already runs an event loop."""
        client = GraphClient.from_settings(self.settings)
        try:
            await self.prepare(client)
            async for batch in self.abatches_on(client):
                yield batch
        finally:
            await client.aclose()

    def batches(self) -> Iterator[Batch]:
        """The batches, synchronously: each `next()` runs the collection to the next batch."""
        return drive(self.abatches())


class EntraIdUserInventory(StreamPlugin):
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
    `warnings` keeps the ones that deserved a warning. A runtime that runs cycles often over one
    client (the Sekoia.io module) passes `start_checks=False` between its daily checks.
    """

    STREAM = "users"

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False,
                 start_checks: bool = True) -> None:
        self.tracking = store is not None and checkpoint is None
        self.start_checks = start_checks
        # The audit stream of the same run, when there is one (`EntraIdConnector` sets it).
        self.audit_feed: Callable[[], Awaitable[mfa_handoff.Shared]] | None = None
        super().__init__(settings, checkpoint, store=store, full=full)
        self.summary: Summary = Summary()

    def _listed(self) -> dict[str, float]:
        return {"users_listed": self.summary.users_listed}

    async def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        """The batches, through a client (and its throttle) shared with other streams."""
        self._client = client
        cloud_name = resolve(self.settings).name
        run: Collection | TrackedRun
        if self.tracking and self.store is not None:
            self.summary = Summary()
            run = TrackedRun(self.settings, client, self.store, product=PRODUCT,
                             cloud_name=cloud_name, summary=self.summary, full=self.full,
                             audit_feed=self.audit_feed)
        else:
            run = Collection(self.settings, None if self.full else self.checkpoint, client,
                             product=PRODUCT, cloud_name=cloud_name)
            self.summary = run.summary
            if self.store is not None:
                self.summary.tracking = "off: an explicit checkpoint was given"
        if self.start_checks:
            self.warnings = await start_of_run_checks(self.settings, client)
        async for batch in run.batches():
            yield batch


def drive(stream: AsyncGenerator[Batch, None]) -> Iterator[Batch]:
    """Run an async batch stream synchronously, one event loop for its life: each `next()`
    advances the collection exactly as far as the next batch."""
    with asyncio.Runner() as runner:
        try:
            while True:
                try:
                    batch = runner.run(_next(stream))
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            runner.run(stream.aclose())


async def _next(stream: AsyncGenerator[Batch, None]) -> Batch:
    return await anext(stream)


class EntraIdSignIns(StreamPlugin):
    """One sign-in run per instance: the sign-in logs since the checkpoint, as 3002 events.

    The same contract as `EntraIdUserInventory`: `checkpoint` is the `sign_ins` checkpoint of
    the last delivered batch (or the store's), the caller delivers each batch's events and then
    commits it. A tenant without P1/P2, or an app without AuditLog.Read.All, yields no batch:
    `summary.degraded["sign_ins"]` says why (logged once as a warning; `warnings` stays for
    what the start-of-run checks found, as in the inventory). A run does not check the
    credential's end date (the inventory's runs and `test` do): on a schedule of a few minutes
    that would spend a request every run.
    """

    STREAM = sign_ins.STREAM

    def __init__(self, settings: Settings | Mapping[str, Any],
                 checkpoint: Mapping[str, Any] | None = None, *,
                 store: StateStore | None = None, full: bool = False) -> None:
        super().__init__(settings, checkpoint, store=store, full=full)  # `full`: no meaning here
        self.summary: SignInSummary = SignInSummary()

    def _listed(self) -> dict[str, float]:
        return {"sign_ins_listed": self.summary.listed}

    async def prepare(self, client: GraphClient) -> None:
        await self._explain_login(client)

    async def abatches_on(self, client: GraphClient) -> AsyncGenerator[Batch, None]:
        """The batches, through a client (and its throttle) shared with other streams."""
        self._client = client
        collection = SignInCollection(self.settings, self.checkpoint, client,
                                      product=SIGN_IN_PRODUCT)
        self.summary = collection.summary
        async for batch in collection.batches():
            yield batch


class EntraIdConnector:
    """Several streams in one run, over one Graph client: the batches of all, as they come.

    `streams` names them (the stream registry's names: `users`, `sign_ins`, `devices`,
    `directory_audits`; default:
    `default_streams(settings)`); each starts from its own checkpoint in `store` (or
    `checkpoints`); `full` forces the tracked streams (users, devices) to collect everything. They run concurrently, so the
    shared reporting budget is granted in turn (the throttle's window limiter is first come,
    first served) and neither starves. A stream that fails does not stop the others: they run
    to completion, then the first failure is raised. `plugins` holds the per-stream plugins and
    their summaries.
    """

    def __init__(self, settings: Settings | Mapping[str, Any], *,
                 store: StateStore | None = None, streams: Sequence[str] | None = None,
                 checkpoints: Mapping[str, Mapping[str, Any] | None] | None = None,
                 full: bool = False) -> None:
        self.settings = _settings(settings)
        names = tuple(streams) if streams else default_streams(self.settings)
        unknown = [name for name in names if name not in STREAMS]
        if unknown:
            raise ValueError(f"unknown stream(s) {', '.join(unknown)}; known: {', '.join(STREAMS)}")
        given = checkpoints or {}
        self.plugins: dict[str, StreamPlugin] = {}
        for spec in registry.STREAMS:
            if spec.name in names:
                self.plugins[spec.name] = registry.plugin_class(spec)(
                    self.settings, given.get(spec.name), store=store, full=full)
        users, audits = self.plugins.get("users"), self.plugins.get("directory_audits")
        if isinstance(users, EntraIdUserInventory) and audits is not None:
            users.audit_feed = getattr(audits, "shared_read", None)  # one read serves both
        self.failures: dict[str, BaseException] = {}
        self._client: GraphClient | None = None

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.plugins)

    @property
    def graph_requests(self) -> int:
        """Graph requests of the whole run, all streams."""
        return self._client.stats.requests if self._client is not None else 0

    @property
    def warnings(self) -> list[str]:
        return [warning for plugin in self.plugins.values() for warning in plugin.warnings]

    def counters(self) -> dict[str, float]:
        """Live counts of all streams for a progress display (Graph counts are the client's)."""
        out: dict[str, float] = {}
        for plugin in self.plugins.values():
            for key, value in plugin.counters().items():
                out[key] = value if key in ("requests", "throttled", "retry_wait_seconds") \
                    else out.get(key, 0) + value
        return out

    async def abatches(self) -> AsyncGenerator[Batch, None]:
        client = self._client = GraphClient.from_settings(self.settings)
        try:
            if "users" not in self.plugins:  # the inventory's own checks cover the login
                for plugin in self.plugins.values():
                    await plugin.prepare(client)
            streams = {name: plugin.abatches_on(client) for name, plugin in self.plugins.items()}
            async for batch in _merge(streams, self.failures):
                yield batch
            if len(self.plugins) > 1:
                for name, failure in self.failures.items():
                    log.error("the %s stream failed: %s", name, failure)
            if self.failures:
                raise next(iter(self.failures.values()))
        finally:
            await client.aclose()

    def batches(self) -> Iterator[Batch]:
        return drive(self.abatches())


async def _merge(streams: Mapping[str, AsyncGenerator[Batch, None]],
                 failures: dict[str, BaseException]) -> AsyncGenerator[Batch, None]:
    """Batches of several streams as each produces them; a failed stream is recorded in
    `failures` and the others carry on. A producer runs at most one batch ahead."""
    if len(streams) == 1:
        (name, only), = streams.items()
        try:
            async for batch in only:
                yield batch
        except Exception as error:
            failures[name] = error
        finally:
            await only.aclose()
        return
    queue: asyncio.Queue[Batch | None] = asyncio.Queue(maxsize=1)

    async def pump(name: str, stream: AsyncGenerator[Batch, None]) -> None:
        try:
            async for batch in stream:
                await queue.put(batch)
        except Exception as error:
            failures[name] = error
        finally:
            await stream.aclose()
        # Not in `finally`: a pump cancelled because the consumer stopped must not wait for
        # room in a queue nobody reads any more.
        await queue.put(None)

    tasks = [asyncio.create_task(pump(name, stream), name=f"stream {name}")
             for name, stream in streams.items()]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if item is None:
                running -= 1
                continue
            yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
