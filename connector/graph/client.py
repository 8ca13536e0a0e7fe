"""The one door to Microsoft Graph: the SDK's request adapter, raw bytes, orjson, our retries.

Requests go through msgraph-sdk's `GraphRequestAdapter` (kiota auth provider, Graph middleware,
URL building against `adapter.base_url`), but responses are taken as the raw `httpx.Response`
and parsed with orjson: deserialising listings into SDK models runs at ~300 users/s. The SDK's
retry handler is switched off because it gives up on `Retry-After` >= 180 s and never sees a 429
inside `$batch`; `throttle.py` decides instead.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.request_option import RequestOption
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options import RetryHandlerOption, UrlReplaceHandlerOption
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph_core import APIVersion, GraphClientFactory
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

from connector import auth
from connector.backoff import parse_retry_after
from connector.clouds import resolve
from connector.graph.budget import (
    DIRECTORY,
    BudgetDeadline,
    Ticket,
    add_charges,
    charges_of,
    chunk_by_budget,
    priority_of,
    time_scale_from_env,
)
from connector.graph.throttle import (
    RETRYABLE_STATUSES,
    DeadlineClock,
    Retryable,
    Throttle,
    parse_limit_percentage,
)

log = logging.getLogger(__name__)

API_VERSION = "v1.0"
BATCH_LIMIT = 20
# Marks every request as background traffic: Graph throttles it first, interactive users last.
# Sign-ins too: no person waits on them; the planner (budget.py) orders our own requests.
PRIORITY_HEADERS = {"x-ms-throttle-priority": "Low"}
EXPIRED_PAGE_TOKEN = "Directory_ExpiredPageToken"
_TIMEOUT = httpx.Timeout(60.0, connect=30.0)


class GraphError(Exception):
    """Graph refused a request; `code` is Graph's `error.code` (e.g. `Authorization_RequestDenied`).

    The message carries Graph's own text and the request id (for Microsoft support), never a
    token or a secret: neither is ever part of a Graph error body.
    """

    def __init__(self, status: int, code: str, message: str, request_id: str | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        rid = f" (request-id {request_id})" if request_id else ""
        super().__init__(f"Graph answered {status} {code}: {message}{rid}")


class GraphUnavailable(GraphError):
    """The retry budget ran out: Graph kept throttling, failing or dropping connections."""


class AuthenticationFailed(Exception):
    """No token could be obtained (wrong secret, unknown tenant, unreachable login endpoint)."""


@dataclass(slots=True)
class ClientStats:
    """What one client did; the run summary and the benchmarks read it."""

    requests: int = 0
    batch_requests: int = 0
    batch_items: int = 0
    throttled: int = 0
    retries: int = 0
    retry_wait_seconds: float = 0.0
    bytes_received: int = 0
    token_renewals: int = 0


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing: its items, the URL that produced it and the link to the next."""

    items: list[dict[str, Any]]
    url: str
    next_link: str | None


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """One GET inside a `$batch`; `url` is relative to the API version root (`/users/...`)."""

    id: str
    url: str
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class BatchResponse:
    id: str
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def error(self) -> GraphError:
        return _error_from(self.status, self.body, self.headers.get("request-id"))


def decode_token_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT access token, read without verification (Graph verifies it).

    Used only to learn which application permissions (`roles`) and tenant (`tid`) the token
    carries; None when the token is not a JWT.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


class RenewableCredential(AsyncTokenCredential):
    """Delegates to an azure-identity credential that can be replaced by a fresh one.

    A token revoked mid-run stays in azure-identity's cache until it expires; the only sure way
    past it is a new credential with an empty cache. `generation` lets many requests that saw the
    same 401 renew it once.
    """

    def __init__(self, factory: Callable[[], AsyncTokenCredential]) -> None:
        self._factory = factory
        self._current = factory()
        self._retired: list[AsyncTokenCredential] = []
        self._lock = asyncio.Lock()
        self.generation = 0
        self.last_token: str | None = None

    async def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                        enable_cae: bool = False, **kwargs: Any) -> AccessToken:
        try:
            token = await self._current.get_token(*scopes, claims=claims, tenant_id=tenant_id,
                                                  enable_cae=enable_cae, **kwargs)
        except AzureError as exc:
            raise AuthenticationFailed(_auth_message(exc)) from None
        self.last_token = token.token
        return token

    async def renew(self, seen_generation: int) -> None:
        async with self._lock:
            if self.generation != seen_generation:
                return
            self._retired.append(self._current)
            self._current = self._factory()
            self.generation += 1

    async def close(self) -> None:
        for credential in (*self._retired, self._current):
            await credential.close()
        self._retired.clear()

    async def __aexit__(self, *args: object) -> None:
        await self.close()


