"""State store: the one place the connector remembers what it has delivered.

An SQLite database (Python's `sqlite3`) at the `--state` path holds, per stream, the checkpoint
of the last delivered batch (`checkpoints`) and the change sources' cursors (`cursors`: delta
links, "read up to" times of cadences, keyed by stream and name), and the state that grows with
the tenant: one document per delivered entity (`entities`, keyed by entity type and id: a
user's last delivered Graph record and facts, see `connector.streams.facts`, a device's, ...;
JSON, zlib-compressed: a tenant's records repeat their keys; with its fingerprint and `deleted`
flag as columns), the indexes derived from user documents (`members`: group -> users, `groups`:
names, `admins`: users holding a directory role, `user_mfa`: whose MFA is unknown or oldest),
and the user ids an unfinished full collection has listed so far (`listed`, for its deletion
sweep). `commit(batch)` writes a batch's checkpoint and
its `writes` in ONE transaction, after the caller delivered its events: a crash at any instant
leaves the state of the last committed batch, whole. This is the shape of Elastic's Entra ID
entity-analytics provider (users, groups, relationships and delta links in an embedded store),
with the checkpoint inside the same transaction.

A schema-2 database (a `users` table, cursors without a stream) is migrated in place, in one
transaction, on first use: its users become entities of type "user", its cursors the users
stream's; a database of a newer schema is refused. A new database is built in a temporary file
beside the state path and renamed into place once committed, so a file at the path is always a whole database: an empty (0-byte) or otherwise
unreadable file is never ours, and is refused. A state file written by earlier versions (JSON:
`{"streams": {...}}`, or a bare users checkpoint) is converted the same way: the database is
built and committed in a temporary file, the JSON copied to `<state>.json-v1`, and only then is
the database renamed over the JSON, so a failure at any point (a full disk) leaves the JSON in
place for the next run. A file that is neither is an error for a human to look at, never a reason
to start over silently. On opening, SQLite's `quick_check` verifies the whole file (cheaply: no
index cross-checks), so corruption in pages a run would not touch is reported, not carried on.

The file holds personal data (every delivered user's profile, groups, roles, MFA, risk), so it
and its `-wal`/`-shm` companions are private to the owner (0600; SQLite gives the companions the
database's mode). Two runs sharing one state would interleave commits, so a run holds an
exclusive ``flock`` on ``<state>.lock`` beside the *real* path (symlinks resolved) and on the
database file itself (its inode), so a symlink or a hard link to the same database meets the
same lock; the kernel drops both when the holder dies, however it dies.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import stat
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from connector.streams.batch import Batch, StoreWrites

__all__ = ["StateError", "StateLocked", "StateStore"]

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
SCHEMA_VERSION = 3
_TABLES = (
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
    "CREATE TABLE IF NOT EXISTS listed (id TEXT PRIMARY KEY) WITHOUT ROWID",
)
_SCHEMA = ";\n".join(_TABLES) + ";"
# Schema 2 -> 3: users become entities of type "user" (their MFA columns the user_mfa index),
# cursors gain their stream (all were the users stream's).
_MIGRATE_2 = (
    *_TABLES,
    "INSERT INTO entities (type, id, doc, deleted, fingerprint) "
    "SELECT 'user', id, doc, deleted, '' FROM users",
    "INSERT INTO user_mfa (id, deleted, known, at) SELECT id, deleted, mfa_known, mfa_at FROM users",
    "DROP TABLE users",
    "ALTER TABLE cursors RENAME TO cursors_v2",
    _TABLES[2],
    "INSERT INTO cursors (stream, name, value) SELECT 'users', name, value FROM cursors_v2",
    "DROP TABLE cursors_v2",
    "UPDATE meta SET value = '3' WHERE key = 'schema'",
)
USER: Final = "user"
PRIVATE = 0o600
_COMPANIONS = ("-wal", "-shm", "-journal")
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
        # Every file operation goes to the real file: a symlinked state path must neither be
        # replaced by a file of its own nor get a lock of its own.
        self.real_path = Path(os.path.realpath(self.path))
        self.lock_path = self.real_path.with_name(self.real_path.name + ".lock")
        self.migrated_from: Path | None = None
        self._lock_fd: int | None = None
        self._db_lock_fd: int | None = None
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"StateStore({str(self.path)!r}, locked={self.locked})"

    @property
    def locked(self) -> bool:
        """Whether this store currently holds the lock."""
        return self._lock_fd is not None

    # --- the database ---------------------------------------------------------------------

    def _exists(self) -> bool:
        return self._db is not None or self.real_path.exists()

    def _conn(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        legacy = self._existing()
        if legacy is not None:
            self._create(legacy)
        self._db = self._open()
        return self._db

    def _existing(self) -> _Legacy | None:
        """What is at the path: nothing or a JSON state (both to be converted into a new
        database) or a database (None); anything else is refused."""
        try:
            with self.real_path.open("rb") as handle:
                head = handle.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return _Legacy(None, b"")
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {_reason(exc)}") from exc
        if head == SQLITE_MAGIC:
            return None
        if not head:
            raise StateError(
                f"state file {self.path} is empty (0 bytes): this connector never leaves an "
                "empty state file, so something else truncated it; refusing to start over "
                "silently: restore it from a backup, or remove it to make a full collection")
        raw = self.real_path.read_bytes()
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
        return _Legacy(checkpoints, raw)

    def _create(self, legacy: _Legacy) -> None:
        """A new database (holding a converted JSON state's checkpoints), built and committed in
        a private temporary file, then renamed into place; a JSON state is linked to
        `<state>.json-v1` first, so a failure anywhere leaves the JSON at the path."""
        path = self.real_path
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise StateError(f"cannot create state file {self.path}: {_reason(exc)}") from exc
        os.close(fd)
        temp = Path(name)
        try:
            db = sqlite3.connect(temp, isolation_level=None)
            try:
                db.execute("PRAGMA synchronous=FULL")
                db.executescript(_SCHEMA)
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                for stream, checkpoint in (legacy.checkpoints or {}).items():
                    if isinstance(checkpoint, dict):
                        db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)",
                                   (stream, orjson.dumps(checkpoint)))
                db.execute("COMMIT")
            finally:
                db.close()
            _fsync_file(temp)
            backup = None
            if legacy.checkpoints is not None:
                backup = path.with_name(path.name + ".json-v1")
                _keep_beside(path, backup, legacy.raw)
            os.replace(temp, path)
            _fsync_directory(path.parent)
        except (OSError, sqlite3.Error) as exc:
            with suppress(OSError):
                temp.unlink()
            what = "convert" if legacy.checkpoints is not None else "create"
            raise StateError(f"cannot {what} state file {self.path}: {_reason(exc)}"
                             + ("; the JSON state is unchanged" if what == "convert" else "")
                             ) from exc
        self.migrated_from = backup
        if self._lock_fd is not None:
            self._lock_database()

    def _open(self) -> sqlite3.Connection:
        try:
            _make_private(self.real_path)
            db = sqlite3.connect(self.real_path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open state file {self.path}: {_reason(exc)}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            try:
                problems = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)")]
            except sqlite3.DatabaseError as exc:
                if not _is_corrupt(exc):
                    raise
                problems = [str(exc)]
            if problems != ["ok"]:
                db.close()
                raise StateError(
                    f"state file {self.path} is damaged (SQLite quick_check: "
                    f"{'; '.join(problems)}); refusing to carry on with it: restore it from a "
                    "backup, or remove it (and its -wal file) to make a full collection")
            _migrate(db, self.path)
            db.executescript(_SCHEMA)  # tables added since the file was made
        except sqlite3.DatabaseError as exc:
            db.close()
            raise StateError(_open_failure(self.path, exc)) from None
        return db

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
                raise StateError(f"cannot write state file {self.path}: {_reason(exc)}; "
                                 "nothing of this batch was committed") from exc
            raise

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()

    # --- checkpoints ------------------------------------------------------------------------

    def load(self, stream: str = "users") -> dict[str, Any] | None:
        """The checkpoint last committed for `stream`, or None when there is none yet."""
        if not self._exists():
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
        if not self._exists():
            return {}
        return dict(self._conn().execute(
            "SELECT name, value FROM cursors WHERE stream = ?", (stream,)).fetchall())

    def docs(self, kind: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored documents of the `kind` entities `ids` that exist."""
        wanted = list(dict.fromkeys(ids))
        out: dict[str, dict[str, Any]] = {}
        if not wanted or not self._exists():
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
        if not self._exists():
            return set()
        return {r[0] for r in self._conn().execute(
            "SELECT id FROM entities WHERE type = ? AND deleted = 0", (kind,))}

    def fingerprints(self, kind: str) -> dict[str, str]:
        """id -> fingerprint of every stored `kind` entity not marked deleted (a short string
        each: what a full diff of a source without delta compares against)."""
        if not self._exists():
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

    def listed_ids(self) -> set[str]:
        """Ids the current full collection's listing showed in its committed batches."""
        if not self._exists():
            return set()
        return {r[0] for r in self._conn().execute("SELECT id FROM listed")}

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
        if not self._exists():
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
        """Take the exclusive lock (idempotent); it lasts until ``release()`` or process exit.

        Two locks: ``<state>.lock`` beside the real path (it exists before the database does),
        and the database file itself, so another name for the same file (a hard link) is
        refused too."""
        if self._lock_fd is not None:
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, PRIVATE)
        except OSError as exc:
            raise StateError(f"cannot open lock file {self.lock_path}: {_reason(exc)}") from exc
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
            raise StateError(f"cannot lock {self.lock_path}: {_reason(exc)}") from exc
        # The pid is only a hint for the refusal message; the flock is what guards.
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot write lock file {self.lock_path}: {_reason(exc)}") from exc
        self._lock_fd = fd
        try:
            self._lock_database()
        except BaseException:
            self.release()
            raise

    def _lock_database(self) -> None:
        """flock the database file (its inode) too, when it exists (a new one is locked as soon
        as it is renamed into place)."""
        old, self._db_lock_fd = self._db_lock_fd, None
        if old is not None:
            os.close(old)
        try:
            fd = os.open(self.real_path, os.O_RDONLY)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot open state file {self.path}: {_reason(exc)}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateLocked(
                f"another run is using the database {self.path} through another name (a hard "
                "link or a copy of the path); wait for it to finish or stop it. The lock is "
                "released automatically when that process exits") from None
        except OSError as exc:
            os.close(fd)
            raise StateError(f"cannot lock {self.path}: {_reason(exc)}") from exc
        self._db_lock_fd = fd

    def release(self) -> None:
        """Drop the lock if held (the lock file stays, see the class docstring). The database
        connection is closed first: closing a descriptor of the database file drops the POSIX
        locks SQLite holds on it in this process."""
        self.close()
        db_fd, self._db_lock_fd = self._db_lock_fd, None
        if db_fd is not None:
            os.close(db_fd)
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


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Migrate a schema-2 database in place, in one transaction; refuse a newer one."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() \
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() else None
    version = int(row[0]) if row is not None and str(row[0]).isdigit() else SCHEMA_VERSION
    if version > SCHEMA_VERSION:
        db.close()
        raise StateError(f"state file {path} was written by a newer version of the connector "
                         f"(schema {version}; this one knows {SCHEMA_VERSION}): upgrade it")
    if version != 2:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement in _MIGRATE_2:
            db.execute(statement)
        db.execute("COMMIT")
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    log.info("migrated state file %s to schema %d (entities by type, cursors by stream)",
             path, SCHEMA_VERSION)


