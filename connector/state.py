"""State store: the one place the connector remembers what it has delivered.

An SQLite database (Python's `sqlite3`) at the `--state` path holds, per stream, the checkpoint
of the last delivered batch (`checkpoints`) and the change sources' cursors (`cursors`: delta
links, "read up to" times of cadences, keyed by stream and name), and the state that grows with
the tenant: one document per delivered entity (`entities`, keyed by entity type and id: a
user's last delivered Graph record and facts, see `connector.streams.facts`, a device's, ...;
JSON, zlib-compressed: a tenant's records repeat their keys; with its `fingerprint` and
`deleted` flag as columns), and the indexes derived from user documents (`members`: group ->
users, `groups`: names, `admins`: users holding a directory role, `user_mfa`: whose MFA is
unknown or oldest). `commit(batch)` writes a batch's checkpoint and
its `writes` in ONE transaction, after the caller delivered its events: a crash at any instant
leaves the state of the last committed batch, whole. This is the shape of Elastic's Entra ID
entity-analytics provider (users, groups, relationships and delta links in an embedded store),
with the checkpoint inside the same transaction.

A schema-2 database (a `users` table, cursors without a stream) is migrated in place, in one
transaction, on first use: its users become entities of type "user", its cursors the users
stream's. A state file written by earlier versions (JSON: `{"streams": {...}}`, or a bare users
checkpoint) is converted on first use: its checkpoints are carried into the database and the
JSON is kept beside it as `<state>.json-v1`. A file that is neither is an error for a human to
look at, never a reason to start over silently. Two runs sharing one state would interleave
commits, so a run holds an exclusive ``flock`` on ``<state>.lock``; the kernel drops it when the
holder dies, however it dies.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from connector.streams.batch import Batch, StoreWrites

__all__ = ["StateError", "StateLocked", "StateStore"]

SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA_VERSION = 3
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (stream TEXT PRIMARY KEY, data BLOB NOT NULL)",
    """CREATE TABLE IF NOT EXISTS cursors (
        stream TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (stream, name)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS entities (
        type TEXT NOT NULL, id TEXT NOT NULL, doc BLOB NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0, fingerprint TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (type, id))""",
    """CREATE TABLE IF NOT EXISTS user_mfa (
        id TEXT PRIMARY KEY, deleted INTEGER NOT NULL, known INTEGER NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS user_mfa_order ON user_mfa (deleted, known, at)",
    """CREATE TABLE IF NOT EXISTS members (
        group_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS members_user ON members (user_id)",
    "CREATE TABLE IF NOT EXISTS admins (user_id TEXT PRIMARY KEY, roles TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS groups (id TEXT PRIMARY KEY, name TEXT)",
)
# Schema 2 -> 3: users become entities of type "user" (their MFA columns the user_mfa index),
# cursors gain their stream (all were the users stream's).
_MIGRATE_2 = (
    *_SCHEMA,
    "INSERT INTO entities (type, id, doc, deleted, fingerprint) "
    "SELECT 'user', id, doc, deleted, '' FROM users",
    "INSERT INTO user_mfa (id, deleted, known, at) SELECT id, deleted, mfa_known, mfa_at FROM users",
    "DROP TABLE users",
    "ALTER TABLE cursors RENAME TO cursors_v2",
    _SCHEMA[2],
    "INSERT INTO cursors (stream, name, value) SELECT 'users', name, value FROM cursors_v2",
    "DROP TABLE cursors_v2",
)
USER: Final = "user"
_CHUNK = 500  # ids per `IN (...)` query, under SQLite's variable limit


class StateError(Exception):
    """The state cannot be read or written; the message names the file."""


class StateLocked(StateError):
    """Another process holds the state lock."""


class StateStore:
    """Checkpoints and remembered facts in one SQLite file, plus the lock that keeps a second
    run away from it.

    The lock file is never deleted: unlinking a lock file that another process has already opened
    would let two processes each lock a different inode of the same name.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.migrated_from: Path | None = None
        self._lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r}, locked={self.locked})"

    @property
    def locked(self) -> bool:
        """Whether this store currently holds the lock."""
        return self._lock_fd is not None

    # --- the database ---------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        legacy = self._legacy_json()
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _prepare(db, self.path)
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"state file {self.path} is corrupt or not a state database ({exc}); refusing to "
                "start over silently: inspect it, then fix or remove it to make a full collection"
            ) from None
        self._db = db
        if legacy is not None:
            self._import_legacy(legacy)
        return db

    def _legacy_json(self) -> dict[str, Any] | None:
        """The checkpoints of a JSON state file from an earlier version, moved aside."""
        try:
            with self.path.open("rb") as handle:
                head = handle.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc.strerror or exc}") from exc
        if head == SQLITE_MAGIC or not head:
            if not head:
                self.path.unlink(missing_ok=True)
            return None
        raw = self.path.read_bytes()
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
        streams = value.get("streams")
        checkpoints = dict(streams) if isinstance(streams, dict) else {"users": value}
        backup = self.path.with_name(self.path.name + ".json-v1")
        os.replace(self.path, backup)
        _fsync_directory(self.path.parent)
        self.migrated_from = backup
        return checkpoints

    def _import_legacy(self, checkpoints: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            for stream, checkpoint in checkpoints.items():
                if isinstance(checkpoint, dict):
                    db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)",
                               (stream, orjson.dumps(checkpoint)))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException as exc:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot write state file {self.path}: {exc}") from exc
            raise

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    # --- checkpoints ------------------------------------------------------------------------

    def load(self, stream: str = "users") -> dict[str, Any] | None:
        """The checkpoint last committed for `stream`, or None when there is none yet."""
        if self._db is None and not self.path.exists():
            return None
        row = self._conn().execute(
            "SELECT data FROM checkpoints WHERE stream = ?", (stream,)).fetchone()
        if row is None:
            return None
        value = orjson.loads(row[0])
        return value if isinstance(value, dict) else None

    def commit(self, batch: Batch) -> None:
        """Commit a delivered batch's checkpoint and writes (call only after its events were
        delivered), in one transaction."""
        with self._transaction() as db:
            _put_checkpoint(db, batch.checkpoint, batch.stream)
            if batch.writes:
                _apply(db, batch.writes, batch.stream)

    def save(self, checkpoint: Mapping[str, Any], stream: str = "users") -> None:
        """Replace `stream`'s checkpoint atomically; other streams' checkpoints are kept."""
        with self._transaction() as db:
            _put_checkpoint(db, checkpoint, stream)

    def reset(self, stream: str = "users") -> None:
        """Forget `stream`'s checkpoint and its change sources' cursors, so its next run starts
        over (for a tracked stream: a full collection which restarts tracking). Other streams
        keep theirs. The remembered entities stay: the full collection still reports those it
        no longer finds as deleted."""
        with self._transaction() as db:
            db.execute("DELETE FROM checkpoints WHERE stream = ?", (stream,))
            db.execute("DELETE FROM cursors WHERE stream = ?", (stream,))

    # --- remembered facts -------------------------------------------------------------------

    def cursors(self, stream: str = "users") -> dict[str, str]:
        """Every change-source cursor and cadence time of `stream` (name -> value)."""
        if self._db is None and not self.path.exists():
            return {}
        return dict(self._conn().execute(
            "SELECT name, value FROM cursors WHERE stream = ?", (stream,)).fetchall())

    def docs(self, kind: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of the `kind` entities `ids` that exist."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, dict[str, Any]] = {}
        if not wanted or (self._db is None and not self.path.exists()):
            return out
        db = self._conn()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for eid, doc in db.execute(
                    f"SELECT id, doc FROM entities WHERE type = ? AND id IN ({marks})",
                    (kind, *chunk)):
                out[eid] = orjson.loads(zlib.decompress(doc))
        return out

    def user_docs(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of the users `ids` that exist (see `connector.streams.facts`)."""
        return self.docs(USER, ids)

    def ids(self, kind: str) -> set[str]:
        """Ids of every stored `kind` entity not marked deleted."""
        if self._db is None and not self.path.exists():
            return set()
        return {r[0] for r in self._conn().execute(
            "SELECT id FROM entities WHERE type = ? AND deleted = 0", (kind,))}

    def fingerprints(self, kind: str) -> dict[str, str]:
        """id -> fingerprint of every stored `kind` entity not marked deleted (a short string
        each: what a full diff of a source without delta compares against)."""
        if self._db is None and not self.path.exists():
            return {}
        return dict(self._conn().execute(
            "SELECT id, fingerprint FROM entities WHERE type = ? AND deleted = 0", (kind,)))

    def members_of(self, group_ids: Iterable[str]) -> dict[str, list[str]]:
        """group id -> the stored users who are direct members of it."""
        wanted = list(dict.fromkeys(group_ids))
        out: dict[str, list[str]] = {}
        db = self._conn()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for gid, uid in db.execute(
                    f"SELECT group_id, user_id FROM members WHERE group_id IN ({marks})", chunk):
                out.setdefault(gid, []).append(uid)
        return out

    def group_names(self, group_ids: Iterable[str]) -> dict[str, str | None]:
        """group id -> the name last delivered in a member's event, for groups known here."""
        wanted = list(dict.fromkeys(group_ids))
        out: dict[str, str | None] = {}
        db = self._conn()
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            out.update(db.execute(f"SELECT id, name FROM groups WHERE id IN ({marks})", chunk))
        return out

    def present_ids(self) -> set[str]:
        """Ids of every stored user not marked deleted."""
        return self.ids(USER)

    def admins(self) -> dict[str, tuple[str, ...]]:
        """user id -> admin roles, for every stored user who holds one (a small table)."""
        return {uid: tuple(orjson.loads(roles))
                for uid, roles in self._conn().execute("SELECT user_id, roles FROM admins")}

    def mfa_candidates(self, limit: int, stale_before: str) -> list[str]:
        """Users whose MFA is unknown, longest-unknown first, then those learned before
        `stale_before` (oldest first): who the per-user fallback should ask next."""
        if limit <= 0:
            return []
        db = self._conn()
        ids = [r[0] for r in db.execute(
            "SELECT id FROM user_mfa WHERE deleted = 0 AND known = 0 ORDER BY at, id "
            "LIMIT ?", (limit,))]
        if len(ids) < limit:
            ids += [r[0] for r in db.execute(
                "SELECT id FROM user_mfa WHERE deleted = 0 AND known = 1 AND at < ? "
                "ORDER BY at, id LIMIT ?", (stale_before, limit - len(ids)))]
        return ids

    def counts(self) -> dict[str, int]:
        """Stored users, deleted ones among them, and present users whose MFA is unknown."""
        if self._db is None and not self.path.exists():
            return {"users": 0, "deleted": 0, "mfa_unknown": 0}
        users, deleted, unknown = self._conn().execute(
            "SELECT count(*), coalesce(sum(deleted), 0), "
            "coalesce(sum(CASE WHEN deleted = 0 AND known = 0 THEN 1 ELSE 0 END), 0) "
            "FROM user_mfa").fetchone()
        return {"users": int(users), "deleted": int(deleted), "mfa_unknown": int(unknown)}

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        return int(row[0])

    # --- the lock ---------------------------------------------------------------------------

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


def _put_checkpoint(db: sqlite3.Connection, checkpoint: Mapping[str, Any], stream: str) -> None:
    try:
        data = orjson.dumps(checkpoint)
    except orjson.JSONEncodeError as exc:
        raise StateError(f"cannot serialise the {stream} checkpoint: {exc}") from None
    db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (stream, data))


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """Create the schema, or migrate a schema-2 database in place (one transaction)."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    version = None
    if "meta" in tables:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        version = int(row[0]) if row is not None and str(row[0]).isdigit() else None
    if version is not None and version > SCHEMA_VERSION:
        raise StateError(f"state file {path} was written by a newer version of the connector "
                         f"(schema {version}; this one knows {SCHEMA_VERSION}): upgrade it")
    if version == SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _MIGRATE_2 if version == 2 else _SCHEMA:
            db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise


def _apply(db: sqlite3.Connection, writes: StoreWrites, stream: str) -> None:
    """A batch's documents and cursors; the user indexes follow each user document."""
    for name, value in writes.cursors.items():
        if value is None:
            db.execute("DELETE FROM cursors WHERE stream = ? AND name = ?", (stream, name))
        else:
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?)", (stream, name, value))
    for kind, docs in writes.entities.items():
        gone = [(kind, eid) for eid, doc in docs.items() if doc is None]
        db.executemany("DELETE FROM entities WHERE type = ? AND id = ?", gone)
        db.executemany("INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?, ?)", [
            (kind, eid, zlib.compress(orjson.dumps(doc), 1), 1 if doc.get("deleted") else 0,
             str(doc.get("fp") or "")) for eid, doc in docs.items() if doc is not None])
    if not writes.users:
        return
    rows = []
    mfa_rows = []
    members: list[tuple[str, str]] = []
    admins: list[tuple[str, str]] = []
    groups: dict[str, str | None] = {}
    for uid, doc in writes.users.items():
        deleted = 1 if doc.get("deleted") else 0
        rows.append((USER, uid, zlib.compress(orjson.dumps(doc), 1), deleted,
                     str(doc.get("fp") or "")))
        mfa_rows.append((uid, deleted, 1 if doc.get("mfa") is not None else 0,
                         str(doc.get("mfa_at") or "")))
        if not deleted:
            for gid, name in doc.get("groups") or ():
                members.append((str(gid), uid))
                groups[str(gid)] = name
            roles = doc.get("roles")
            if roles:
                admins.append((uid, orjson.dumps(list(roles)).decode()))
    ids = [(uid,) for uid in writes.users]
    db.executemany("INSERT OR REPLACE INTO entities VALUES (?, ?, ?, ?, ?)", rows)
    db.executemany("INSERT OR REPLACE INTO user_mfa VALUES (?, ?, ?, ?)", mfa_rows)
    db.executemany("DELETE FROM members WHERE user_id = ?", ids)
    db.executemany("INSERT OR IGNORE INTO members VALUES (?, ?)", members)
    db.executemany("DELETE FROM admins WHERE user_id = ?", ids)
    db.executemany("INSERT OR REPLACE INTO admins VALUES (?, ?)", admins)
    db.executemany("INSERT OR REPLACE INTO groups VALUES (?, ?)", groups.items())


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


