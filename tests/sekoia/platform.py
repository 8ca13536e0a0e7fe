"""A local Sekoia.io, written from sekoia-automation-sdk 1.27's client code (not from our sink).

Endpoints, as the SDK calls them:
- `GET  /secrets` (`Trigger._get_secrets_from_server`, Bearer <token>): `{"value": module secrets,
  "node_value": connector secrets}`
- `POST /logs` (`Trigger._send_logs_to_api`): `{"logs": [{"date", "level", "message"}]}`
- `PATCH /callback` (`AccountValidator.set_task_as_running` / `send_results`): answers
  `{"module_configuration": {"value": secrets}}`, records the results
- `POST /api/v2/asset-management/asset-connector/<connector uuid>` (`post_assets_to_api`,
  Bearer <sekoia_api_key>): `{"version", "items"}` -> `{"task_id": ...}`
- `GET  /api/v1/tasks/<task id>` (`wait_for_push_task`): `{"status": "PENDING" | "FINISHED" |
  "FAILED", "error": ...}`, PENDING on the first poll

`script` holds the answers for the next pushes, in order (`"ok"`, `500`, `503`, `(429, "2")` for a
429 with that Retry-After, `429` without, `"task_failed"`, `("task_failed_after", 2.0)` for a task
pending 2 s then FAILED, `"task_stuck"` for a task RUNNING for ever); once it is empty every push
is ok. Besides the script:
- `task_seconds`: every accepted push's task answers RUNNING for that long after the push, as a
  busy ingestion pipeline does, then FINISHED;
- `refuse`: user (or device) uid -> status (400, 413): any push holding that asset is answered
  so, as the platform refuses a whole push over one bad record;
- `max_items`: pushes of more items are answered 413 (payload too large).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODULE_DIR = Path(__file__).resolve().parents[2] / "integrations" / "sekoia"
TOKEN = "module-token-0123456789"
API_KEY = "sekoia-api-key-0123456789"
CONNECTOR_UUID = "5d1c6ab0-1b2c-4d3e-8f9a-0b1c2d3e4f50"
PUSH_PATH = f"/api/v2/asset-management/asset-connector/{CONNECTOR_UUID}"


@dataclass
class Push:
    """One push as received and how it was answered; `acknowledged` once its task FINISHED."""

    items: list[dict[str, Any]]
    answer: Any
    task_id: str | None = None
    acknowledged: bool = False
    at: float = 0.0  # time.monotonic() when received
    version: int | None = None

    @property
    def uids(self) -> list[str]:
        return [item_uid(item) for item in self.items]


@dataclass
class FakeSekoia:
    secrets: dict[str, Any] = field(default_factory=dict)
    node_secrets: dict[str, Any] = field(default_factory=lambda: {"sekoia_api_key": API_KEY})
    script: deque[Any] = field(default_factory=deque)
    pushes: list[Push] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, float]] = field(default_factory=list)
    unauthorised: int = 0
    task_seconds: float = 0.0
    refuse: dict[str, int] = field(default_factory=dict)
    max_items: int | None = None
    api_key: str = API_KEY
    lock: threading.Lock = field(default_factory=threading.Lock)
    _tasks: dict[str, Push] = field(default_factory=dict)
    _polled: set[str] = field(default_factory=set)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeSekoia:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _send(self, status: int, body: Any = None,
                      headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self, secret: str) -> bool:
                if self.headers.get("Authorization") == f"Bearer {secret}":
                    return True
                with platform.lock:
                    platform.unauthorised += 1
                self._send(401, {"message": "unauthorised"})
                return False

            def do_GET(self) -> None:
                with platform.lock:
                    platform.requests.append(("GET", self.path, time.monotonic()))
                if self.path == "/secrets":
                    if self._authorised(TOKEN):
                        self._send(200, {"value": platform.secrets,
                                         "node_value": platform.node_secrets})
                    return
                if self.path.startswith("/api/v1/tasks/"):
                    if not self._authorised(platform.api_key):
                        return
                    task_id = self.path.rsplit("/", 1)[1]
                    with platform.lock:
                        push = platform._tasks.get(task_id)
                        first = task_id not in platform._polled
                        platform._polled.add(task_id)
                        if push is None:
                            self._send(404, {"message": "no such task"})
                            return
                        busy = platform.task_seconds
                        if isinstance(push.answer, tuple) and push.answer[0] == "task_failed_after":
                            busy = push.answer[1]
                        if first:
                            self._send(200, {"uuid": task_id, "status": "PENDING"})
                            return
                        if push.answer == "task_stuck" or time.monotonic() < push.at + busy:
                            self._send(200, {"uuid": task_id, "status": "RUNNING"})
                            return
                        if push.answer == "task_failed" or (
                                isinstance(push.answer, tuple) and push.answer[0] == "task_failed_after"):
                            self._send(200, {"uuid": task_id, "status": "FAILED",
                                             "error": "ingestion failed"})
                            return
                        push.acknowledged = True
                    self._send(200, {"uuid": task_id, "status": "FINISHED"})
                    return
                self._send(404)

            def do_POST(self) -> None:
                body = self._body()
                with platform.lock:
                    platform.requests.append(("POST", self.path, time.monotonic()))
                if self.path == "/logs":
                    if self._authorised(TOKEN):
                        with platform.lock:
                            platform.logs.extend(body.get("logs", []))
                        self._send(200)
                    return
                if self.path == PUSH_PATH:
                    if not self._authorised(platform.api_key):
                        return
                    with platform.lock:
                        items = body["items"]
                        refused = [platform.refuse[item_uid(i)] for i in items
                                   if item_uid(i) in platform.refuse]
                        if refused:
                            answer: Any = refused[0]
                        elif platform.max_items is not None and len(items) > platform.max_items:
                            answer = 413
                        else:
                            answer = platform.script.popleft() if platform.script else "ok"
                        push = Push(items=items, answer=answer, at=time.monotonic(),
                                    version=body.get("version"))
                        platform.pushes.append(push)
                        if answer in ("ok", "task_failed", "task_stuck") or (
                                isinstance(answer, tuple) and answer[0] == "task_failed_after"):
                            push.task_id = str(uuid.uuid4())
                            platform._tasks[push.task_id] = push
                    if push.task_id is not None:
                        self._send(200, {"task_id": push.task_id})
                    elif isinstance(answer, tuple) and answer[0] == 429:
                        self._send(answer[0], {"message": "slow down"},
                                   {"Retry-After": answer[1]})
                    else:
                        self._send(int(answer), {"code": "E", "message": f"refused {answer}"})
                    return
                self._send(404)

            def do_PATCH(self) -> None:
                body = self._body()
                if self.path == "/callback" and self._authorised(TOKEN):
                    with platform.lock:
                        platform.callbacks.append(body)
                    self._send(200, {"module_configuration": {"value": platform.secrets}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *args: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- what tests read -------------------------------------------------------------------
    def delivered(self) -> list[dict[str, Any]]:
        """Items of the pushes the platform acknowledged (task FINISHED), in order."""
        with self.lock:
            return [item for p in self.pushes if p.acknowledged for item in p.items]

    def messages(self) -> list[str]:
        with self.lock:
            return [entry["message"] for entry in self.logs]


def item_uid(item: dict[str, Any]) -> str:
    """A pushed asset's uid: its user's, or its device's."""
    return str((item.get("user") or item.get("device") or {}).get("uid"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def module_environment(platform: FakeSekoia, module_config: dict[str, Any], data: Path, *,
                       frequency: int, batch_size: int,
                       extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the SDK reads when /symphony has no file, pointing at `platform`."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("ASSET_CONNECTOR_")},
        "MODULE_CONFIGURATION": json.dumps(module_config),
        "CONNECTOR_CONFIGURATION": json.dumps({
            "sekoia_base_url": platform.url, "frequency": frequency,
            "batch_size": batch_size, "sekoia_api_key": "(held by the platform)",
        }),
        "CONNECTOR_CONFIGURATION_UUID": CONNECTOR_UUID,
        "TOKEN": TOKEN,
        "URL_CALLBACK": f"{platform.url}/callback",
        "URL_SECRETS": f"{platform.url}/secrets",
        "URL_LOGS": f"{platform.url}/logs",
        "SUB_FOLDER": str(data),  # /symphony_data joined with an absolute path is that path
        "LIVENESS_PORT": str(_free_port()),
        "METRICS_PORT": str(_free_port()),
        "ASSET_CONNECTOR_TASK_POLL_INTERVAL": "0.05",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(MODULE_DIR), os.environ.get("PYTHONPATH", "")]),
        **(extra or {}),
    }
