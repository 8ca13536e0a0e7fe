"""Where events go: stdout, an NDJSON file, or an HTTP intake (NDJSON or the Sekoia.io shape).

The caller commits its checkpoint only after ``deliver()`` returns, so a sink returns only once a
batch is durable at the other end (flushed pipe, fsynced file, 2xx from the intake) and raises
``DeliveryError`` instead of dropping anything. Delivery is at-least-once: a batch whose
acknowledgement was lost is sent again, so consumers de-duplicate on ``metadata.uid``.
"""

from __future__ import annotations

import gzip as gzip_codec
import ipaddress
import logging
import os
import ssl
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol, Self, runtime_checkable

import httpx
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from connector.backoff import next_wait, parse_retry_after

__all__ = [
    "DEFAULT_HEADER_NAME",
    "SEKOIA_INTAKE_PATH",
    "DeliveryError",
    "DeliveryStats",
    "FileSink",
    "HttpIntakeSink",
    "IntakeFormat",
    "Sink",
    "StdoutSink",
]

log = logging.getLogger(__name__)

IntakeFormat = Literal["ndjson", "sekoia"]
DEFAULT_HEADER_NAME = "Authorization"
SEKOIA_INTAKE_PATH = "/api/v2/asset-management/asset-connector/{connector_uuid}"
_LOOPBACK_NAMES = frozenset({"localhost"})
_HEADER_NAME_CHARS = frozenset(
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


class DeliveryError(Exception):
    """A sink gave up on a batch; nothing in the batch may be considered delivered."""


@dataclass(slots=True)
class DeliveryStats:
    """Counters for the run summary; ``bytes_sent`` counts every attempt's body as sent."""

    batches: int = 0
    events: int = 0
    retries: int = 0
    bytes_sent: int = 0


@runtime_checkable
class Sink(Protocol):
    """What the runner needs from a destination."""

    stats: DeliveryStats

    def deliver(self, events: Sequence[bytes]) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _ClosingSink:
    """Context-manager plumbing shared by the concrete sinks."""

    def __init__(self) -> None:
        self.stats = DeliveryStats()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _ndjson(events: Sequence[bytes]) -> bytes:
    for index, event in enumerate(events):
        if b"\n" in event:
            raise ValueError(f"event {index} contains a newline; sinks take single-line JSON")
    return b"\n".join(events) + b"\n"


class StdoutSink(_ClosingSink):
    """NDJSON on standard output, flushed per batch so a consumer on the pipe sees whole batches."""

    def __init__(self, stream: IO[bytes] | None = None) -> None:
        super().__init__()
        self._stream = stream if stream is not None else sys.stdout.buffer

    def __repr__(self) -> str:
        return "StdoutSink()"

    def deliver(self, events: Sequence[bytes]) -> None:
        if not events:
            return
        data = _ndjson(events)
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"cannot write {len(events)} events to stdout: {exc}") from exc
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.bytes_sent += len(data)

    def close(self) -> None:
        # stdout belongs to the process, not to the sink: flush, never close.
        try:
            self._stream.flush()
        except (OSError, ValueError):
            log.debug("stdout already closed", exc_info=True)


class FileSink(_ClosingSink):
    """Appends NDJSON to a file and fsyncs each batch, so a delivered batch survives a crash.

    A crash in the middle of a batch leaves a torn last line; that batch was never acknowledged
    (its checkpoint was not committed, it will be sent again), so opening the file cuts the torn
    line off rather than gluing the next batch onto it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            self._file: IO[bytes] = open(  # noqa: SIM115 - owned by the sink until close()
                self.path, "a+b", opener=_private_opener
            )
        except OSError as exc:
            raise DeliveryError(f"cannot open {self.path}: {exc.strerror or exc}") from exc
        try:
            self._truncate_torn_tail()
        except OSError as exc:
            self._file.close()
            raise DeliveryError(f"cannot repair {self.path}: {exc.strerror or exc}") from exc

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r})"

    def _truncate_torn_tail(self) -> None:
        end = self._file.seek(0, os.SEEK_END)
        keep, position = 0, end
        while position > 0:
            start = max(0, position - 65536)
            self._file.seek(start)
            newline = self._file.read(position - start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            position = start
        if keep < end:
            log.warning(
                "%s ended with %d bytes of an unacknowledged batch (torn by a crash); removed them",
                self.path,
                end - keep,
            )
            self._file.truncate(keep)
            os.fsync(self._file.fileno())

    def deliver(self, events: Sequence[bytes]) -> None:
        if not events:
            return
        if self._file.closed:
            raise DeliveryError(f"cannot write to {self.path}: the sink is closed")
        data = _ndjson(events)
        start = self._file.seek(0, os.SEEK_END)
        try:
            self._file.write(data)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            self._undo_partial_write(start)
            raise DeliveryError(
                f"cannot write {len(events)} events to {self.path}: {exc.strerror or exc}"
            ) from exc
        self.stats.batches += 1
        self.stats.events += len(events)
        self.stats.bytes_sent += len(data)

    def _undo_partial_write(self, start: int) -> None:
        try:
            os.ftruncate(self._file.fileno(), start)
        except OSError:
            log.warning("could not cut a partial batch off %s; the next open will", self.path)

    def close(self) -> None:
        self._file.close()


def _private_opener(path: str, flags: int) -> int:
    """Events carry personal data: no world-readable output file."""
    return os.open(path, flags, 0o640)


class _Transient(Exception):
    """A failed attempt worth repeating; ``detail`` is safe to show (no secrets)."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


class _DeadlinePolicy:
    """Tenacity stop/wait for one batch: the deadline runs from that batch's first failure."""

    def __init__(self, deadline: float, backoff_initial: float, backoff_max: float) -> None:
        self.deadline = deadline
        self.first_failure: float | None = None
        self.attempts = 0
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )

    def elapsed(self) -> float:
        now = time.monotonic()
        if self.first_failure is None:
            self.first_failure = now
        return now - self.first_failure

    def remaining(self) -> float:
        return self.deadline - self.elapsed()

    def stop(self, state: RetryCallState) -> bool:
        self.attempts = state.attempt_number
        remaining = self.remaining()
        if remaining <= 0:
            return True
        failure = _transient_of(state)
        if failure.retry_after is not None and failure.retry_after > remaining:
            failure.detail += (
                f" (Retry-After {failure.retry_after:g} s is past the delivery deadline)"
            )
            return True
        return False

    def wait(self, state: RetryCallState) -> float:
        failure = _transient_of(state)
        return next_wait(failure.retry_after,
                         max(0.0, min(self._backoff(state), self.remaining())))


def _transient_of(state: RetryCallState) -> _Transient:
    assert state.outcome is not None
    failure = state.outcome.exception()
    assert isinstance(failure, _Transient)
    return failure


class HttpIntakeSink(_ClosingSink):
    """POSTs batches to an HTTP intake and returns only when each one is acknowledged.

    429, 408, 5xx and transport errors are retried with exponential backoff and jitter (a
    Retry-After is obeyed) until ``deadline_seconds`` after the batch's first failure; any
    other 4xx/3xx means retrying cannot help and fails at once.
    """

    def __init__(
        self,
        url: str,
        *,
        format: IntakeFormat = "ndjson",
        api_key: SecretStr | str | None = None,
        connector_uuid: str | uuid.UUID | None = None,
        batch_size: int = 500,
        gzip: bool = True,
        deadline_seconds: float = 600.0,
        ca_bundle: str | os.PathLike[str] | None = None,
        header_name: str = DEFAULT_HEADER_NAME,
        timeout_seconds: float = 60.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
    ) -> None:
        super().__init__()
        if format not in ("ndjson", "sekoia"):
            raise ValueError(f"intake format must be 'ndjson' or 'sekoia', not {format!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if not deadline_seconds >= 0:
            raise ValueError(f"deadline_seconds must be >= 0, not {deadline_seconds}")
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, not {timeout_seconds}")
        self.format: IntakeFormat = format
        self.batch_size = batch_size
        self.gzip = gzip
        self.deadline_seconds = float(deadline_seconds)
        self._backoff = (backoff_initial, backoff_max)
        self._api_key = _secret(api_key)
        base = _checked_url(url)
        if format == "sekoia":
            if connector_uuid is None:
                raise ValueError("the sekoia intake format needs connector_uuid")
            if self._api_key is None:
                raise ValueError("the sekoia intake format needs an api_key")
            path = SEKOIA_INTAKE_PATH.format(connector_uuid=_checked_uuid(connector_uuid))
            base = base.copy_with(path=base.path.rstrip("/") + path)
        self.url = base
        self.display_url = _display_url(base)
        self._headers = self._request_headers(header_name)
        self._client = httpx.Client(
            verify=_tls_context(ca_bundle),
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 15.0)),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls, intake: Any, *, ca_bundle: str | os.PathLike[str] | None = None
    ) -> HttpIntakeSink:
        """Build from ``Settings.intake`` (or any object with the same attributes)."""
        if ca_bundle is None:
            ca_bundle = getattr(intake, "ca_bundle", None)
        return cls(
            str(intake.url),
            format=getattr(intake.format, "value", intake.format),
            api_key=intake.api_key,
            connector_uuid=getattr(intake, "connector_uuid", None),
            batch_size=intake.batch_size,
            gzip=intake.gzip,
            deadline_seconds=intake.delivery_deadline_seconds,
            ca_bundle=ca_bundle,
            header_name=getattr(intake, "header_name", None) or DEFAULT_HEADER_NAME,
        )

    def __repr__(self) -> str:
        return (
            f"HttpIntakeSink(url={self.display_url!r}, format={self.format!r}, "
            f"batch_size={self.batch_size}, gzip={self.gzip}, "
            f"deadline_seconds={self.deadline_seconds:g}, "
            f"api_key={'**********' if self._api_key else None})"
        )

    def _request_headers(self, header_name: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json"
            if self.format == "sekoia"
            else "application/x-ndjson",
            "User-Agent": "entra-ocsf-connector",
        }
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        if self._api_key is not None:
            key = self._api_key.get_secret_value()
            if not key.isprintable() or not key.isascii():
                raise ValueError("api_key contains characters that cannot go in an HTTP header")
            if self.format == "sekoia":
                headers["Authorization"] = f"Bearer {key}"
            else:
                if not header_name or not set(header_name) <= _HEADER_NAME_CHARS:
                    raise ValueError(f"header_name {header_name!r} is not a valid HTTP header name")
                headers[header_name] = key
        return headers

    def deliver(self, events: Sequence[bytes]) -> None:
        if self._client.is_closed:
            raise DeliveryError(f"cannot deliver to {self.display_url}: the sink is closed")
        for start in range(0, len(events), self.batch_size):
            chunk = events[start : start + self.batch_size]
            try:
                self._deliver_batch(chunk)
            except DeliveryError as exc:
                if start:
                    exc.args = (
                        f"{exc.args[0]} ({start} of the {len(events)} events in this call "
                        "were delivered before it)",
                    )
                raise

    def _body(self, events: Sequence[bytes]) -> bytes:
        if self.format == "sekoia":
            body = b'{"version":1,"items":[' + b",".join(events) + b"]}"
        else:
            body = _ndjson(events)
        return gzip_codec.compress(body, compresslevel=6, mtime=0) if self.gzip else body

    def _deliver_batch(self, events: Sequence[bytes]) -> None:
        body = self._body(events)
        policy = _DeadlinePolicy(self.deadline_seconds, *self._backoff)
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=policy.stop,
            wait=policy.wait,
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            retrying(self._post, body, len(events))
        except _Transient as failure:
            raise DeliveryError(
                f"gave up delivering a batch of {len(events)} events to {self.display_url} "
                f"after trying for {policy.elapsed():.1f} s ({policy.attempts} attempts, "
                f"deadline {self.deadline_seconds:g} s); last error: {failure.detail}"
            ) from failure
        self.stats.batches += 1
        self.stats.events += len(events)

    def _post(self, body: bytes, count: int) -> None:
        self.stats.bytes_sent += len(body)
        try:
            response = self._client.post(self.url, content=body, headers=self._headers)
        except httpx.TransportError as exc:
            if _is_certificate_failure(exc):
                raise DeliveryError(
                    f"TLS certificate of {self.display_url} is not trusted ({exc}); "
                    "set ca_bundle to the PEM of the CA that signed it"
                ) from exc
            raise _Transient(f"{type(exc).__name__}: {exc or 'no detail'}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            raise _Transient(
                f"HTTP {status} {response.reason_phrase}".rstrip(),
                parse_retry_after(response.headers.get("Retry-After")),
            )
        raise DeliveryError(
            f"{self.display_url} refused a batch of {count} events with HTTP {status} "
            f"{response.reason_phrase}; not retrying: {self._excerpt(response)}"
        )

    def _excerpt(self, response: httpx.Response) -> str:
        """The start of an error body, which usually says what the intake disliked."""
        text = " ".join(response.text[:300].split()) or "(empty body)"
        if self._api_key is not None:
            text = text.replace(self._api_key.get_secret_value(), "**********")
        return text

    def _log_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
        assert state.next_action is not None
        log.warning(
            "delivery to %s failed (%s); retry %d in %.2f s",
            self.display_url,
            _transient_of(state).detail,
            state.attempt_number,
            state.next_action.sleep,
        )

    def close(self) -> None:
        self._client.close()


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    if isinstance(value, str):
        value = SecretStr(value)
    if value is None or not value.get_secret_value():
        return None
    return value


def _checked_url(url: str) -> httpx.URL:
    """https only, except plain http to this machine (tests, a local relay)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(f"intake url is not a valid URL: {exc}") from None
    if parsed.userinfo:
        raise ValueError("intake url must not embed credentials; use api_key")
    if not parsed.host:
        raise ValueError(f"intake url {_display_url(parsed)!r} has no host")
    if parsed.scheme == "https":
        return parsed
    if parsed.scheme == "http":
        if _is_loopback(parsed.host):
            return parsed
        raise ValueError(
            f"intake url {_display_url(parsed)!r} uses plain http to a host other than this "
            "machine; use https (http is allowed only for 127.0.0.0/8, ::1 and localhost)"
        )
    raise ValueError(f"intake url {_display_url(parsed)!r} must use https")


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _display_url(url: httpx.URL) -> str:
    """The URL without userinfo or query, either of which may carry a credential."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def _checked_uuid(value: str | uuid.UUID) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"connector_uuid {str(value)!r} is not a UUID") from None


def _tls_context(ca_bundle: str | os.PathLike[str] | None) -> ssl.SSLContext:
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load ca_bundle {os.fspath(ca_bundle)}: {exc}") from None


def _is_certificate_failure(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
