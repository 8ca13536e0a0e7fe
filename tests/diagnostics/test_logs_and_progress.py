"""Log output (redaction, JSON lines, text) and the progress line, on in-memory streams."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from connector.logs import JsonLines, Redactor, StderrHandler
from connector.progress import ProgressDisplay, progress_line

SECRET = "s3cr3t~VALUE-that-must-not-leak"
JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJyb2xlcyI6WyJVc2VyLlJlYWQuQWxsIl19.c2lnbmF0dXJl"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def logger() -> Iterator[tuple[logging.Logger, io.StringIO, Redactor]]:
    stream = io.StringIO()
    redactor = Redactor()
    handler = StderrHandler(stream)
    handler.addFilter(redactor)
    handler.setFormatter(JsonLines())
    log = logging.getLogger("tests.diagnostics.logs")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    yield log, stream, redactor
    log.handlers.clear()


def records(stream: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_known_secret_is_redacted_from_message_and_arguments(
        logger: tuple[logging.Logger, io.StringIO, Redactor]) -> None:
    log, stream, redactor = logger
    redactor.add(SECRET)
    log.warning("secret in text %s and in %r", SECRET, {"client_secret": SECRET})
    assert SECRET not in stream.getvalue()
    assert records(stream)[0]["message"].count("[redacted]") == 2


def test_bearer_tokens_and_jwts_are_redacted_without_being_registered(
        logger: tuple[logging.Logger, io.StringIO, Redactor]) -> None:
    log, stream, _ = logger
    log.debug("Authorization: Bearer abcdefghijklmnop; token %s", JWT)
    message = records(stream)[0]["message"]
    assert message == "Authorization: Bearer [redacted]; token [redacted]"


def test_exception_text_is_redacted_too(
        logger: tuple[logging.Logger, io.StringIO, Redactor]) -> None:
    log, stream, redactor = logger
    redactor.add(SECRET)
    try:
        raise ValueError(f"bad value {SECRET}")
    except ValueError:
        log.exception("failed")
    record = records(stream)[0]
    assert "ValueError: bad value [redacted]" in record["exception"]
    assert SECRET not in stream.getvalue()


def test_json_lines_carry_time_level_logger_and_message(
        logger: tuple[logging.Logger, io.StringIO, Redactor]) -> None:
    log, stream, _ = logger
    log.info("users listed: %d", 12)
    record = records(stream)[0]
    assert record["level"] == "info"
    assert record["logger"] == "tests.diagnostics.logs"
    assert record["message"] == "users listed: 12"
    assert record["time"].endswith("Z") and "T" in record["time"]


def test_a_log_record_first_clears_the_progress_line(
        logger: tuple[logging.Logger, io.StringIO, Redactor]) -> None:
    log, stream, _ = logger
    handler = log.handlers[0]
    assert isinstance(handler, StderrHandler)
    handler.before_write = lambda: stream.write("<cleared>")
    log.warning("throttled")
    assert stream.getvalue().startswith("<cleared>{")


def test_the_progress_line_counts_users_events_requests_and_throttling() -> None:
    line = progress_line({"users_listed": 12000, "events_delivered": 11500, "requests": 230,
                          "throttled": 3, "retry_wait_seconds": 41.6}, elapsed=125)
    assert line == ("users 12,000 listed | events 11,500 delivered | Graph 230 requests | "
                    "throttled 3x, waited 42 s | 2:05")


def test_the_progress_line_is_drawn_in_place_on_a_terminal() -> None:
    stream = Terminal()
    counters = {"users_listed": 5.0}
    display = ProgressDisplay(stream, lambda: counters, interval=60)
    display.draw()
    counters["users_listed"] = 7.0
    display.draw()
    display.clear()
    assert stream.getvalue().count("\r\x1b[K") == 3
    assert "users 7 listed" in stream.getvalue()


def test_no_progress_line_is_drawn_off_a_terminal() -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, lambda: {"users_listed": 5.0}, interval=0.01) as display:
        display.draw()
    assert stream.getvalue() == ""
