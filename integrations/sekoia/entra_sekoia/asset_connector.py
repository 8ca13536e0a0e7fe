"""The asset connectors Sekoia's runtime starts: our plugins' batches, pushed the SDK's way.

Two connectors share one cycle (`EntraIdAssetConnector`): `EntraIdUsersAssetConnector` (the user
inventory as the SDK's `UserOCSFModel`) and `EntraIdDevicesAssetConnector` (the device stream as
its `DeviceOCSFModel`, `device_assets.py`), each with its own state file, so the same delivery
guarantees hold for both.

`AsyncAssetConnector` (sekoia-automation-sdk 1.27) gives the platform plumbing we keep: the
configuration files, secrets, the push endpoint, headers and body, the task endpoint, the logs
channel, the schema-fingerprint re-collection. Its cycle we replace, because of what it does with
failures (read in `async_connector.py`; each point has a test in tests/sekoia/):

- a push is retried only on an exception, never on an HTTP status; any non-200 but 429 is logged
  and the cycle goes on, so the next accepted push moves the checkpoint past the refused batch;
- a push whose platform task ends FAILED is only logged: the checkpoint already moved;
- nothing backs off: a refusing platform or a cycle that raises is retried at once (hot loops),
  a 429 without `Retry-After` pauses for an hour, and the sleep between cycles follows only idle
  cycles and is an `asyncio.sleep` a SIGTERM does not cut short.

Here (`asset_fetch_cycle`, `async_run`) a cycle is a pipeline of two tasks. The producer collects
our batches (one push each: the plugin's batch size is the SDK's) and pushes them (`push.py`):
transient refusals retried in place with backoff (429: its `Retry-After`, else `rate_limit_wait`,
one minute), a push the platform rejects (400, 413, 422) split down to the one record it will not
take, which is skipped and reported, a refused API key (401, 403) a configuration error. The
acknowledger follows the oldest batch's ingestion tasks and commits its checkpoint once every one
FINISHED, strictly in batch order; a task that FAILED, or is still pending `task_poll_timeout`
after its push, has its items pushed again. Nothing else counts as delivered. A push not accepted
within `PUSH_DEADLINE_SECONDS` ends the cycle with the checkpoint where it was (and a `Retry-After`
longer than that delays the next cycle as asked); a failed cycle waits 30 s, doubling to an
hour, before the next; every cycle starts `frequency` seconds after the previous one started;
every wait ends at once on a stop request (SIGTERM, or the SDK's `stop()`), which also cancels a
cycle in flight. One Graph client serves every cycle (no token request while its token lives);
the credential and permission checks run on the first cycle, then daily and after a failure.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import orjson
from sekoia_automation.asset_connector import AsyncAssetConnector
from sekoia_automation.asset_connector.models.connector import AssetItem, AssetList
from sekoia_automation_models.ocsf.device import DeviceOCSFModel
from sekoia_automation_models.ocsf.user import UserOCSFModel

from connector.config import ConfigError, Settings
from connector.graph.client import GraphClient
from connector.logs import REDACTOR
from connector.ocsf.device_inventory import MAPPING as DEVICE_MAPPING
from connector.ocsf.user_inventory import MAPPING
from connector.plugin import EntraIdUserInventory, StreamPlugin
from connector.state import StateStore
from connector.streams.batch import Batch
from connector.streams.devices import EntraIdDevices
from entra_sekoia.assets import ASSET_MAPPING, DROPPED, AssetMappingError, to_asset
from entra_sekoia.device_assets import DEVICE_ASSET_MAPPING, DEVICE_DROPPED, to_device_asset
from entra_sekoia.manifest import module_values, settings_from_module
from entra_sekoia.platform_logs import route_logs_to
from entra_sekoia.push import poll_task, post
from entra_sekoia.state_location import StateLocation

#: What our connectors push: the SDK's user and device models.
Asset = UserOCSFModel | DeviceOCSFModel

__all__ = ["EntraIdAssetConnector", "EntraIdDevicesAssetConnector", "EntraIdUsersAssetConnector"]


class _Stopped(Exception):
    """A stop request arrived; nothing more is pushed or committed."""


class PushAbandoned(Exception):
    """A batch was refused for longer than the push deadline; its checkpoint was not committed.

    `not_before`: the platform's Retry-After when it asked for longer than the deadline left;
    the next cycle starts no earlier."""

    def __init__(self, message: str, *, not_before: float | None = None) -> None:
        super().__init__(message)
        self.not_before = not_before


def _api_key_refused(detail: str) -> ConfigError:
    return ConfigError([("sekoia_api_key", f"Sekoia.io refused the asset connector's API key "
                         f"({detail}); give the connector a key allowed to push assets for it")])


@dataclass(slots=True)
class _Part:
    """One accepted POST: its items and the ingestion task that says whether they landed."""

    items: list[Asset]
    task_id: str | None
    sent_at: float
    finished: bool = False


@dataclass(slots=True)
class _InFlight:
    """One batch of the plugin: committed once every part of it FINISHED."""

    batch: Batch
    parts: list[_Part]
    failures: int = 0
    failing_since: float | None = None


@dataclass(slots=True)
class _Cycle:
    """What the producer (collect, push) and the acknowledger (follow tasks, commit) share."""

    queue: deque[_InFlight] = field(default_factory=deque)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    produced: bool = False
    abandoned: PushAbandoned | None = None
    acknowledged: int = 0
    skipped: list[str] = field(default_factory=list)

    async def wait_for_change(self) -> None:
        await self.changed.wait()
        self.changed.clear()


class EntraIdAssetConnector(AsyncAssetConnector):
    """One stream's entities as OCSF assets (see the module docstring). A subclass names its
    `STATE_FILE`, `STREAM` and `NOUN`, builds its plugin (`_plugin`), maps an event to the
    SDK's model (`_to_asset`, `_asset_uid`) and lists its mapped fields."""

    STATE_FILE: str
    STREAM: str
    NOUN: str
    FIRST_RETRY_SECONDS: Final = 1.0
    MAX_RETRY_SECONDS: Final = 300.0
    RATE_LIMIT_WAIT_SECONDS: Final = 60.0
    PUSH_DEADLINE_SECONDS: Final = 900.0
    MAX_IN_FLIGHT: Final = 256  # batches pushed and not yet committed
    CHECKS_EVERY_SECONDS: Final = 86_400.0  # credential end date, optional permissions
    FIRST_CYCLE_RETRY_SECONDS: Final = 30.0
    MAX_CYCLE_RETRY_SECONDS: Final = 3600.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: Batch | None = None
        self._store: StateStore | None = None
        self.skipped_records = 0
        self.cycles = 0
        self._client: GraphClient | None = None
        self._checked_at: float | None = None
        self._cycle: _Cycle | None = None
        self._location: StateLocation | None = None
        route_logs_to(self)

    # --- stop handling --------------------------------------------------------------------
    def stop(self, *args: Any, **kwargs: Any) -> None:
        """The SDK's stop (also its SIGTERM / SIGINT handler), waking every wait of ours."""
        super().stop(*args, **kwargs)
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)

    async def wait_or_stop(self, seconds: float) -> bool:
        """Wait `seconds`, or less if a stop is requested; True when stopping."""
        if not self.running:
            return True
        if self._stopping is None:
            self._stopping = asyncio.Event()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, seconds))
        return not self.running

    # --- configuration --------------------------------------------------------------------
    @cached_property
    def settings(self) -> Settings:
        """The module configuration as our Settings; one push = one checkpoint step."""
        values = module_values(self.module.configuration)
        REDACTOR.add(self.configuration.sekoia_api_key)
        settings = settings_from_module(values, batch_size=self.batch_size)
        for secret in (settings.client_secret, settings.certificate_password):
            if secret is not None:
                REDACTOR.add(secret.get_secret_value())
        return settings

    @property
    def rate_limit_wait(self) -> float:
        """Wait after a 429 without a usable Retry-After: a minute, not the SDK's hour
        (`ASSET_CONNECTOR_RATE_LIMIT_WAIT` still overrides it, as in the SDK)."""
        try:
            return float(os.environ["ASSET_CONNECTOR_RATE_LIMIT_WAIT"])
        except (KeyError, ValueError):
            return self.RATE_LIMIT_WAIT_SECONDS

    @property
    def push_deadline(self) -> float:
        """How long one push may stay unaccepted (or its task undelivered) before the cycle ends
        with the checkpoint before it."""
        return self.PUSH_DEADLINE_SECONDS

    @property
    def store(self) -> StateStore:
        """Our checkpoint database, in the SDK's data path: a local folder, or a local copy of
        the one in object storage (`state_location.py`), pulled down on first use."""
        if self._store is None:
            self._location = StateLocation(self.data_path, self.STATE_FILE)
            if self._location.pull():
                self.log(f"Checkpoint copied down from {self._location.description}",
                         level="info")
            self._store = StateStore(self._location.local)
        return self._store

    def _save_state(self) -> None:
        """After a cycle: upload the checkpoint when it lives in object storage."""
        if self._location is None or self._location.remote is None:
            return
        try:
            self._location.push()
        except Exception as exc:  # the next upload carries it; the local copy is intact
            self.log(f"Could not upload the checkpoint to {self._location.description}: "
                     f"{type(exc).__name__}: {exc}", level="warning")

    def log(self, message: str, level: Any = "info", *args: Any, **kwargs: Any) -> None:
        """The SDK's log (stderr and the platform), with our secrets redacted first."""
        super().log(REDACTOR.redact(message), level, *args, **kwargs)

    # --- the SDK's abstract hooks -----------------------------------------------------------
    async def update_checkpoint(self) -> None:
        """Commit the checkpoint of the last batch the platform acknowledged."""
        batch, self._pending = self._pending, None
        if batch is not None:
            self.store.commit(batch)

    async def reset_checkpoint(self) -> None:
        """Forget the checkpoint: the next cycle collects every entity again."""
        self._pending = None
        self.store.reset(self.STREAM)

    # --- what a connector of one stream says ------------------------------------------------
    def _plugin(self, checks_due: bool) -> StreamPlugin:
        raise NotImplementedError

    def _to_asset(self, event: dict[str, Any]) -> Asset:
        raise NotImplementedError

    def _asset_uid(self, asset: Asset) -> str:
        raise NotImplementedError

    async def get_assets(self) -> AsyncGenerator[Asset, None]:
        """The entities as the SDK's model, for a caller of the SDK's own cycle.

        Our cycle does not use it; if the SDK's cycle did, a batch's checkpoint becomes the one
        `update_checkpoint` commits once its last item is out (the batch sizes are equal).
        """
        async with aclosing(self._collect()) as batches:
            async for batch, assets in batches:
                for index, asset in enumerate(assets):
                    if index == len(assets) - 1:
                        self._pending = batch
                    yield asset

    # --- our cycle ----------------------------------------------------------------------------
    async def _collect(self) -> AsyncGenerator[tuple[Batch, list[Asset]], None]:
        now = time.monotonic()
        checks_due = self._checked_at is None or now - self._checked_at >= self.CHECKS_EVERY_SECONDS
        if self._client is None:
            self._client = GraphClient.from_settings(self.settings)
        plugin = self._plugin(checks_due)
        async with aclosing(plugin.abatches_on(self._client)) as batches:
            async for batch in batches:
                if checks_due:
                    self._checked_at, checks_due = now, False
                assets = []
                for raw in batch.events:
                    try:
                        assets.append(self._to_asset(orjson.loads(raw)))
                    except (AssetMappingError, orjson.JSONDecodeError) as exc:
                        self.skipped_records += 1
                        self.log(f"Skipped a record the asset model cannot hold: {exc}",
                                 level="warning")
                yield batch, assets
        if checks_due:
            self._checked_at = now

    async def asset_fetch_cycle(self) -> None:
        """One collection, pipelined: pushes go on while earlier ingestion tasks run; each
        batch's checkpoint is committed once every push of it FINISHED, strictly in order."""
        self.log(f"Starting a new asset fetch cycle for connector {self.connector_name}",
                 level="info")
        await self._check_schema_and_reset_if_needed()
        cycle = _Cycle()
        self._cycle = cycle
        workers = [asyncio.ensure_future(self._produce(cycle)),
                   asyncio.ensure_future(self._acknowledge(cycle))]
        try:
            for finished in asyncio.as_completed(workers):
                await finished
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if cycle.abandoned is not None:
            raise cycle.abandoned
        self.cycles += 1
        refused = f", {len(cycle.skipped)} refused by Sekoia.io and skipped" \
            if cycle.skipped else ""
        self.log(f"Collection cycle {self.cycles} complete: {cycle.acknowledged} {self.NOUN} pushed "
                 f"and acknowledged{refused}", level="info")

    async def _produce(self, cycle: _Cycle) -> None:
        """Collect and push; each accepted batch joins the queue of tasks to follow."""
        try:
            async with aclosing(self._collect()) as batches:
                async for batch, assets in batches:
                    while len(cycle.queue) >= self.MAX_IN_FLIGHT:
                        await cycle.wait_for_change()
                    parts = await self._send(cycle, assets) if assets else []
                    cycle.queue.append(_InFlight(batch, parts))
                    cycle.changed.set()
                    interval = self.configuration.batch_push_interval
                    if interval and await self.wait_or_stop(interval):
                        raise _Stopped
        except PushAbandoned as abandoned:  # what went out before may still be committed
            cycle.abandoned = abandoned
        finally:
            cycle.produced = True
            cycle.changed.set()

    async def _acknowledge(self, cycle: _Cycle) -> None:
        """Follow the oldest batch's tasks; commit it once all FINISHED; send failed ones again."""
        interval = min(1.0, self.task_poll_interval)
        while True:
            if not cycle.queue:
                if cycle.produced:
                    return
                await cycle.wait_for_change()
                continue
            head = cycle.queue[0]
            if await self._settle(cycle, head):
                self._pending = head.batch
                await self.update_checkpoint()
                cycle.acknowledged += sum(len(part.items) for part in head.parts)
                cycle.queue.popleft()
                cycle.changed.set()
                interval = min(1.0, self.task_poll_interval)
                continue
            if await self.wait_or_stop(interval):
                raise _Stopped
            interval = min(interval * 2, self.task_poll_interval)

    async def _settle(self, cycle: _Cycle, entry: _InFlight) -> bool:
        """Poll `entry`'s unfinished tasks once; True when every one FINISHED.

        A FAILED task, or one still pending `task_poll_timeout` s after its push, is not
        delivered: its items are pushed again (after our backoff), as a new part."""
        parts: list[_Part] = []
        for part in entry.parts:
            if part.finished or part.task_id is None:
                part.finished = True
                parts.append(part)
                continue
            state = await poll_task(self, part.task_id)
            if state.state == "finished":
                part.finished = True
                self.log(f"Pushed {len(part.items)} {self.NOUN} to Sekoia.io ({state.detail})",
                         level="info")
            elif state.state == "unauthorised":
                raise _api_key_refused(state.detail)
            elif state.state == "failed" or \
                    time.monotonic() - part.sent_at >= self.task_poll_timeout:
                why = state.detail if state.state == "failed" else \
                    f"{state.detail} {self.task_poll_timeout:g} s after the push"
                entry.failures += 1
                now = time.monotonic()
                entry.failing_since = entry.failing_since or now
                if now - entry.failing_since > self.push_deadline:
                    raise PushAbandoned(
                        f"Sekoia.io did not ingest a push of {len(part.items)} {self.NOUN} for "
                        f"{self.push_deadline:g} s (last: {why}); the checkpoint stays before "
                        "them")
                wait = self._push_wait("transient", None, entry.failures)
                self.log(f"Push of {len(part.items)} {self.NOUN} not ingested ({why}); the checkpoint "
                         f"stays before them; sending them again in {wait:.1f} s",
                         level="warning")
                if await self.wait_or_stop(wait):
                    raise _Stopped
                parts.extend(await self._send(cycle, part.items))
                continue
            parts.append(part)
        entry.parts = parts
        return all(part.finished for part in parts)

    async def _send(self, cycle: _Cycle, items: list[Asset]) -> list[_Part]:
        parts: list[_Part] = []
        for start in range(0, len(items), self.batch_size):
            parts.extend(await self._send_chunk(cycle, items[start:start + self.batch_size]))
        return parts

    async def _send_chunk(self, cycle: _Cycle, chunk: list[Asset]) -> list[_Part]:
        """POST `chunk` until accepted: transient refusals retried in place with backoff, a
        rejected push split in halves down to the one record the platform will not take."""
        batch_items: list[AssetItem] = [*chunk]
        assets = AssetList(version=self.OCSF_SCHEMA_VERSION, items=batch_items)
        give_up_at = time.monotonic() + self.push_deadline
        attempt = 0
        while True:
            if not self.running:
                raise _Stopped
            outcome = await post(self, assets)
            if outcome.kind == "accepted":
                return [_Part(chunk, outcome.task_id, time.monotonic())]
            if outcome.kind == "unauthorised":
                raise _api_key_refused(outcome.detail)
            if outcome.kind == "rejected":
                if len(chunk) > 1:
                    half = len(chunk) // 2
                    return [*await self._send_chunk(cycle, chunk[:half]),
                            *await self._send_chunk(cycle, chunk[half:])]
                uid = self._asset_uid(chunk[0])
                cycle.skipped.append(uid)
                self.skipped_records += 1
                self.log(f"Skipped {self.NOUN[:-1]} {uid}: Sekoia.io refused it ({outcome.detail}); the "
                         "rest of its batch was delivered", level="warning")
                return []
            attempt += 1
            wait = self._push_wait(outcome.kind, outcome.retry_after, attempt)
            if time.monotonic() + wait > give_up_at:
                asked = outcome.retry_after if outcome.retry_after else None
                raise PushAbandoned(
                    f"Sekoia.io did not accept a push of {len(chunk)} {self.NOUN} for "
                    f"{self.push_deadline:g} s (last: {outcome.detail}"
                    f"{f', asking for {asked:g} s more' if asked else ''}); the checkpoint "
                    "stays before them", not_before=asked)
            self.log(f"Push of {len(chunk)} {self.NOUN} not accepted ({outcome.detail}); "
                     f"the checkpoint stays before them; retry {attempt} in {wait:.1f} s",
                     level="warning")
            if await self.wait_or_stop(wait):
                raise _Stopped

    def _push_wait(self, kind: str, retry_after: float | None, attempt: int) -> float:
        """The server's Retry-After when it asked for a real pause; else our backoff."""
        if retry_after:
            return retry_after
        backoff = min(self.FIRST_RETRY_SECONDS * 2.0 ** (attempt - 1), self.MAX_RETRY_SECONDS)
        backoff *= random.uniform(0.8, 1.2)
        return max(self.rate_limit_wait, backoff) if kind == "throttled" else backoff

    def _cycle_wait(self, failures: int) -> float:
        return min(self.FIRST_CYCLE_RETRY_SECONDS * 2.0 ** (failures - 1),
                   self.MAX_CYCLE_RETRY_SECONDS)

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work`; a stop request cancels it. True when it ran to its end."""
        assert self._stopping is not None
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not task.done():
                task.cancel()
        if task.cancelled():
            return False
        try:
            await task
        except (_Stopped, asyncio.CancelledError):
            return False
        return True

    async def async_run(self) -> None:
        """Cycles until stopped: `frequency` apart, failures backing off, stops honoured."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if not self.running:
            return
        failures = 0
        try:
            while self.running:
                started = time.monotonic()
                try:
                    self.store.acquire()
                    finished = await self._until_stopped(self.asset_fetch_cycle())
                    self._save_state()
                    if not finished:
                        break
                    failures = 0
                    wait = self.frequency - (time.monotonic() - started)
                    if wait > 0:
                        self.log(f"Next collection cycle in {wait:.0f} seconds", level="info")
                except Exception as exc:  # ConfigError, StateError, PushAbandoned, Graph failures
                    failures += 1
                    wait = self._cycle_wait(failures)
                    asked = exc.not_before if isinstance(exc, PushAbandoned) else None
                    if asked is not None and asked > wait:
                        wait = asked
                    self._checked_at = None  # the next cycle says again what it finds
                    self._save_state()
                    await self._close_client()
                    what = "Configuration error" if isinstance(exc, ConfigError) else \
                        "Collection cycle failed"
                    self.log(f"{what}: {exc}. Nothing past the last acknowledged batch was "
                             f"committed; next attempt in {wait:.0f} s", level="error")
                if await self.wait_or_stop(wait):
                    break
        finally:
            self.store.release()
            await self._close_client()
            if self._session is not None:
                await self._session.close()
                self._session = None
            self.log("Stopped", level="info")

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class EntraIdUsersAssetConnector(EntraIdAssetConnector):
    """Microsoft Entra ID users as OCSF user assets (`UserOCSFModel`)."""

    STATE_FILE = "entra_id_users_state.sqlite"
    STREAM = "users"
    NOUN = "users"

    def _plugin(self, checks_due: bool) -> StreamPlugin:
        return EntraIdUserInventory(self.settings, store=self.store, start_checks=checks_due)

    def _to_asset(self, event: dict[str, Any]) -> Asset:
        return to_asset(event)

    def _asset_uid(self, asset: Asset) -> str:
        user = getattr(asset, "user", None)
        return str(user.uid) if user is not None else "?"

    def get_mapped_fields(self) -> dict[str, str]:
        """Our mapping table plus the moves onto the SDK's model, as target -> source.

        The SDK fingerprints this; any change to either table re-collects everything once.
        """
        fields = {f"{row.path} <- {row.source}": row.rule for row in MAPPING}
        fields.update({f"sekoia:{row.target} <- {row.source}": row.rule
                       for row in ASSET_MAPPING})
        fields.update({f"sekoia:dropped <- {source}": why for source, why in DROPPED})
        return fields


class EntraIdDevicesAssetConnector(EntraIdAssetConnector):
    """Microsoft Entra ID devices (with Intune's facts) as OCSF device assets
    (`DeviceOCSFModel`): the device stream, with its own state file and the same cycle."""

    STATE_FILE = "entra_id_devices_state.sqlite"
    STREAM = "devices"
    NOUN = "devices"

    def _plugin(self, checks_due: bool) -> StreamPlugin:
        # The device stream has no start-of-run checks (the user connector's watch the secret).
        return EntraIdDevices(self.settings, store=self.store)

    def _to_asset(self, event: dict[str, Any]) -> Asset:
        return to_device_asset(event)

    def _asset_uid(self, asset: Asset) -> str:
        device = getattr(asset, "device", None)
        return str(device.uid) if device is not None else "?"

    def get_mapped_fields(self) -> dict[str, str]:
        """Our device mapping plus the moves onto the SDK's device model, as target -> source.

        The SDK fingerprints this; any change to either table re-collects every device once.
        """
        fields = {f"{row.path} <- {row.source}": row.rule for row in DEVICE_MAPPING}
        fields.update({f"sekoia:{row.target} <- {row.source}": row.rule
                       for row in DEVICE_ASSET_MAPPING})
        fields.update({f"sekoia:dropped <- {source}": why for source, why in DEVICE_DROPPED})
        return fields
