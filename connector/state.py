"""Checkpoint store: the one place the connector remembers what it has delivered.

Each stream keeps its own checkpoint under its name in one file (`{"streams": {"users": ...}}`),
so streams run together or on their own schedules without overwriting each other. A file written
before streams existed (a bare users checkpoint) reads as the users stream's checkpoint.

A checkpoint that is lost or torn makes the next run either re-deliver everything or skip users,
so every write is atomic (temp file + fsync + rename + directory fsync) and a file that does not
parse is an error for a human to look at, never a reason to start over silently. Two runs sharing
one checkpoint would interleave commits, so a run holds an exclusive ``flock`` on ``<state>.lock``;
the kernel drops it when the holder dies, however it dies.
"""

from __future__ import annotations

import fcntl
import glob
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from connector.streams.batch import Batch

__all__ = ["StateError", "StateLocked", "StateStore"]


class StateError(Exception):
    """The checkpoint cannot be read or written; the message names the file."""


class StateLocked(StateError):
    """Another process holds the checkpoint lock."""


class StateStore:
    """Atomic JSON checkpoint file plus the lock that keeps a second run away from it.

    The lock file is never deleted: unlinking a lock file that another process has already opened
    would let two processes each lock a different inode of the same name.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock_fd: int | None = None
        self._cache: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r}, locked={self.locked})"

    @property
    def locked(self) -> bool:
        """Whether this store currently holds the lock."""
        return self._lock_fd is not None

    def _read(self) -> dict[str, Any] | None:
        """The whole file, or None when there is none yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror or exc}") from exc
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StateError(
                f"state file {self.path} is corrupt ({exc}); refusing to start over silently: "
                "inspect it, then fix or remove it to make a full collection"
            ) from None
        if not isinstance(value, dict):
            raise StateError(
                f"state file {self.path} is corrupt (holds a JSON {type(value).__name__}, "
                "expected an object); refusing to start over silently: inspect it, then fix or "
                "remove it to make a full collection"
            )
        return value

    def _streams(self) -> dict[str, Any]:
        if self._cache is None:
            raw = self._read() or {}
            streams = raw.get("streams")
            self._cache = dict(streams) if isinstance(streams, dict) else (
                {"users": raw} if raw else {})
        return self._cache

    def load(self, stream: str = "users") -> dict[str, Any] | None:
        """The checkpoint last committed for `stream`, or None when there is none yet."""
        self._cache = None
        value = self._streams().get(stream)
        return dict(value) if isinstance(value, dict) else None

    def commit(self, batch: Batch) -> None:
        """Commit a delivered batch's checkpoint (call only after its events were delivered)."""
        self.save(batch.checkpoint, batch.stream)

    def save(self, checkpoint: Mapping[str, Any], stream: str = "users") -> None:
        """Replace `stream`'s checkpoint so that a crash at any instant leaves the old or the new
        file whole; the other streams' checkpoints are kept as they are."""
        streams = dict(self._streams())
        streams[stream] = checkpoint
        self._write({"streams": streams})
        self._cache = streams

    def _write(self, state: Mapping[str, Any]) -> None:
        try:
            data = orjson.dumps(
                state,
                option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE,
            )
        except orjson.JSONEncodeError as exc:
            raise StateError(f"cannot serialise state for {self.path}: {exc}") from None
        directory = self.path.parent
        try:
            fd, tmp_name = tempfile.mkstemp(
                dir=directory, prefix=f".{self.path.name}.", suffix=".tmp"
            )
        except OSError as exc:
            raise StateError(f"cannot write state file {self.path}: {exc.strerror or exc}") from exc
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self.path)
            _fsync_directory(directory)
        except BaseException as exc:
            _remove_quietly(tmp_name)
            if isinstance(exc, OSError):
                raise StateError(
                    f"cannot write state file {self.path}: {exc.strerror or exc}"
                ) from exc
            raise

    def acquire(self) -> None:
        """Take the exclusive lock (idempotent); it lasts until ``release()`` or process exit."""
        if self._lock_fd is not None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(
                f"cannot open lock file {self.lock_path}: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateLocked(
                f"another run is using {self.path} (pid {holder}); wait for it to finish or stop "
                f"it. The lock ({self.lock_path}) is released automatically when that process exits"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.lock_path}: {exc.strerror or exc}") from exc
        # The pid is only a hint for the refusal message; the flock is what guards.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        """Temp files of a writer killed mid-save; safe to remove only while holding the lock."""
        for stale in self.path.parent.glob(f".{glob.escape(self.path.name)}.*.tmp"):
            _remove_quietly(str(stale))

    def release(self) -> None:
        """Drop the lock if held (the lock file stays, see the class docstring)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def lock(self) -> Iterator[StateStore]:
        """Hold the lock for the ``with`` block."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_quietly(name: str) -> None:
    with suppress(OSError):
        os.unlink(name)
