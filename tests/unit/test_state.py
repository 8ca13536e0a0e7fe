"""The checkpoint store: atomic saves, loud corruption, one run per checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.state import StateError, StateLocked, StateStore

SAVE_FOREVER = """
import sys
from connector.state import StateStore
store = StateStore(sys.argv[1])
n = 0
while True:
    store.save({"n": n, "payload": "x" * (n * 37 % 20000), "ids": list(range(n % 400))})
    if n == 0:
        print("ready", flush=True)
    n += 1
"""

HOLD_LOCK = """
import sys, time
from connector.state import StateStore
StateStore(sys.argv[1]).acquire()
print("locked", flush=True)
time.sleep(120)
"""

TRY_LOCK = """
import sys
from connector.state import StateLocked, StateStore
try:
    StateStore(sys.argv[1]).acquire()
except StateLocked as exc:
    print(exc)
    sys.exit(3)
print("acquired")
"""


def _spawn(script: str, state: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_line(proc: subprocess.Popen[str], expected: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != expected:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"child said {line!r} instead of {expected!r}; stderr: {err}")


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding the lock on tmp_path/state.json."""
    proc = _spawn(HOLD_LOCK, tmp_path / "state.json")
    try:
        _wait_for_line(proc, "locked")
        yield proc
    finally:
        if proc.poll() is None:
            _kill(proc)


def test_saved_checkpoint_loads_back_equal(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    checkpoint = {
        "version": 1,
        "tenant_id": "contoso.example",
        "watermark": "2026-11-20T10:00:00Z",
        "recent_ids": ["a", "b"],
        "in_progress": None,
    }
    store.save(checkpoint)
    assert store.load() == checkpoint


def test_missing_file_loads_as_none(tmp_path: Path) -> None:
    assert StateStore(tmp_path / "absent.json").load() is None


def test_second_save_replaces_the_first(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.save({"n": 1})
    store.save({"n": 2})
    assert store.load() == {"n": 2}


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.save({"n": 1})
    store.save({"n": 2})
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_an_empty_file_is_a_fresh_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"")
    assert StateStore(path).load() is None


@pytest.mark.parametrize(
    "content",
    [b'{"version": 1, "watermark": "2026-', b"\x00\x00\x00", b'["not", "an", "object"]',
     b"SQLite format 3\x00" + b"\x07" * 200],
    ids=["truncated", "binary", "array", "torn-database"],
)
def test_corrupt_file_raises_state_error_naming_the_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(StateError, match="corrupt") as info:
        StateStore(path).load()
    assert str(path) in str(info.value)


def test_unserialisable_state_raises_and_keeps_previous_file(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.save({"n": 1})
    with pytest.raises(StateError, match="cannot serialise"):
        store.save({"n": object()})
    assert store.load() == {"n": 1}


def test_save_into_missing_directory_raises_state_error(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "state.json"
    with pytest.raises(StateError, match=str(path)):
        StateStore(path).save({"n": 1})


def test_writer_killed_mid_save_always_leaves_a_whole_saved_value(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rng = random.Random(5003)
    for _ in range(12):
        writer = _spawn(SAVE_FOREVER, path)
        _wait_for_line(writer, "ready")
        time.sleep(rng.uniform(0, 0.05))  # a random number of saves before the kill lands
        _kill(writer)
        state = StateStore(path).load()
        assert state is not None
        n = state["n"]
        assert state == {"n": n, "payload": "x" * (n * 37 % 20000), "ids": list(range(n % 400))}


def test_second_process_is_refused_while_the_lock_is_held(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with StateStore(path).lock():
        contender = subprocess.run(
            [sys.executable, "-c", TRY_LOCK, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert contender.returncode == 3, contender.stderr
    assert f"another run is using {path} (pid {os.getpid()})" in contender.stdout


def test_lock_held_by_another_process_raises_state_locked_naming_its_pid(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(
        StateLocked, match=rf"another run is using .*state\.json \(pid {holder.pid}\)"
    ):
        StateStore(tmp_path / "state.json").acquire()


def test_lock_is_freed_when_its_holder_is_killed(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    _kill(holder)
    store = StateStore(tmp_path / "state.json")
    store.acquire()
    assert store.locked
    store.release()


def test_second_store_in_the_same_process_is_refused(tmp_path: Path) -> None:
    first = StateStore(tmp_path / "state.json")
    first.acquire()
    try:
        with pytest.raises(StateLocked):
            StateStore(tmp_path / "state.json").acquire()
    finally:
        first.release()


def test_released_lock_can_be_taken_again(tmp_path: Path) -> None:
    with StateStore(tmp_path / "state.json").lock():
        pass
    with StateStore(tmp_path / "state.json").lock() as again:
        assert again.locked


def test_acquire_twice_on_one_store_is_harmless(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.acquire()
    store.acquire()
    assert store.locked
    store.release()
    assert not store.locked
