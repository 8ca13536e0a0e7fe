"""A real HTTP intake on 127.0.0.1 for sink tests: records what it accepts, fails on demand.

Failures are queued and consumed one per request, so a test states exactly what the
connector meets ("two 503s, then a dropped connection, then success"). Once the queue is empty
every request is accepted. Everything runs over real sockets; nothing in the HTTP layer is mocked.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = ["Attempt", "IntakeReceiver", "ReceivedBatch"]


@dataclass(frozen=True, slots=True)
class ReceivedBatch:
    """An accepted request, decoded: ``events`` from NDJSON lines or the Sekoia ``items``."""

    path: str
    headers: Mapping[str, str]  # lower-case names
    content_type: str
    gzipped: bool
    body: bytes  # after gzip decoding
    wire_size: int  # bytes of the body as sent
    events: tuple[dict[str, Any], ...]
    version: int | None  # the Sekoia envelope's "version"; None for NDJSON


@dataclass(frozen=True, slots=True)
class Attempt:
    """One request as the receiver saw it; ``outcome`` is "accepted", "dropped" or "HTTP <n>"."""

    path: str
    outcome: str
    at: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class _Respond:
    status: int
    retry_after: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class _Drop:
    pass


@dataclass(frozen=True, slots=True)
class _Accept:
    pass


_Fault = _Respond | _Drop | _Accept


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class IntakeReceiver:
    """Threaded HTTP(S) server standing in for an NDJSON or Sekoia.io asset intake."""

    def __init__(
        self,
        *,
        tls: bool = False,
        require_header: tuple[str, str] | None = None,
    ) -> None:
        self._require_header = require_header
        self._lock = threading.Lock()
        self._faults: deque[_Fault] = deque()
        self._delays: deque[float] = deque()
        self._batches: list[ReceivedBatch] = []
        self._attempts: list[Attempt] = []
        self._open_sockets: set[socket.socket] = set()
        self._connections = 0
        self._server: ThreadingHTTPServer | None = None
        self._reopen: threading.Timer | None = None
        self._port = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="intake-receiver-")
        self.ca_path: str | None = None
        self._tls: ssl.SSLContext | None = self._make_tls() if tls else None

    def _make_tls(self) -> ssl.SSLContext:
        import trustme

        ca = trustme.CA()
        self.ca_path = str(Path(self._tmp.name) / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        server = ThreadingHTTPServer(("127.0.0.1", self._port), self._handler_class())
        server.daemon_threads = True
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._port = server.server_address[1]
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        with self._lock:
            self._server = server
        return self

    def stop(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        self._close_server()
        self._tmp.cleanup()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _close_server(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            sockets = list(self._open_sockets)
        if server is not None:
            server.shutdown()
            server.server_close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # -- what the test sees ----------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def batches(self) -> list[ReceivedBatch]:
        with self._lock:
            return list(self._batches)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches for event in batch.events]

    @property
    def attempts(self) -> list[Attempt]:
        with self._lock:
            return list(self._attempts)

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (keep-alive reuses one)."""
        with self._lock:
            return self._connections

    # -- failures on demand ----------------------------------------------------------------

    def accept(self, *, times: int = 1) -> None:
        """Accept the next ``times`` requests (to place failures after some successes)."""
        with self._lock:
            self._faults.extend([_Accept()] * times)

    def respond(
        self, status: int, *, times: int = 1, retry_after: str | None = None, body: bytes = b""
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (and Retry-After if given)."""
        with self._lock:
            self._faults.extend([_Respond(status, retry_after, body)] * times)

    def drop_connection(self, *, times: int = 1) -> None:
        """Read the next ``times`` requests in full, then close the connection without answering."""
        with self._lock:
            self._faults.extend([_Drop()] * times)

    def delay(self, seconds: float, *, times: int = 1) -> None:
        """Handle the next ``times`` requests ``seconds`` late (a client that gave up meanwhile
        still gets its batch recorded, as a real intake would)."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def go_down(self, seconds: float | None = None) -> None:
        """Close the port (connections refused, open ones cut) and reopen it ``seconds`` later,
        or (None) when `come_back()` is called: an outage that must outlast a run whatever the
        machine's speed."""
        self._close_server()
        if seconds is None:
            return
        self._reopen = threading.Timer(seconds, self.start)
        self._reopen.daemon = True
        self._reopen.start()

    def come_back(self) -> None:
        """Reopen the port closed by `go_down(None)`."""
        self.start()

    # -- request handling ------------------------------------------------------------------

    def _next(self) -> tuple[float, _Fault | None]:
        with self._lock:
            delay = self._delays.popleft() if self._delays else 0.0
            fault = self._faults.popleft() if self._faults else None
        return delay, fault

    def _record(self, path: str, outcome: str, batch: ReceivedBatch | None = None) -> None:
        with self._lock:
            self._attempts.append(Attempt(path, outcome, time.monotonic()))
            if batch is not None:
                self._batches.append(batch)

    def _decode(self, path: str, headers: Mapping[str, str], raw: bytes) -> ReceivedBatch:
        if self._require_header is not None:
            name, value = self._require_header
            if headers.get(name.lower()) != value:
                raise _BadRequest(401, "missing or wrong credentials")
        gzipped = headers.get("content-encoding", "") == "gzip"
        try:
            body = gzip.decompress(raw) if gzipped else raw
        except (OSError, EOFError) as exc:
            raise _BadRequest(400, f"bad gzip: {exc}") from None
        content_type = headers.get("content-type", "").split(";")[0].strip()
        try:
            if content_type == "application/x-ndjson":
                if not body.endswith(b"\n"):
                    raise _BadRequest(400, "NDJSON body must end with a newline")
                events = tuple(json.loads(line) for line in body.splitlines())
                version = None
            elif content_type == "application/json":
                envelope = json.loads(body)
                events, version = tuple(envelope["items"]), envelope["version"]
            else:
                raise _BadRequest(415, f"unsupported content type {content_type!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise _BadRequest(400, f"unparsable body: {exc}") from None
        return ReceivedBatch(
            path, dict(headers), content_type, gzipped, body, len(raw), events, version
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._open_sockets.add(self.connection)
                    receiver._connections += 1

            def finish(self) -> None:
                with receiver._lock:
                    receiver._open_sockets.discard(self.connection)
                super().finish()

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                delay, fault = receiver._next()
                if delay:
                    time.sleep(delay)
                if isinstance(fault, _Drop):
                    receiver._record(self.path, "dropped")
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(fault, _Respond):
                    receiver._record(self.path, f"HTTP {fault.status}")
                    extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                    self._answer(fault.status, fault.body, extra)
                    return
                try:
                    batch = receiver._decode(self.path, headers, raw)
                except _BadRequest as bad:
                    receiver._record(self.path, f"HTTP {bad.status}")
                    self._answer(bad.status, json.dumps({"message": str(bad)}).encode())
                    return
                receiver._record(self.path, "accepted", batch)
                self._answer(200, b'{"status":"accepted"}')

            def _answer(
                self, status: int, body: bytes, extra: Mapping[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler
