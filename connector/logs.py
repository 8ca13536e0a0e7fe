"""Logging for the command line: readable on a terminal, JSON lines for a log pipeline, and
never a secret.

The connector's own messages never carry secrets; the redaction here is the second line of
defence for what it does not write itself (a library's debug line, an exception's text): every
known secret value and anything shaped like a bearer token or a JWT is replaced before a record
reaches any output.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal, TextIO

import orjson

from connector.progress import is_terminal

LogFormat = Literal["text", "json"]

REDACTED: Final = "[redacted]"
# Bearer tokens and JWTs (three base64url parts, the first one a JSON header: "eyJ").
_TOKEN_SHAPES: Final = re.compile(
    r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}|eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
)
# Libraries whose per-request lines repeat what the connector reports once, in its own words.
NOISY_LOGGERS: Final = ("httpx", "httpcore", "azure", "msal", "hpack", "kiota_http",
                        "kiota_authentication_azure", "urllib3")
_MIN_SECRET_LENGTH: Final = 4  # shorter values would blank out ordinary words


class Redactor(logging.Filter):
    """Replaces known secret values and token-shaped strings in every record it sees."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, *secrets: str | None) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(lambda m: (m.group(1) or "") + REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class JsonLines(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, exception, and the
    run summary on the record that carries one (`extra={"summary": {...}}`)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        summary = getattr(record, "summary", None)
        if isinstance(summary, dict):
            entry["summary"] = summary
        if record.exc_text:
            entry["exception"] = record.exc_text
        return orjson.dumps(entry).decode()


class Text(logging.Formatter):
    """`HH:MM:SS WARNING message` on a terminal; a full UTC timestamp and the logger in files."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if self.terminal:
            line = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} " \
                   f"{record.levelname:<7} {message}"
        else:
            line = f"{_utc(record.created)} {record.levelname} {record.name}: {message}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + \
        f".{int(created % 1 * 1000):03d}Z"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that lets a progress line get out of the way before a record is written.

    `before_write` (set by the progress display) clears the line it keeps redrawing.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.before_write: Callable[[], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.before_write is not None:
            self.before_write()
        super().emit(record)


REDACTOR: Final = Redactor()


def setup_logging(*, level: int, log_format: LogFormat = "text", stream: TextIO | None = None,
                  debug: bool = False) -> StderrHandler:
    """Route every logger to one stderr handler, redacted; returns the handler."""
    stream = stream or sys.stderr
    handler = StderrHandler(stream)
    handler.addFilter(REDACTOR)
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(Text(terminal=is_terminal(stream)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.ERROR)
    return handler


def stderr_handler() -> StderrHandler | None:
    """The handler `setup_logging` installed on the root logger, while it is still there."""
    return next((h for h in logging.getLogger().handlers if isinstance(h, StderrHandler)), None)


def json_logs() -> bool:
    """Whether stderr is JSON lines (`--log-format json`)."""
    handler = stderr_handler()
    return handler is not None and isinstance(handler.formatter, JsonLines)


def redact_secrets(secrets: Iterable[str | None]) -> None:
    """Secret values (from the settings) to blank out of every log line from now on."""
    REDACTOR.add(*secrets)
