"""The asset connector Sekoia's runtime starts: our plugin's batches, pushed the SDK's way.

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

Here (`asset_fetch_cycle`, `async_run`): each of our batches (one push: the plugin's batch size is
the SDK's) is pushed until the platform acknowledges it (`push.py`), retrying in place with
backoff (429: its `Retry-After`, else `rate_limit_wait`, one minute); only then is its checkpoint
committed (`update_checkpoint`). A push still refused after `PUSH_DEADLINE_SECONDS` ends the
cycle with the checkpoint where it was; a failed cycle waits 30 s, doubling to an hour, before
the next; every cycle starts `frequency` seconds after the previous one started; every wait ends
at once on a stop request (SIGTERM, or the SDK's `stop()`), which also cancels a cycle in flight.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncGenerator, Coroutine
from contextlib import aclosing, suppress
from functools import cached_property
from typing import Any, Final

import orjson
from sekoia_automation.asset_connector import AsyncAssetConnector
from sekoia_automation.asset_connector.models.connector import AssetItem, AssetList
from sekoia_automation_models.ocsf.user import UserOCSFModel

from connector.config import ConfigError, Settings
from connector.logs import REDACTOR
from connector.ocsf.user_inventory import MAPPING
from connector.plugin import EntraIdUserInventory
from connector.state import StateStore
from connector.streams.batch import Batch
from entra_sekoia.assets import ASSET_MAPPING, DROPPED, AssetMappingError, to_asset
from entra_sekoia.manifest import module_values, settings_from_module
from entra_sekoia.platform_logs import route_logs_to
from entra_sekoia.push import push

__all__ = ["EntraIdUsersAssetConnector"]


class _Stopped(Exception):
    """A stop request arrived; nothing more is pushed or committed."""


class PushAbandoned(Exception):
    """A batch was refused for longer than the push deadline; its checkpoint was not committed."""


class EntraIdUsersAssetConnector(AsyncAssetConnector):
    """Microsoft Entra ID users as OCSF user assets (see the module docstring)."""

    STATE_FILE: Final = "entra_id_users_state.sqlite"
    FIRST_RETRY_SECONDS: Final = 1.0
    MAX_RETRY_SECONDS: Final = 300.0
    RATE_LIMIT_WAIT_SECONDS: Final = 60.0
    PUSH_DEADLINE_SECONDS: Final = 900.0
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
    def store(self) -> StateStore:
        """Our checkpoint file, in the SDK's data path (a local volume: /symphony_data)."""
        if self._store is None:
            self._store = StateStore(self.data_path / self.STATE_FILE)
        return self._store

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
        """Forget the checkpoint: the next cycle collects every user again."""
        self._pending = None
        self.store.reset("users")

    def get_mapped_fields(self) -> dict[str, str]:
        """Our mapping table plus the moves onto the SDK's model, as target -> source.

        The SDK fingerprints this; any change to either table re-collects everything once.
        """
        fields = {f"{row.path} <- {row.source}": row.rule for row in MAPPING}
        fields.update({f"sekoia:{row.target} <- {row.source}": row.rule
                       for row in ASSET_MAPPING})
        fields.update({f"sekoia:dropped <- {source}": why for source, why in DROPPED})
        return fields

    async def get_assets(self) -> AsyncGenerator[UserOCSFModel, None]:
        """The users as the SDK's model, for a caller of the SDK's own cycle.

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
    async def _collect(self) -> AsyncGenerator[tuple[Batch, list[UserOCSFModel]], None]:
        plugin = EntraIdUserInventory(self.settings, store=self.store)
        async with aclosing(plugin.abatches()) as batches:
            async for batch in batches:
                assets = []
                for raw in batch.events:
                    try:
                        assets.append(to_asset(orjson.loads(raw)))
                    except (AssetMappingError, orjson.JSONDecodeError) as exc:
                        self.skipped_records += 1
                        self.log(f"Skipped a user the asset model cannot hold: {exc}",
                                 level="warning")
                yield batch, assets

    async def asset_fetch_cycle(self) -> None:
        """One collection: every batch pushed and acknowledged, then committed, in order."""
        self.log(f"Starting a new asset fetch cycle for connector {self.connector_name}",
                 level="info")
        await self._check_schema_and_reset_if_needed()
        pushed = 0
        async with aclosing(self._collect()) as batches:
            async for batch, assets in batches:
                if assets:
                    await self._push_until_acknowledged(assets)
                    pushed += len(assets)
                self._pending = batch
                await self.update_checkpoint()
                interval = self.configuration.batch_push_interval
                if interval and await self.wait_or_stop(interval):
                    raise _Stopped
        self.cycles += 1
        self.log(f"Collection cycle {self.cycles} complete: {pushed} users pushed and "
                 "acknowledged", level="info")

    async def _push_until_acknowledged(self, items: list[UserOCSFModel]) -> None:
        for start in range(0, len(items), self.batch_size):
            chunk = items[start:start + self.batch_size]
            batch_items: list[AssetItem] = [*chunk]
            assets = AssetList(version=self.OCSF_SCHEMA_VERSION, items=batch_items)
            give_up_at = time.monotonic() + self.PUSH_DEADLINE_SECONDS
            attempt = 0
            while True:
                if not self.running:
                    raise _Stopped
                outcome = await push(self, assets)
                if outcome.acknowledged:
                    self.log(f"Pushed {len(chunk)} users to Sekoia.io ({outcome.detail})",
                             level="info")
                    break
                attempt += 1
                wait = self._push_wait(outcome.kind, outcome.retry_after, attempt)
                if time.monotonic() + wait > give_up_at:
                    raise PushAbandoned(
                        f"Sekoia.io did not acknowledge a push of {len(chunk)} users for "
                        f"{self.PUSH_DEADLINE_SECONDS:g} s (last: {outcome.detail}); "
                        "the checkpoint stays before them")
                self.log(f"Push of {len(chunk)} users not acknowledged ({outcome.detail}); "
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
                    if not await self._until_stopped(self.asset_fetch_cycle()):
                        break
                    failures = 0
                    wait = self.frequency - (time.monotonic() - started)
                    if wait > 0:
                        self.log(f"Next collection cycle in {wait:.0f} seconds", level="info")
                except Exception as exc:  # ConfigError, StateError, PushAbandoned, Graph failures
                    failures += 1
                    wait = self._cycle_wait(failures)
                    what = "Configuration error" if isinstance(exc, ConfigError) else \
                        "Collection cycle failed"
                    self.log(f"{what}: {exc}. Nothing past the last acknowledged batch was "
                             f"committed; next attempt in {wait:.0f} s", level="error")
                if await self.wait_or_stop(wait):
                    break
        finally:
            self.store.release()
            if self._session is not None:
                await self._session.close()
                self._session = None
            self.log("Stopped", level="info")