def _auth_message(exc: AzureError) -> str:
    # azure-identity's message names the AADSTS code and never the secret.
    text = (exc.message or str(exc)).strip().splitlines()
    first = text[0] if text else "authentication failed"
    return f"could not obtain a token: {first}"


def _error_from(status: int, body: Any, request_id: str | None) -> GraphError:
    code, message = f"HTTP{status}", "no error details"
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping):
            code = str(err.get("code") or code)
            message = str(err.get("message") or message)
            inner = err.get("innerError") or err.get("innererror")
            if request_id is None and isinstance(inner, Mapping):
                rid = inner.get("request-id")
                request_id = str(rid) if rid else None
    return GraphError(status, code, message, request_id)


def _loads(content: bytes) -> Any:
    return orjson.loads(content) if content else {}


class GraphClient:
    """Async Graph client for one tenant; see `docs/architecture.md` for the contract."""

    def __init__(self, *, graph_endpoint: str, scope: str,
                 credential_factory: Callable[[], AsyncTokenCredential],
                 throttle: Throttle, ssl_context: ssl.SSLContext | None = None) -> None:
        self.base_url = graph_endpoint.rstrip("/") + "/" + API_VERSION
        self.scope = scope
        self.throttle = throttle
        self.stats = ClientStats()
        self.credential = RenewableCredential(credential_factory)
        host = urlsplit(graph_endpoint).hostname or ""
        provider = AzureIdentityAuthenticationProvider(
            self.credential, scopes=[scope], allowed_hosts=[host.lower()] if host else []
        )
        # trust_env (httpx's default) honours HTTPS_PROXY / NO_PROXY.
        self._http = httpx.AsyncClient(verify=ssl_context or True, timeout=_TIMEOUT,
                                       trust_env=True)
        options: dict[str, RequestOption] = {
            RetryHandlerOption.get_key(): RetryHandlerOption(should_retry=False),
            UrlReplaceHandlerOption.get_key(): UrlReplaceHandlerOption(enabled=False),
            GraphTelemetryHandlerOption.get_key(): GraphTelemetryHandlerOption(
                api_version=APIVersion.v1
            ),
        }
        http_client = GraphClientFactory.create_with_default_middleware(
            client=self._http, options=options
        )
        self.adapter = GraphRequestAdapter(provider, client=http_client)
        self.adapter.base_url = self.base_url

    @classmethod
    def from_settings(cls, settings: Any, *, throttle: Throttle | None = None) -> GraphClient:
        """Build from `Settings`: cloud hosts, credential (secret or certificate), CA bundle, tuning."""
        cloud = resolve(settings)
        throttle = throttle or Throttle.create(
            max_concurrency=int(settings.max_concurrency),
            deadline_seconds=float(settings.retry_deadline_seconds),
            time_scale=time_scale_from_env(),
        )
        return cls(
            graph_endpoint=cloud.graph_endpoint,
            scope=cloud.scope,
            credential_factory=lambda: auth.build_credential(settings, cloud),
            throttle=throttle,
            ssl_context=auth.ssl_context(settings),
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        await self.credential.close()

    async def __aenter__(self) -> GraphClient:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.aclose()

    # --- tokens -----------------------------------------------------------------------------

    async def token_claims(self) -> dict[str, Any] | None:
        """Claims of the current access token (acquiring one if needed)."""
        token = await self.credential.get_token(self.scope)
        return decode_token_claims(token.token)

    # --- URLs -------------------------------------------------------------------------------

    def relative(self, url: str) -> str:
        """A Graph URL relative to the version root, as `$batch` items need it."""
        if url.startswith(self.base_url):
            return url[len(self.base_url):] or "/"
        parts = urlsplit(url)
        if parts.scheme:
            path = parts.path
            marker = path.find("/" + API_VERSION)
            rest = path[marker + len(API_VERSION) + 1:] if marker >= 0 else path
            return rest + (f"?{parts.query}" if parts.query else "")
        return url

    def _request(self, method: Method, url: str, headers: Mapping[str, str] | None,
                 body: bytes | None = None) -> RequestInformation:
        if url.startswith(("https://", "http://")):
            info = RequestInformation(method)
            info.url = url
        else:
            path = url if url.startswith("/") else "/" + url
            info = RequestInformation(method, "{+baseurl}{+path}", {"path": path})
        info.headers.add_all({**PRIORITY_HEADERS, **(headers or {})})
        if body is not None:
            info.headers.add("Content-Type", "application/json")
            info.content = body
        return info

    # --- sending ----------------------------------------------------------------------------

    async def _attempt(self, method: Method, url: str, headers: Mapping[str, str] | None,
                       body: bytes | None, *, charges: dict[str, float], priority: int,
                       deadline: DeadlineClock, allowance: float,
                       ticket: Ticket | None = None) -> httpx.Response:
        """One HTTP exchange, admitted by the planner; throttling signals fed back to it. The
        time the planner held it back on our own pacing is added to `deadline.held` (waiting
        for a concurrency slot is not: the limit narrows when Graph throttles)."""
        if ticket is None:  # else admitted by the caller (a `$batch` chunk sized to the room)
            ticket = await self.throttle.planner.admit(charges, priority=priority,
                                                       allowance=allowance)
            deadline.held += ticket.paced
        try:
            async with self.throttle.concurrency.slot():
                ticket.sent(self.throttle.clock())
                info = self._request(method, url, headers, body)
                span = self.adapter.start_tracing_span(info, method.value)
                try:
                    response: httpx.Response = await self.adapter.get_http_response_message(
                        info, span)
                finally:
                    span.end()
        finally:
            # Graph counted the request somewhere between sending and answering (a token
            # fetch or a new TLS connection may come first): the answer's time is the safe
            # stamp, and a request that failed on the way must not hold its slot forever.
            ticket.answered(self.throttle.clock())
        self.stats.requests += 1
        self.stats.bytes_received += len(response.content)
        if response.status_code == 429:
            self.stats.throttled += 1
            self._on_throttled(charges, parse_retry_after(response.headers.get("Retry-After")))
        else:
            percentage = parse_limit_percentage(
                response.headers.get("x-ms-throttle-limit-percentage"))
            self.throttle.planner.on_response(charges, percentage)
            if DIRECTORY.name in charges:
                self.throttle.concurrency.on_response(percentage)
        return response

    def _on_throttled(self, charges: dict[str, float], retry_after: float | None) -> None:
        # The planner blames the request's scarcest bucket; only a directory 429 also narrows
        # concurrency (a reports 429 says nothing about the directory budget).
        self.throttle.planner.on_throttled(charges, retry_after)
        if set(charges) == {DIRECTORY.name}:
            self.throttle.concurrency.on_throttled(retry_after)

    def budget_summary(self) -> str:
        """Which documented limit bounded this client's run so far (for the run summary)."""
        return self.throttle.planner.summary()

    def _on_retry(self, wait: float, exc: BaseException) -> None:
        self.stats.retries += 1
        self.stats.retry_wait_seconds += wait
        log.debug("retrying in %.1f s after %s", wait, exc)

    async def _call(self, method: Method, url: str, headers: Mapping[str, str] | None = None,
                    body: bytes | None = None, *, charges: dict[str, float] | None = None,
                    priority: int | None = None,
                    deadline: DeadlineClock | None = None,
                    ticket: Ticket | None = None) -> httpx.Response:
        """Send with retries: transient failures within the deadline; a 401 renews the token
        once per token (one that expires during a long retry wait is renewed again, the fresh
        token refused at once is an answer). The deadline runs on `deadline` (a `$batch`
        chunk's, shared across its re-sends), which stands still while our own pacing holds
        the request back."""
        if charges is None:
            charges = charges_of(url)
        if priority is None:
            priority = priority_of(url)
        renewed_from: int | None = None  # the token generation this call renewed
        clock = deadline or DeadlineClock(self.throttle.clock)
        started = clock()
        policy = self.throttle.policy

        def allowance() -> float:
            return max(0.0, policy.deadline_seconds - (clock() - started))

        last: Retryable | None = None
        try:
            async for attempt in policy.retrying(clock=clock, sleep=self.throttle.sleep,
                                                 before_sleep=self._on_retry):
                with attempt:
                    generation = self.credential.generation
                    response = await self._attempt(method, url, headers, body, charges=charges,
                                                   priority=priority, deadline=clock,
                                                   allowance=allowance(), ticket=ticket)
                    ticket = None
                    if response.status_code == 401 and generation != renewed_from:
                        renewed_from = generation
                        self.stats.token_renewals += 1
                        await self.credential.renew(generation)
                        response = await self._attempt(method, url, headers, body,
                                                       charges=charges, priority=priority,
                                                       deadline=clock, allowance=allowance())
                    if response.status_code in RETRYABLE_STATUSES:
                        error = self._error(response)
                        last = Retryable(
                            error.message,
                            retry_after=parse_retry_after(response.headers.get("Retry-After")),
                            final=error,
                        )
                        raise last
                    return response
        except BudgetDeadline as exc:
            # Graph paused the budget past the retry deadline: give up now, naming what Graph
            # last answered.
            cause = last.final if last is not None and isinstance(last.final, GraphError) \
                else None
            reason = last.reason if last is not None else "the request budget is spent"
            raise GraphUnavailable(
                cause.status if cause else 429, cause.code if cause else "TooManyRequests",
                policy.give_up_reason(clock() - started, exc.wait, reason),
                cause.request_id if cause else None,
            ) from None
        except Retryable as exc:
            cause = exc.final if isinstance(exc.final, GraphError) else None
            raise GraphUnavailable(
                cause.status if cause else 0, cause.code if cause else "Unavailable",
                policy.give_up_reason(clock() - started, exc.retry_after, exc.reason),
                cause.request_id if cause else None,
            ) from None
        except httpx.TransportError as exc:
            raise GraphUnavailable(
                0, "ConnectionFailed",
                policy.give_up_reason(clock() - started, None, f"{type(exc).__name__}: {exc}"),
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _error(self, response: httpx.Response) -> GraphError:
        try:
            body = _loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        return _error_from(response.status_code, body, response.headers.get("request-id"))

    def _json(self, response: httpx.Response) -> Any:
        if not response.is_success:
            raise self._error(response)
        try:
            return _loads(response.content)
        except orjson.JSONDecodeError:
            raise GraphError(response.status_code, "InvalidResponse",
                             "the response body is not JSON",
                             response.headers.get("request-id")) from None

    # --- public API -------------------------------------------------------------------------

    async def get_json(self, url: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET one resource (relative to `/v1.0`, or an absolute link) as a dict."""
        body = self._json(await self._call(Method.GET, url, headers))
        if not isinstance(body, dict):
            raise GraphError(200, "InvalidResponse", "expected a JSON object")
        return body

    async def get_text(self, url: str, headers: Mapping[str, str] | None = None) -> str:
        """GET a plain-text value (`/users/$count`)."""
        response = await self._call(Method.GET, url, headers)
        if not response.is_success:
            raise self._error(response)
        return response.text

    async def pages(self, url: str, headers: Mapping[str, str] | None = None
                    ) -> AsyncIterator[Page]:
        """Each page of a listing, following `@odata.nextLink` to the end."""
        next_url: str | None = url
        planner = self.throttle.planner
        charges, priority = charges_of(url), priority_of(url)
        planner.expect_follow_up(charges, priority)
        while next_url is not None:
            try:
                body = await self.get_json(next_url, headers)
            except BaseException:
                planner.follow_up_done(charges, priority)
                raise
            items = body.get("value")
            link = body.get("@odata.nextLink")
            if isinstance(link, str) and link:
                planner.expect_follow_up(charges, priority)
            else:
                planner.follow_up_done(charges, priority)
            yield Page(items if isinstance(items, list) else [], next_url,
                       link if isinstance(link, str) and link else None)
            next_url = link if isinstance(link, str) and link else None

    async def batch(self, items: Sequence[BatchRequest]) -> list[BatchResponse]:
        """Send GETs through `$batch`, 20 per request, concurrently; 429/5xx items are retried.

        Responses come back in the order of `items`. Items that end in another error (403, 404)
        are returned as they are, for the caller to judge.
        """
        if len({item.id for item in items}) != len(items):
            raise ValueError("batch item ids must be unique")
        # Items are throttled one by one. Those under a scarce limit (5 reports a 10 s) go in
        # chunks of what that limit has room for when they are sent; the rest 20 at a time.
        planner = self.throttle.planner
        plain: list[BatchRequest] = []
        scarce: dict[tuple[tuple[str, float], ...], list[BatchRequest]] = {}
        for item in items:
            charges = charges_of(item.url)
            if any(planner.buckets[n].scarce for n in charges if n in planner.buckets):
                scarce.setdefault(tuple(sorted(charges.items())), []).append(item)
            else:
                plain.append(item)
        chunks = [[plain[i] for i in chunk] for chunk in chunk_by_budget(
            [item.url for item in plain], BATCH_LIMIT, planner.capacity)]
        results: dict[str, BatchResponse] = {}
        await gather_all(*(self._batch_chunk(chunk, results) for chunk in chunks),
                         *(self._batch_as_room_frees(group, dict(unit), results)
                           for unit, group in scarce.items()))
        return [results[item.id] for item in items]

    async def _batch_as_room_frees(self, items: list[BatchRequest], unit: dict[str, float],
                                   results: dict[str, BatchResponse]) -> None:
        """`items` (each spending `unit`) in chunks admitted as the planner has room: each
        chunk takes every slot free when its first item fits."""
        priority = max(priority_of(item.url) for item in items)
        policy = self.throttle.policy
        chunks: list[asyncio.Task[None]] = []
        pending = items
        try:
            while pending:
                try:
                    ticket, count = await self.throttle.planner.admit_some(
                        unit, min(BATCH_LIMIT, len(pending)), priority=priority,
                        allowance=policy.deadline_seconds)
                except BudgetDeadline as exc:
                    raise GraphUnavailable(429, "TooManyRequests", policy.give_up_reason(
                        policy.deadline_seconds, exc.wait, "the request budget is spent")
                    ) from None
                chunk, pending = pending[:count], pending[count:]
                chunks.append(asyncio.ensure_future(self._batch_chunk(chunk, results, ticket)))
        except BaseException:
            for task in chunks:
                task.cancel()
            await asyncio.gather(*chunks, return_exceptions=True)
            raise
        await gather_all(*chunks)

    async def _batch_chunk(self, chunk: list[BatchRequest], results: dict[str, BatchResponse],
                           ticket: Ticket | None = None) -> None:
        """One chunk, its failed items re-sent; `ticket`: its first send is admitted already."""
        pending = chunk
        clock = DeadlineClock(self.throttle.clock)  # stands still while our pacing holds it
        started = clock()
        policy = self.throttle.policy
        attempt = 0
        while pending:
            attempt += 1
            responses = await self._post_batch(pending, clock, ticket)
            ticket = None
            retry: list[BatchRequest] = []
            waits: list[float] = []
            for item in pending:
                response = responses.get(item.id)
                if response is None:
                    retry.append(item)
                    continue
                if response.status in RETRYABLE_STATUSES:
                    retry.append(item)
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    waits.append(policy.wait_for(
                        Retryable("item", retry_after=retry_after), attempt))
                    if response.status == 429:
                        self.stats.throttled += 1
                        self._on_throttled(charges_of(item.url), retry_after)
                    continue
                results[item.id] = response
            if not retry:
                return
            wait = max(waits) if waits else policy.backoff(attempt)
            elapsed = clock() - started
            if elapsed + wait >= policy.deadline_seconds:
                last = responses.get(retry[0].id)
                cause = last.error() if last is not None else None
                what = f"{len(retry)} $batch item(s) " + (
                    f"still failing: {cause.message}" if cause else "missing from the response")
                raise GraphUnavailable(
                    cause.status if cause else 0, cause.code if cause else "Unavailable",
                    policy.give_up_reason(elapsed, wait if waits else None, what),
                    cause.request_id if cause else None,
                )
            self._on_retry(wait, Retryable(f"{len(retry)} $batch item(s) throttled or failed"))
            await self.throttle.sleep(wait)
            pending = retry

    async def _post_batch(self, items: list[BatchRequest], deadline: DeadlineClock,
                          ticket: Ticket | None = None) -> dict[str, BatchResponse]:
        body = orjson.dumps({"requests": [
            {"id": item.id, "method": "GET", "url": item.url,
             "headers": {**PRIORITY_HEADERS, **(item.headers or {})}}
            for item in items
        ]})
        charges: dict[str, float] = {}
        for item in items:
            add_charges(charges, charges_of(item.url))
        self.stats.batch_requests += 1
        self.stats.batch_items += len(items)
        response = await self._call(Method.POST, "/$batch", None, body, charges=charges,
                                    priority=max(priority_of(item.url) for item in items),
                                    deadline=deadline, ticket=ticket)
        return parse_batch_response(self._json(response))


def parse_batch_response(body: Any) -> dict[str, BatchResponse]:
    """Per-item responses of a `$batch`, by item id (headers' names lower-cased)."""
    out: dict[str, BatchResponse] = {}
    responses = body.get("responses") if isinstance(body, Mapping) else None
    if not isinstance(responses, list):
        return out
    for raw in responses:
        if not isinstance(raw, Mapping) or "id" not in raw:
            continue
        headers = raw.get("headers")
        out[str(raw["id"])] = BatchResponse(
            id=str(raw["id"]),
            status=int(raw.get("status", 0)),
            body=raw.get("body"),
            headers={str(k).lower(): str(v) for k, v in headers.items()}
            if isinstance(headers, Mapping) else {},
        )
    return out


async def gather_all(*coros: Awaitable[Any]) -> list[Any]:
    """Run awaitables concurrently (the client's limiters bound the HTTP side); first error wins.

    On an error the others are cancelled and awaited, so a failed source leaves nothing running.
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
