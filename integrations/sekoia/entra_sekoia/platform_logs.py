"""The connector's log records, sent to Sekoia.io through the SDK's own log channel, redacted.

The SDK sends what a trigger passes to `Trigger.log` to the platform's logs endpoint (batched,
rate-limited per message); our code logs through `logging`. This handler bridges the two for the
`connector` loggers, and `REDACTOR` (connector/logs.py: known secret values, bearer tokens, JWTs)
filters every record first, both here and on the SDK's stderr handler.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from connector.logs import NOISY_LOGGERS, REDACTOR

if TYPE_CHECKING:
    from sekoia_automation.module import LogLevelStr
    from sekoia_automation.trigger import Trigger

__all__ = ["PlatformLogHandler", "route_logs_to"]

_LEVELS: Final[dict[int, LogLevelStr]] = {
    logging.CRITICAL: "critical",
    logging.ERROR: "error",
    logging.WARNING: "warning",
    logging.INFO: "info",
    logging.DEBUG: "debug",
}


class PlatformLogHandler(logging.Handler):
    """Hands each `connector` record to `trigger.log`, which queues it for the platform."""

    def __init__(self, trigger: Trigger) -> None:
        super().__init__(logging.INFO)
        self.trigger = trigger
        self.addFilter(REDACTOR)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = _LEVELS.get(record.levelno, "info")
            # propagate=False: the record already reaches stderr through the root logger.
            self.trigger.log(REDACTOR.redact(record.getMessage()), level, propagate=False)
        except Exception:  # a log line must never end the collection
            self.handleError(record)


def route_logs_to(trigger: Trigger) -> PlatformLogHandler:
    """Send `connector.*` records to the platform and redact every handler the SDK set up."""
    handler = PlatformLogHandler(trigger)
    ours = logging.getLogger("connector")
    ours.handlers = [h for h in ours.handlers if not isinstance(h, PlatformLogHandler)]
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    for existing in logging.getLogger().handlers:
        if REDACTOR not in existing.filters:
            existing.addFilter(REDACTOR)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    return handler
