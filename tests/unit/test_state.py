"""The checkpoint store: atomic saves, loud corruption, one run per checkpoint."""

from __future__ import annotations

import errno
import functools
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from connector.state import StateError, StateLocked, StateStore, _open_failure
from connector.streams.batch import Batch, StoreWrites

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


def test_an_empty_file_is_refused_and_left_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"")
    with pytest.raises(StateError, match="empty") as info:
        StateStore(path).load()
    assert str(path) in str(info.value)
    assert path.read_bytes() == b""


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


# --- schema 3: entities by type, cursors by stream; a schema-2 file migrated in place ---------

V2_FILE = Path(__file__).parent.parent / "data" / "state_v2.sqlite"


def _v2_copy(tmp_path: Path) -> Path:
    target = tmp_path / "state.db"
    shutil.copyfile(V2_FILE, target)
    return target


def test_a_schema_2_state_file_is_migrated_in_place_keeping_everything(tmp_path: Path) -> None:
    path = _v2_copy(tmp_path)
    before = sqlite3.connect(path)
    users = dict(before.execute("SELECT id, doc FROM users").fetchall())
    cursors = dict(before.execute("SELECT name, value FROM cursors").fetchall())
    unknown = before.execute("SELECT count(*) FROM users WHERE mfa_known = 0").fetchone()[0]
    checkpoints = dict(before.execute("SELECT stream, data FROM checkpoints").fetchall())
    before.close()

    store = StateStore(path)
    assert store.schema_version() == 3
    assert store.user_docs(users) == {uid: orjson.loads(zlib.decompress(doc))
                                      for uid, doc in users.items()}
    assert store.present_ids() == set(users)
    assert store.cursors("users") == cursors and store.cursors("devices") == {}
    assert store.counts() == {"users": len(users), "deleted": 0, "mfa_unknown": unknown}
    assert store.members_of(["nothing"]) == {} and store.admins()
    for stream, data in checkpoints.items():
        assert store.load(stream) == orjson.loads(data)
    store.close()
    tables = {r[0] for r in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "users" not in tables and {"entities", "user_mfa", "cursors"} <= tables


def test_a_failed_migration_leaves_the_schema_2_file_as_it_was(tmp_path: Path) -> None:
    path = _v2_copy(tmp_path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE entities (unexpected TEXT)")  # the migration's first insert fails
    db.commit()
    db.close()
    with pytest.raises(StateError):
        StateStore(path).load("users")
    after = sqlite3.connect(path)
    assert after.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    assert after.execute("SELECT count(*) FROM users").fetchone()[0] == 30


def test_each_stream_keeps_its_own_cursors_and_reset_forgets_only_its_own(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.commit(Batch([], {"v": 1}, stream="users", writes=StoreWrites(cursors={"last_full": "a"})))
    store.commit(Batch([], {"v": 2}, stream="devices",
                       writes=StoreWrites(cursors={"last_full": "b"})))
    assert store.cursors("users") == {"last_full": "a"}
    assert store.cursors("devices") == {"last_full": "b"}
    store.reset("devices")
    assert store.cursors("devices") == {} and store.load("devices") is None
    assert store.cursors("users") == {"last_full": "a"} and store.load("users") == {"v": 1}


def test_entities_of_any_type_are_stored_with_their_fingerprint(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.db")
    store.commit(Batch([], {}, stream="devices", writes=StoreWrites(entities={"device": {
        "d1": {"fp": "x1", "device": {"id": "d1"}},
        "d2": {"fp": "x2", "deleted": {"at": "t"}},
    }})))
    assert store.docs("device", ["d1", "d3"]) == {"d1": {"fp": "x1", "device": {"id": "d1"}}}
    assert store.ids("device") == {"d1"} and store.fingerprints("device") == {"d1": "x1"}
    assert store.ids("user") == set()
    store.commit(Batch([], {}, stream="devices", writes=StoreWrites(entities={"device": {
        "d1": None}})))
    assert store.docs("device", ["d1"]) == {}


def test_a_state_file_of_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore(path).load("users")
    StateStore(path).save({"v": 1})
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer version"):
        StateStore(path).load("users")


# --- faults of issue 18 -------------------------------------------------------------------------

class FullDiskOnCheckpoints(sqlite3.Connection):
    """A connection whose disk fills up when checkpoints are written (as SQLite reports it)."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if "INTO checkpoints" in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_a_json_state_whose_conversion_fails_is_still_there_for_the_next_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    checkpoint = {"version": 1, "watermark": "2026-01-01T00:00:00Z"}
    path.write_bytes(orjson.dumps({"streams": {"users": checkpoint, "sign_ins": {"n": 5}}}))
    with monkeypatch.context() as patched:
        patched.setattr(sqlite3, "connect",
                        functools.partial(sqlite3.connect, factory=FullDiskOnCheckpoints))
        with pytest.raises(StateError, match="full"):
            StateStore(path).load()

    again = StateStore(path)
    assert again.load("users") == checkpoint
    assert again.load("sign_ins") == {"n": 5}
    assert again.migrated_from == tmp_path / "state.json.json-v1"


def test_a_converted_json_state_is_kept_beside_the_new_database(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    raw = orjson.dumps({"version": 1, "watermark": "2026-01-01T00:00:00Z"})
    path.write_bytes(raw)
    store = StateStore(path)
    assert store.load() == orjson.loads(raw)
    store.close()
    assert (tmp_path / "state.json.json-v1").read_bytes() == raw
    assert path.read_bytes().startswith(b"SQLite format 3\x00")
    assert not list(tmp_path.glob(".*.tmp"))


def test_the_database_and_its_wal_and_shm_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = os.umask(0o022)
    try:
        store = StateStore(path)
        store.save({"n": 1})
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
        store.close()
    assert modes == {"state.db": 0o600, "state.db-wal": 0o600, "state.db-shm": 0o600}


def test_a_world_readable_database_from_an_earlier_version_is_made_private(
        tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.save({"n": 1})
    store.close()
    path.chmod(0o644)
    reopened = StateStore(path)
    assert reopened.load() == {"n": 1}
    reopened.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_same_database_through_a_symlink_meets_the_same_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).save({"n": 1})
    (tmp_path / "alias.db").symlink_to(path)
    holder = StateStore(path)
    holder.acquire()
    try:
        with pytest.raises(StateLocked):
            StateStore(tmp_path / "alias.db").acquire()
    finally:
        holder.release()


def test_the_same_database_through_a_hard_link_meets_the_same_lock(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).save({"n": 1})
    (tmp_path / "other").mkdir()
    os.link(path, tmp_path / "other" / "state.db")
    holder = StateStore(path)
    holder.acquire()
    try:
        with pytest.raises(StateLocked, match="another name"):
            StateStore(tmp_path / "other" / "state.db").acquire()
    finally:
        holder.release()


def test_a_symlinked_state_path_stays_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    link = tmp_path / "state.db"
    link.symlink_to(tmp_path / "real" / "state.db")
    store = StateStore(link)
    with store.lock():
        store.save({"n": 1})
    assert link.is_symlink()
    assert StateStore(tmp_path / "real" / "state.db").load() == {"n": 1}


def test_a_full_disk_while_writing_the_lock_file_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int, data: bytes, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", no_space)
    store = StateStore(tmp_path / "state.db")
    with pytest.raises(StateError, match="disk is full") as info:
        store.acquire()
    assert str(tmp_path / "state.db.lock") in str(info.value)
    assert not store.locked


def test_a_read_only_database_is_reported_as_read_only_not_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).save({"n": 1})
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as refused:
        readonly.execute("INSERT INTO meta VALUES ('x', 'y')")
    readonly.close()
    message = _open_failure(path, refused.value)
    assert "read-only" in message and "corrupt" not in message and str(path) in message


def test_a_read_only_database_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    StateStore(path).save({"n": 1})
    path.chmod(0o400)
    if os.access(path, os.W_OK):
        pytest.skip("this user writes read-only files (root)")
    with pytest.raises(StateError, match="read-only"):
        StateStore(path).save({"n": 2})


def test_corruption_in_pages_a_run_does_not_read_is_found_at_start_naming_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = StateStore(path)
    store.save({"n": 1})
    batch = Batch([], {"n": 2}, writes=StoreWrites(
        users={f"u{i}": {"user": {"id": f"u{i}", "displayName": "x" * 300}, "fp": str(i)}
               for i in range(200)}))
    store.commit(batch)
    store.close()
    with sqlite3.connect(path) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.close()
    with path.open("r+b") as handle:  # the last page: users' rows, not the checkpoints
        handle.seek((pages - 1) * page_size)
        handle.write(bytes(random.Random(7).randrange(256) for _ in range(page_size)))

    with pytest.raises(StateError, match="damaged") as info:
        StateStore(path).load()
    assert str(path) in str(info.value)
