"""One push of assets to Sekoia.io, and one look at its ingestion task, told apart.

The SDK's own push (`AsyncAssetConnector.post_assets_to_api`) retries only on exceptions, logs any
other non-200 answer and carries on, and moves the checkpoint before the platform's ingestion task
has ended; its task watch gives up after `task_poll_timeout` and only logs a FAILED task. Here a
POST ends in exactly one `Outcome`, and a task poll in one `TaskState`, so the caller (the
asset connector's pipeline) decides: accepted pushes are followed until their task FINISHED, and
nothing else ever counts as delivered.

- accepted: 200 (with the task to follow, or none);
- throttled: 429, with the server's `Retry-After` when it gave one;
- transient: 5xx, 408, a network error: the same push again, later;
- rejected: 400, 413, 422: the platform will never take this push as it is (a bad record, too
  large); the caller splits it, down to the one record, which it skips and reports;
- unauthorised: 401, 403: the asset connector's `sekoia_api_key` is wrong; no retry cures it.

The wire format is the SDK's: the same endpoints, headers, session and body
(`AssetList.model_dump(exclude_none=True)` as JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import aiohttp

from connector.backoff import parse_retry_after

if TYPE_CHECKING:
    from sekoia_automation.asset_connector.models.connector import AssetList

    from entra_sekoia.asset_connector import EntraIdAssetConnector

__all__ = ["Outcome", "TaskState", "classify", "poll_task", "post"]

PENDING: Final = frozenset({"PENDING", "RUNNING"})  # the SDK's TASK_PENDING_STATUSES
REJECTED: Final = frozenset({400, 413, 422})
UNAUTHORISED: Final = frozenset({401, 403})

Kind = Literal["accepted", "throttled", "transient", "rejected", "unauthorised"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the platform answered to one POST; `detail` is for the logs (nothing secret)."""

    kind: Kind
    detail: str
    retry_after: float | None = None  # the server's Retry-After, seconds, when it gave one
    task_id: str | None = None  # with "accepted": the ingestion task to follow, if any


@dataclass(frozen=True, slots=True)
class TaskState:
    """One poll of an ingestion task: finished, failed, or not known yet (pending, unreadable)."""

    state: Literal["finished", "failed", "pending", "unauthorised"]
    detail: str


def classify(status: int, text: str, retry_after: str | None) -> Outcome:
    """The outcome of a POST from its status, body and Retry-After header (pure)."""
    if status == 200:
        try:
            answer: Any = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError:
            answer = {}
        task_id = answer.get("task_id") if isinstance(answer, dict) else None
        return Outcome("accepted", "HTTP 200", task_id=str(task_id) if task_id else None)
    if status == 429:
        return Outcome("throttled", "HTTP 429", parse_retry_after(retry_after))
    detail = f"HTTP {status}: {_short(text)}"
    if status in UNAUTHORISED:
        return Outcome("unauthorised", detail)
    if status in REJECTED:
        return Outcome("rejected", detail)
    return Outcome("transient", detail, parse_retry_after(retry_after) if status == 503 else None)


async def post(connector: EntraIdAssetConnector, assets: AssetList) -> Outcome:
    """POST `assets` to the asset-connector endpoint; the answer, classified."""
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
        return Outcome("transient", f"no answer from Sekoia.io ({type(exc).__name__}: {exc})")
    return classify(status, text, retry_after)


async def poll_task(connector: EntraIdAssetConnector, task_id: str) -> TaskState:
    """One look at an ingestion task. An unreadable status is "pending": not delivered yet."""
    url = f"{connector.task_endpoint}/{task_id}"
    try:
        async with connector.session() as session, session.get(
            url, timeout=aiohttp.ClientTimeout(total=30)
        ) as response:
            status, payload = response.status, await response.text()
    except (TimeoutError, aiohttp.ClientError) as exc:
        return TaskState("pending", f"task {task_id}: status unreadable ({type(exc).__name__})")
    if status in UNAUTHORISED:
        return TaskState("unauthorised", f"task {task_id}: HTTP {status}")
    if status != 200:
        return TaskState("pending", f"task {task_id}: status unreadable (HTTP {status})")
    try:
        task = json.loads(payload)
    except json.JSONDecodeError:
        task = {}
    state = task.get("status") if isinstance(task, dict) else None
    if state == "FINISHED":
        return TaskState("finished", f"task {task_id} finished")
    if state in PENDING or state is None:
        return TaskState("pending", f"task {task_id} {state or 'without a status'}")
    error = task.get("error") if isinstance(task, dict) else None
    return TaskState("failed", f"task {task_id} ended {state}: "
                     f"{_short(str(error or 'no error reported'))}")


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
