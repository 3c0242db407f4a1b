"""The appliance database connection: SQLite in WAL mode with durable commits.

Settings applied to every connection (they are per connection, except ``journal_mode=WAL``, which
is stored in the file):

- ``journal_mode=WAL``: readers never block the writer and the writer never blocks readers, so
  the teacher's screen can browse results while an attempt is being saved.
- ``synchronous=FULL``: in WAL mode, NORMAL fsyncs the WAL only at checkpoints. A commit made
  under NORMAL survives an application crash (kill -9) but may be rolled back by a power cut or an
  OS crash, because its WAL frames can still sit in the page cache. FULL fsyncs the WAL at every
  commit, so once ``COMMIT`` returns the transaction is on the storage device. The screen says
  "saved" only after that, which is the promise "a result the screen calls saved survives a power
  cut". The cost is one fsync per attempt (milliseconds on eMMC/SD), negligible next to an attempt
  that lasts seconds. (EXTRA differs from FULL only for rollback journals, not for WAL.)
- ``foreign_keys=ON``: SQLite leaves them off by default.
- ``busy_timeout``: a second writer waits this long for the write lock instead of failing at once.
- ``secure_delete=ON``: deleted rows (retention purge of minors' data) are overwritten with zeros.

One writer: a writable connection holds an exclusive ``flock`` on ``<database>.writer-lock`` for
its lifetime, so a second service (or a second writable connection) is refused with one sentence
instead of interleaving writes. The kernel drops the lock when the process dies, even by SIGKILL,
so no stale lock survives a power cut or a crash. Readers (``readonly=True``) take no lock.

Transactions are explicit: the connection runs in autocommit mode and ``write_transaction`` issues
``BEGIN IMMEDIATE`` (take the write lock up front, so a transaction never fails half-way on lock
upgrade), ``COMMIT`` on success and ``ROLLBACK`` on any exception.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import quote
from edge.skeleton.io import fsync_dir

#: Default wait (ms) for the write lock held by another connection.
DEFAULT_BUSY_TIMEOUT_MS = 5000
#: After a checkpoint the WAL file is truncated to at most this many bytes (bounds disk use).
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024
#: ``PRAGMA synchronous`` value of FULL.
SYNCHRONOUS_FULL = 2


#: Oldest SQLite this code is written for (Ubuntu 18.04 / JetPack 4.6); needs the JSON1 functions.
MIN_SQLITE = (3, 22, 0)


class StoreError(RuntimeError):
    """The database cannot be opened or used as asked; the message is one sentence."""


class StoreConnection(sqlite3.Connection):
    """A ``sqlite3.Connection`` that knows its path, whether it may write, and its write lock.

    Use :func:`connect` to make one. ``transaction_lock`` serializes the transactions of threads that
    share this connection.
    """

    path: Path
    readonly: bool

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.transaction_lock = threading.RLock()
        self._writer_lock_file = None
        self.path = Path()
        self.readonly = True

    def close(self) -> None:
        try:
            super().close()
        finally:
            lock_file = self._writer_lock_file
            self._writer_lock_file = None
            if lock_file is not None:
                lock_file.close()  # closing the descriptor releases the flock


def utc_now() -> tuple[str, int]:
    """The current time as stored: (ISO 8601 UTC with microseconds and ``Z``, unix nanoseconds)."""
    ns = time.time_ns()
    return iso_from_ns(ns), ns


def iso_from_ns(ns: int) -> str:
    """Unix nanoseconds as ISO 8601 UTC with microseconds and ``Z`` (fixed width, sorts as text)."""
    sec, rest = divmod(int(ns), 1_000_000_000)
    dt = datetime.fromtimestamp(sec, tz=timezone.utc).replace(microsecond=rest // 1000)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")



def _take_writer_lock(path: Path):
    lock_path = path.with_name(path.name + ".writer-lock")
    f = open(lock_path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise StoreError(
            f"the database {path} is already open for writing by another connection or process."
        ) from None
    return f


def connect(
    path: str | os.PathLike,
    *,
    readonly: bool = False,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    migrate: bool = True,
) -> StoreConnection:
    """Open the database at ``path`` with the settings in the module docstring.

    A writable connection creates the file if needed, takes the single-writer lock and, when
    ``migrate`` is true, brings the schema to the latest version (refusing a database newer than
    this code). A read-only connection requires an existing database at exactly the schema version
    of this code. Raises :class:`StoreError` with one sentence.
    """
    from edge.store.migrations import check_schema, migrate as apply_migrations

    path = Path(path)
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreError(
            f"SQLite {sqlite3.sqlite_version} is too old; FieldCoach needs {'.'.join(map(str, MIN_SQLITE))} or newer."
        )
    if not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
        raise StoreError(f"busy_timeout_ms must be a non-negative integer, got {busy_timeout_ms!r}.")
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a database file.")
    if readonly:
        if not path.exists():
            raise StoreError(f"the database {path} does not exist.")
        target, uri = f"file:{quote(str(path.resolve()))}?mode=ro", True
    else:
        if not path.parent.is_dir():
            raise StoreError(f"the folder {path.parent} for the database does not exist.")
        target, uri = str(path), False
    lock_file = None if readonly else _take_writer_lock(path)
    created = not readonly and not path.exists()
    try:
        conn = sqlite3.connect(
            target,
            uri=uri,
            timeout=busy_timeout_ms / 1000.0,
            isolation_level=None,  # autocommit; transactions are explicit (write_transaction)
            check_same_thread=False,  # threads may share it; transaction_lock serializes transactions
            factory=StoreConnection,
        )
    except sqlite3.Error as e:
        if lock_file is not None:
            lock_file.close()
        raise StoreError(f"cannot open the database {path} ({e}).") from None
    conn._writer_lock_file = lock_file
    conn.path = path
    conn.readonly = readonly
    try:
        _configure(conn, readonly, busy_timeout_ms)
        if created:
            # SQLite syncs the directory when it creates the WAL, not the main file: make the new
            # database file's directory entry durable ourselves.
            fsync_dir(path.parent.resolve())
        if readonly or not migrate:
            check_schema(conn, require_latest=readonly)
        else:
            apply_migrations(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError(f"the database {path} cannot be used ({e}).") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: StoreConnection, readonly: bool, busy_timeout_ms: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    if readonly:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"the database {conn.path} is not in WAL mode (journal_mode={mode}).")
        conn.execute("PRAGMA query_only = ON")
    else:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"the database {conn.path} could not be switched to WAL mode (got {mode}).")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    if conn.execute("PRAGMA foreign_keys").fetchone()[0] != 1:
        raise StoreError("this SQLite build cannot enforce foreign keys.")
    try:
        conn.execute("SELECT json_valid('[]')").fetchone()
    except sqlite3.OperationalError:
        raise StoreError("this SQLite build lacks the JSON functions (JSON1) the schema relies on.") from None


def require_durable(conn: sqlite3.Connection) -> None:
    """Raise unless ``conn`` is a writable WAL connection whose commits are fsynced (synchronous=FULL)."""
    if getattr(conn, "readonly", True):
        raise StoreError("this connection is read-only; open the database with readonly=False to write.")
    if conn.execute("PRAGMA synchronous").fetchone()[0] < SYNCHRONOUS_FULL:
        raise StoreError("the connection's synchronous setting is below FULL, so a commit would not be durable.")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (durable once the block exits), ``ROLLBACK`` on any error.

    Transactions do not nest: opening one while another is open on the same connection (in the
    same thread) raises StoreError. Threads sharing the connection wait for each other.
    """
    if getattr(conn, "readonly", True):
        raise StoreError("this connection is read-only; open the database with readonly=False to write.")
    with conn.transaction_lock:
        if conn.in_transaction:
            raise StoreError("a transaction is already open on this connection; transactions do not nest.")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


@contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query in the block sees the same committed state (WAL snapshot)."""
    with conn.transaction_lock:
        if conn.in_transaction:
            raise StoreError("a transaction is already open on this connection; transactions do not nest.")
        conn.execute("BEGIN DEFERRED")
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")  # nothing was written; this only ends the snapshot


def integrity_check(conn: sqlite3.Connection) -> str:
    """``PRAGMA integrity_check`` joined into one string; ``"ok"`` for a sound database."""
    rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows)