def _apply(db: sqlite3.Connection, writes: StoreWrites, stream: str) -> None:
    """A batch's documents and cursors; the user indexes follow each user document."""
    if writes.clear_listed:
        db.execute("DELETE FROM listed")
    db.executemany("INSERT OR IGNORE INTO listed VALUES (?)", ((i,) for i in writes.listed))
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


@dataclass(frozen=True, slots=True)
class _Legacy:
    """A state path to turn into a new database: nothing yet (`checkpoints` None), or a JSON
    state from an earlier version (its checkpoints, and its bytes for the backup)."""

    checkpoints: dict[str, Any] | None
    raw: bytes


def _reason(exc: BaseException) -> str:
    """An OS or SQLite failure in words an operator acts on (a full disk, a read-only file)."""
    primary = _primary(exc)
    if getattr(exc, "errno", None) == errno.ENOSPC or primary == sqlite3.SQLITE_FULL:
        return "the disk is full (no space left on device): free space, then run again"
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (
            errno.EACCES, errno.EPERM, errno.EROFS) or primary == sqlite3.SQLITE_READONLY:
        return ("it, or its folder, is read-only or not writable by this user "
                f"({_detail(exc)}): the connector must write it and create files beside it")
    return _detail(exc)


def _detail(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)


def _primary(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_corrupt(exc: BaseException) -> bool:
    return _primary(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _open_failure(path: Path, exc: sqlite3.DatabaseError) -> str:
    primary = _primary(exc)
    if _is_corrupt(exc):
        return (f"state file {path} is corrupt or not a state database ({exc}); refusing to "
                "start over silently: inspect it, then fix or remove it to make a full collection")
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
                   sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return f"cannot use state file {path}: {_reason(exc)}"
    return (f"state file {path} cannot be opened as a state database ({exc}); refusing to "
            "start over silently: inspect it, then fix or remove it to make a full collection")


def _make_private(path: Path) -> None:
    """Clear group and other permissions of the database and its companions (files made by
    earlier versions were world-readable under a usual umask)."""
    for name in (path, *(path.with_name(path.name + s) for s in _COMPANIONS)):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            try:
                os.chmod(name, mode & 0o700)
            except PermissionError:  # another owner's file: say so, it is still usable
                log.warning("%s is readable by others (mode %o) and not ours to change: it "
                            "holds personal data, make it private (chmod 600)", name, mode)
                continue
            log.info("made %s private to its owner (it was mode %o)", name, mode)


def _keep_beside(path: Path, backup: Path, raw: bytes) -> None:
    """`backup` becomes another name of the file at `path` (a copy where links are refused)."""
    backup.unlink(missing_ok=True)
    try:
        os.link(path, backup)
    except OSError:
        with os.fdopen(os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE),
                       "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


