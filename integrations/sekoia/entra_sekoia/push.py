"""One push of assets to Sekoia.io and what the platform made of it, told apart.

The SDK's own push (`AsyncAssetConnector.post_assets_to_api`) retries only on exceptions, logs any
other non-200 answer and carries on, and moves the checkpoint before the platform's ingestion task
has ended; its task watch only logs a FAILED task. Here a push ends in exactly one `Outcome`:
acknowledged (200, then the task FINISHED, or no task to watch), refused (any other status, a
network error, a FAILED task) or throttled (429, with the server's `Retry-After` when it gave
one). The caller commits a checkpoint only on an acknowledgement.

The wire format is the SDK's: the same endpoints, headers, session and body
(`AssetList.model_dump(exclude_none=True)` as JSON), and the task endpoint polled the same way.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiohttp

from connector.backoff import parse_retry_after

if TYPE_CHECKING:
    from sekoia_automation.asset_connector.models.connector import AssetList

    from entra_sekoia.asset_connector import EntraIdUsersAssetConnector

__all__ = ["Outcome", "push"]

PENDING: frozenset[str] = frozenset({"PENDING", "RUNNING"})  # the SDK's TASK_PENDING_STATUSES


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one push; `detail` is for the logs (no secret: nothing of ours in it)."""

    kind: Literal["acknowledged", "refused", "throttled"]
    detail: str
    retry_after: float | None = None  # the server's Retry-After, seconds, when it gave one

    @property
    def acknowledged(self) -> bool:
        return self.kind == "acknowledged"


async def push(connector: EntraIdUsersAssetConnector, assets: AssetList) -> Outcome:
    """POST `assets` to the asset-connector endpoint, then follow the platform's task."""
    body = assets.model_dump(exclude_none=True)
    try:
        async with connector.session() as session, session.post(
            connector.asset_connector_endpoint, json=body,
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response:
            status = response.status
            text = await response.text()
            retry_after = response.headers.get("Retry-After")
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Outcome("refused", f"no answer from Sekoia.io ({type(exc).__name__}: {exc})")
    if status == 429:
        return Outcome("throttled", "HTTP 429", parse_retry_after(retry_after))
    if status != 200:
        return Outcome("refused", f"HTTP {status}: {_short(text)}",
                       parse_retry_after(retry_after) if status == 503 else None)
    try:
        answer: Any = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    task_id = answer.get("task_id") if isinstance(answer, dict) else None
    if not task_id:
        return Outcome("acknowledged", "HTTP 200 (no task to follow)")
    return await _follow_task(connector, str(task_id))


async def _follow_task(connector: EntraIdUsersAssetConnector, task_id: str) -> Outcome:
    """Poll the task until it ends (as the SDK does: fast first, then the configured interval).

    A task the platform cannot report on (task endpoint down, still pending at the SDK's poll
    timeout) counts as acknowledged: the push itself was accepted, and holding the checkpoint
    on an unanswerable question would stop the inventory for good. FAILED (or any other end
    state than FINISHED) is a refusal.
    """
    url = f"{connector.task_endpoint}/{task_id}"
    deadline = time.monotonic() + connector.task_poll_timeout
    interval = min(1.0, connector.task_poll_interval)
    while True:
        try:
            async with connector.session() as session, session.get(
                url, timeout=aiohttp.ClientTimeout(total=30)
            ) as response:
                status, payload = response.status, await response.text()
        except (TimeoutError, aiohttp.ClientError) as exc:
            return Outcome("acknowledged", f"task {task_id}: status unreadable ({exc!r}); "
                           "the push was accepted")
        if status != 200:
            return Outcome("acknowledged", f"task {task_id}: status unreadable (HTTP {status}); "
                           "the push was accepted")
        try:
            task = json.loads(payload)
        except json.JSONDecodeError:
            task = {}
        state = task.get("status") if isinstance(task, dict) else None
        if state == "FINISHED":
            return Outcome("acknowledged", f"task {task_id} finished")
        if state not in PENDING:
            error = task.get("error") if isinstance(task, dict) else None
            return Outcome("refused", f"task {task_id} ended {state}: "
                           f"{_short(str(error or 'no error reported'))}")
        if time.monotonic() >= deadline:
            return Outcome("acknowledged", f"task {task_id} still {state} after "
                           f"{connector.task_poll_timeout:g} s; the push was accepted")
        if await connector.wait_or_stop(interval):
            return Outcome("refused", f"task {task_id}: stopped while it was {state}")
        interval = min(interval * 2, connector.task_poll_interval)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
