"""A one-line progress display for long collections, redrawn in place on a terminal.

A 100k-user tenant takes minutes, much of it waiting on Graph's throttling; a silent terminal
for that long looks like a hang. The line shows what is moving (users listed, events delivered,
Graph requests) and what is waiting (429s and the time spent in retry waits). It is drawn only
on a terminal, by a daemon thread reading plain counters, so the collection never waits for it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, Self, TextIO

from connector.streams import registry

Counters = Mapping[str, float]
_CLEAR: Final = "\r\x1b[K"


def progress_line(counters: Counters, elapsed: float) -> str:
    """`users 12,000 listed | events 11,500 delivered | Graph 230 requests | ...`: one "listed"
    part per stream that reports one (the registry's `listed` counter and label), the
    inventory's when none does."""
    parts = [f"{spec.progress_label} {int(counters[spec.listed]):,} listed"
             for spec in registry.STREAMS if spec.listed in counters]
    if not parts:
        parts = [f"users {int(counters.get('users_listed', 0)):,} listed"]
    parts += [
        f"events {int(counters.get('events_delivered', 0)):,} delivered",
        f"Graph {int(counters.get('requests', 0)):,} requests",
    ]
    throttled = int(counters.get("throttled", 0))
    if throttled:
        parts.append(f"throttled {throttled:,}x, waited {counters.get('retry_wait_seconds', 0):.0f} s")
    minutes, seconds = divmod(int(elapsed), 60)
    parts.append(f"{minutes}:{seconds:02d}")
    return " | ".join(parts)


class ProgressDisplay:
    """Redraws `progress_line(read())` every `interval` seconds on `stream` until closed.

    `clear()` wipes the line (a log record is about to be written); the next tick redraws it.
    On a stream that is not a terminal it does nothing at all.
    """

    def __init__(self, stream: TextIO, read: Callable[[], Counters], *,
                 interval: float = 0.5, enabled: bool | None = None) -> None:
        self.stream = stream
        self.read = read
        self.interval = interval
        self.enabled = is_terminal(stream) if enabled is None else enabled
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.draw()

    def draw(self) -> None:
        if not self.enabled:
            return
        line = progress_line(self.read(), time.monotonic() - self._started)
        # A line that wraps could no longer be erased by returning to its start.
        line = line[: max(10, _columns(self.stream) - 1)]
        with self._lock:
            self._shown = self._write(_CLEAR + line)

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self._write(_CLEAR)
                self._shown = False

    def _write(self, text: str) -> bool:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing, keep collecting
            self.enabled = False
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            self.draw()  # the final counts, then out of the way of the summary
        self.clear()


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 100
    except (OSError, ValueError, AttributeError):  # not a real terminal (tests, closed)
        return 100


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (False for closed or odd streams)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:
        return False
