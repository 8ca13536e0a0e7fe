"""The HTTPS server and `SimulatedGraph`, the handle tests and the `demo` command hold.

One `ThreadingHTTPServer` on 127.0.0.1 (HTTP/1.1 keep-alive; TLS is negotiated in each
connection's own thread so a slow client cannot stall the accept loop) serves:

- `POST /{tenant}/oauth2/v2.0/token` and the OpenID metadata (the identity platform),
- `/v1.0/...` (Graph, see `entrasim.graph`),
- `GET /_sim/counters` and `POST /_sim/counters/reset`, unauthenticated, for a benchmark
  running in another process; tenant mutations and ground truth under `/_sim/` too
  (`entrasim.control`).

```python
with SimulatedGraph(TenantSpec(seed=7, users=2500, licence="P2")) as sim:
    sim.url, sim.ca_path, sim.connector_config(), sim.tenant, sim.counters, sim.faults
```
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

import orjson

from entrasim import control
from entrasim.faults import Faults
from entrasim.graph import JSON_TYPE, GraphApi, Reply, Request, error_body, parse_query
from entrasim.identity import Identity
from entrasim.odata import GraphError
from entrasim.spec import TenantSpec
from entrasim.tenant import Tenant
from entrasim.throttle import Counters, ThrottleModel, floor_from_counters
from entrasim.tls import ServerTls, make_server_tls

TOKEN_ROUTE = "POST /{tenant}/oauth2/v2.0/token"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: SimulatedGraph, context: ssl.SSLContext) -> None:
        self.sim = sim
        self.context = context
        self.open_connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(30)
            # Headers and body go out as two TLS records; without this the client's delayed ACK
            # adds ~40 ms to every answer (Nagle), on top of any injected latency.
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            self.shutdown_request(request)
            return
        with self.connections_lock:
            self.open_connections.add(tls)
        try:
            super().process_request_thread(tls, client_address)
        finally:
            with self.connections_lock:
                self.open_connections.discard(tls)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-answer are normal here (dropped-connection tests, retries)."""

    def close_connections(self) -> None:
        with self.connections_lock:
            for conn in list(self.open_connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines may carry tenant ids and filters; counters say what happened."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sim = self.server.sim
        faults = sim.faults
        if faults.latency > 0:
            time.sleep(faults.latency)
        if faults.draw_drop():
            sim.counters.add(sim.route_of(self.command, self.path), errors=1)
            self.close_connection = True
            return
        status, payload, headers, route = sim.dispatch(self.command, self.path, _headers(self.headers), body)
        # Counted before answering, so a client that reads the counters after its answer sees it.
        sim.counters.add(route, requests=1, bytes_out=len(payload), throttled=int(status == 429),
                         errors=int(status >= 400 and status != 429))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def _version_of(path: str) -> str | None:
    """"v1.0" or "beta" for a Graph path; `/beta` serves only the sign-in log."""
    for version in ("v1.0", "beta"):
        if path.startswith(f"/{version}/") or path == f"/{version}":
            return version
    return None


def _headers(message: Message) -> dict[str, str]:
    return {k.lower(): v for k, v in message.items()}


class SimulatedGraph:
    """A running simulated tenant: start with `with SimulatedGraph(spec) as sim:`.

    `url` is both the authority host and the Graph endpoint; `ca_path` the PEM to trust.
    `tenant` (ground truth, mutations), `counters`, `faults`, `throttle` (the RU model;
    `throttle.enabled` may be switched while running) and `identity` (token lifetime,
    `revoke_all()`) are live objects.
    """

    def __init__(self, spec: TenantSpec | None = None, *, latency: float = 0.0,
                 throttling: bool = False, port: int = 0, host: str = "127.0.0.1",
                 ca_path: str | Path | None = None, fault_seed: int = 0,
                 tenant: Tenant | None = None) -> None:
        self.spec = spec or TenantSpec()
        self.tenant = tenant if tenant is not None else Tenant(self.spec)
        self.counters = Counters()
        self.faults = Faults(latency=latency, seed=fault_seed)
        self.throttle = ThrottleModel(self.spec.users, enabled=throttling)
        self.identity = Identity(self.spec)
        self.graph = GraphApi(self.spec, self.tenant, self.throttle, self.counters, self.faults)
        self._host = host
        self._port = port
        self._ca_target = Path(ca_path) if ca_path else None
        self._tmp: Path | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.tls: ServerTls | None = None
        self.url = ""
        self.ca_path = ""

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> Self:
        self.tls = make_server_tls((self._host, "localhost") if self._host != "localhost" else ("localhost",))
        if self._ca_target is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="entrasim-"))
            ca = self._tmp / "ca.pem"
        else:
            ca = self._ca_target
            ca.parent.mkdir(parents=True, exist_ok=True)
        ca.write_bytes(self.tls.ca_pem)
        self.ca_path = str(ca)
        self._server = _Server((self._host, self._port), self, self.tls.server_context())
        port = self._server.server_address[1]
        self.url = f"https://{self._host}:{port}"
        self.identity.audiences.update({self.url, f"https://localhost:{port}"})
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"entrasim:{port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- what callers need -------------------------------------------------------------
    @property
    def token_url(self) -> str:
        return f"{self.url}/{self.spec.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        return f"{self.url}/.default"

    def connector_config(self, *, certificate_path: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
        """Settings for the connector pointing at this simulator (secret or certificate auth)."""
        config: dict[str, Any] = {
            "tenant_id": self.spec.tenant_id,
            "client_id": self.spec.client_id,
            "authority_host": self.url,
            "graph_endpoint": self.url,
            "ca_bundle": self.ca_path,
        }
        if certificate_path is not None:
            config["certificate_path"] = str(certificate_path)
        else:
            config["client_secret"] = self.spec.client_secret
        config.update(overrides)
        return config

    def throttling_floor_seconds(self) -> float:
        """Least wall time Graph's budgets allow for the traffic counted so far."""
        return floor_from_counters(self.counters.snapshot(), self.spec.users)

    def __repr__(self) -> str:
        return f"SimulatedGraph(url={self.url!r}, users={self.spec.users}, licence={self.spec.licence!r})"

    # ---- HTTP dispatch -----------------------------------------------------------------
    def route_of(self, method: str, target: str) -> str:
        """The counter key for a request, e.g. "GET /users/{id}/memberOf"."""
        path = urlsplit(target).path
        version = _version_of(path)
        if version is not None:
            found = self.graph.route_of(method, path[len(version) + 1:], version)
            if found is not None:
                return found[0]
        elif path.endswith("/oauth2/v2.0/token"):
            return TOKEN_ROUTE
        return f"{method} (unknown)"

    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, bytes, dict[str, str], str]:
        """(status, body, headers, counter route) for one HTTP request."""
        split = urlsplit(target)
        path = split.path
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id", request_id)
        base_headers = {"request-id": request_id, "client-request-id": client_request_id,
                        "Strict-Transport-Security": "max-age=31536000",
                        "Cache-Control": "no-store, no-cache"}
        version = _version_of(path)
        if version is not None:
            reply = self._graph(method, path[len(version) + 1:], split.query, headers, body, version)
            out_headers = {**base_headers, "Content-Type": JSON_TYPE, **reply.headers,
                           "x-ms-ags-diagnostic": '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E",'
                                                  '"Ring":"0","ScaleUnit":"000","RoleInstance":"ENTRASIM"}}'}
            payload_obj = reply.body
            if reply.status >= 400 and payload_obj is not None and "error" in payload_obj:
                err = payload_obj["error"]
                payload_obj = error_body(err["code"], err["message"], request_id, client_request_id)
            return reply.status, orjson.dumps(payload_obj) if payload_obj is not None else b"", out_headers, reply.route
        if path.startswith("/_sim/"):
            return self._control(method, path, base_headers, split.query, body)
        parts = path.strip("/").split("/")
        json_headers = {**base_headers, "Content-Type": "application/json; charset=utf-8"}
        if method == "POST" and len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]:
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            token_url = f"{self.url}{path}"
            answer = self.identity.token(parts[0], form, token_url)
            return answer.status, orjson.dumps(answer.body), json_headers, TOKEN_ROUTE
        if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return 200, orjson.dumps(self._openid(parts[0])), json_headers, "GET /{tenant}/v2.0/.well-known/openid-configuration"
        return 404, orjson.dumps(error_body("NotFound", f"No such endpoint: {method} {path}", request_id,
                                            client_request_id)), json_headers, f"{method} (unknown)"

    def _graph(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               version: str = "v1.0") -> Reply:
        req = Request(method, path, parse_query(query), headers, body, self.url, version)
        try:
            claims = self.identity.authenticate(headers.get("authorization"))
        except GraphError as exc:
            return Reply(exc.status, {"error": {"code": exc.code, "message": exc.message}},
                         self.route_of(method, f"/{version}{path}"), dict(exc.headers))
        return self.graph.execute(req, claims)

    def _control(self, method: str, path: str, headers: dict[str, str], query: str = "",
                 payload: bytes = b"") -> tuple[int, bytes, dict[str, str], str]:
        headers = {**headers, "Content-Type": "application/json"}
        if method == "GET" and path == "/_sim/counters":
            body = {"counters": self.counters.snapshot(), "totals": self.counters.totals(),
                    "users": self.spec.users, "throttling_floor_seconds": self.throttling_floor_seconds()}
            return 200, orjson.dumps(body), headers, "control"
        if method == "POST" and path == "/_sim/counters/reset":
            self.counters.reset()
            self.throttle.reset()
            return 200, b'{"reset":true}', headers, "control"
        answer = control.handle(self.tenant, method, path, dict(parse_qsl(query)), payload)
        if answer is not None:
            return answer[0], orjson.dumps(answer[1]), headers, "control"
        return 404, b'{"error":"unknown control endpoint"}', headers, "control"

    def _openid(self, tenant: str) -> dict[str, Any]:
        tid = self.spec.tenant_id
        return {
            "token_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{tid}/v2.0",
            "authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
