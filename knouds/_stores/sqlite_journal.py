"""`SQLiteJournal`: a run journal in a SQLite file (one machine, several threads and processes)."""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from .._core.checks import check_seconds
from .._core.journal import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TTL,
    EntryState,
    JournalClaim,
    JournalEntry,
)
from .._public import publish
from .journal import OPERATION_TIMEOUT, Journal

if TYPE_CHECKING:
    import redis

__all__ = ["SQLiteJournal"]

T = TypeVar("T")

JournalSpec: TypeAlias = "Journal | str | os.PathLike[str] | redis.Redis"
"""A `Journal`, a SQLite file path, a ``redis://`` / ``rediss://`` URL, or a redis-py client."""


# -- SQLite ------------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knouds_runs (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at REAL NOT NULL,
    data TEXT NOT NULL
)
"""


class SQLiteJournal(Journal):
    """A run journal in a SQLite file: no server, safe for several threads and processes of one
    machine (WAL mode, each write one short transaction, a busy timeout for lock waits).

    Args:
        path: the database file (created if missing).
        ttl: seconds an entry is kept after its last write.
        stale_after: see `Journal`.
        durable: ``True`` (default) syncs each write to disk, so even a power cut loses no record;
            ``False`` keeps records safe across process crashes only, for fewer disk syncs.
        busy_timeout: seconds to wait for another process's write before failing.
        clock: a function returning epoch seconds (inject a fake one in tests).

    Example:
        >>> journal = knouds.SQLiteJournal("runs.sqlite")  # doctest: +SKIP
        >>> client = knouds.Client(journal=journal)  # doctest: +SKIP
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        ttl: float = DEFAULT_TTL,
        stale_after: float = DEFAULT_STALE_AFTER,
        durable: bool = True,
        busy_timeout: float = 30.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(ttl=ttl, stale_after=stale_after, clock=clock)
        self.path: Path = Path(path)
        self._durable = durable
        self._busy_timeout = check_seconds(busy_timeout, "busy_timeout", allow_zero=True)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._guard(self._connection)

    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork (Celery's prefork pool, multiprocessing).
        if self._conn is None or self._pid != os.getpid():
            self._conn, self._pid = self._open(), os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        """Connect and prepare the file, waiting up to the busy timeout for other processes.

        Switching a file to WAL needs it to itself, and SQLite reports a concurrent opener as
        busy at once instead of waiting (its busy handler is not called there), so the whole
        preparation is retried until the busy timeout.
        """
        deadline = time.monotonic() + self._wait()
        pause = 0.002
        while True:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                self._prepare(conn)
            except sqlite3.OperationalError as error:
                conn.close()
                if not _busy(error) or time.monotonic() + pause > deadline:
                    raise
            except BaseException:
                conn.close()
                raise
            else:
                return conn
            time.sleep(pause * (0.5 + random.random()))  # jitter: openers do not retry in step
            pause = min(pause * 2, 0.1)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
        conn.execute(_SCHEMA)
        # Purge what expired, judged by this process's clock AND by the newest write in the
        # file: a clock running ahead (days) must not purge the live records of the others.
        try:
            conn.execute(
                "DELETE FROM knouds_runs WHERE expires_at < ? AND expires_at < "
                "(SELECT MAX(json_extract(data, '$.updated_at')) FROM knouds_runs)",
                (self._clock(),),
            )
        except sqlite3.OperationalError as error:
            if _busy(error):
                raise
            # A SQLite built without its JSON functions: keep everything (expired entries
            # are still ignored when read, and replaced when their key runs again).

    def _wait(self) -> float:
        """Seconds to wait on another process's lock: the busy timeout, or less inside
        `Journal.within`."""
        limit = OPERATION_TIMEOUT.get()
        return self._busy_timeout if limit is None else max(min(limit, self._busy_timeout), 0.0)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            wait = self._wait()
            bounded = wait < self._busy_timeout
            if bounded:
                conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                if bounded:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    def _claim(self, entry: JournalEntry, replace_token: str | None, now: float) -> JournalClaim:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT token, state, expires_at, data FROM knouds_runs WHERE key = ?",
                (entry.key,),
            ).fetchone()
            if row is not None:
                token, state, expires_at, data = row
                live = expires_at >= now and state != "rejected"
                if live and (replace_token is None or token != replace_token):
                    return JournalClaim(False, JournalEntry.from_json(data))
            conn.execute(
                "INSERT OR REPLACE INTO knouds_runs VALUES (?, ?, ?, ?, ?)",
                (entry.key, entry.token, entry.state, entry.expires_at, entry.to_json()),
            )
        return JournalClaim(True, entry)

    def _update(self, key: str, token: str, entry: JournalEntry) -> bool:
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE knouds_runs SET token = ?, state = ?, expires_at = ?, data = ? "
                "WHERE key = ? AND token = ?",
                (entry.token, entry.state, entry.expires_at, entry.to_json(), key, token),
            )
            return cursor.rowcount == 1

    def get(self, key: str) -> JournalEntry | None:
        """The entry of ``key``, or ``None`` (also when it expired)."""

        def read() -> JournalEntry | None:
            with self._lock:
                row = (
                    self._connection()
                    .execute(
                        "SELECT data FROM knouds_runs WHERE key = ? AND expires_at >= ?",
                        (key, self._clock()),
                    )
                    .fetchone()
                )
            return None if row is None else JournalEntry.from_json(row[0])

        return self._guard(read)

    def entries(self, state: EntryState | None = None) -> list[JournalEntry]:
        """Every live entry, or those in one state, oldest first."""

        def read() -> list[JournalEntry]:
            query = "SELECT data FROM knouds_runs WHERE expires_at >= ?"
            args: tuple[Any, ...] = (self._clock(),)
            if state is not None:
                query += " AND state = ?"
                args += (state,)
            with self._lock:
                rows = self._connection().execute(query, args).fetchall()
            found = [JournalEntry.from_json(row[0]) for row in rows]
            return sorted(found, key=lambda e: e.started_at)

        return self._guard(read)

    def forget(self, key: str) -> bool:
        """Drop the entry of ``key``: the next run with this key is sent again."""

        def delete() -> bool:
            with self._transaction() as conn:
                return conn.execute("DELETE FROM knouds_runs WHERE key = ?", (key,)).rowcount == 1

        return self._guard(delete)

    def close(self) -> None:
        """Close the database connection (entries stay on disk)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"SQLiteJournal({str(self.path)!r})"


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds the file (busy or locked)."""
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
    text = str(error).lower()
    return "locked" in text or "busy" in text


publish(globals())
