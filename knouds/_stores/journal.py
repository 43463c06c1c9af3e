"""The run journal: a durable record of each run, so that no run is paid for twice.

A journaled run claims its key before the request is sent (state ``started``), records the
execution id right after an async submission (``submitted``), and records how it ended
(``completed`` with the result, ``failed`` with the error, ``rejected`` when the error proves
nothing ran, ``unknown`` when the outcome cannot be known). A later run with the same key reads
that record instead of sending: a completed run returns its stored result, a submitted one waits
on its stored execution, and a run that started and never recorded an end (the process died in
flight) is reported as an unknown outcome instead of being paid for a second time.

`Journal` holds the decisions; `SQLiteJournal` (one machine, several threads and processes) and
``RedisJournal`` (several machines) only store entries, atomically.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from .. import _exceptions as errors
from .._core.checks import check_callable, check_seconds
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    BudgetExceededError,
    ConfigurationError,
    ExecutionCancelledError,
    ExecutionFailedError,
    JournalError,
    KnoudsError,
    RateLimitStoreError,
)
from .._public import publish

if TYPE_CHECKING:
    import redis

    from ..models import RunResult

__all__ = [
    "DEFAULT_TTL",
    "EntryState",
    "Journal",
    "JournalEntry",
    "JournalSpec",
    "SQLiteJournal",
    "batch_keys",
    "default_key",
    "open_journal",
    "outcome_of",
]

T = TypeVar("T")
EntryState = Literal["started", "submitted", "completed", "failed", "rejected", "unknown"]
DEFAULT_TTL = 7 * 24 * 3600.0
"""Seconds a journal entry is kept after it was last written (a week)."""
DEFAULT_STALE_AFTER = 3600.0
"""Seconds after which a run started on another machine counts as dead."""

JournalSpec: TypeAlias = "Journal | str | os.PathLike[str] | redis.Redis"
"""A `Journal`, a SQLite file path, a ``redis://`` / ``rediss://`` URL, or a redis-py client."""


# -- keys --------------------------------------------------------------------------------------


def _canonical(target: str, inputs: Mapping[str, Any], server: str) -> bytes:
    payload = {"server": server, "target": target, "inputs": inputs}
    try:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        # Inputs that cannot be sent still get a key (a batch keys every input first); their run
        # is refused with InvalidInputsError before anything is recorded.
        text = repr(payload)
    return text.encode()


def inputs_digest(target: str, inputs: Mapping[str, Any], server: str = "") -> str:
    """A stable hash of a run's server, endpoint and inputs (key order does not matter).

    ``server`` is the API base URL the run is sent to: the same inputs sent to another server
    (the emulator, a staging deployment) are another run, never answered from this one's record.
    """
    return hashlib.sha256(_canonical(target, inputs, server)).hexdigest()


def default_key(target: str, inputs: Mapping[str, Any], server: str = "") -> str:
    """The key of a run given no ``idempotency_key``: its endpoint and a hash of its server,
    endpoint and inputs."""
    return f"{target}:{inputs_digest(target, inputs, server)[:32]}"


def batch_keys(
    target: str, inputs_list: Iterable[Mapping[str, Any]], server: str = ""
) -> list[str]:
    """One key per input of a batch: the default key and how often the same inputs came before.

    Repeated inputs (four variations of one prompt) are four runs, not one; re-running the same
    list gives the same keys, which is what lets a batch resume.
    """
    seen: dict[str, int] = {}
    keys = []
    for inputs in inputs_list:
        base = default_key(target, inputs, server)
        count = seen.get(base, 0)
        seen[base] = count + 1
        keys.append(f"{base}#{count}")
    return keys


# -- owners: which process is running a claimed run --------------------------------------------

_HOST = socket.gethostname()
_process: dict[int, str] = {}
_in_flight: set[str] = set()
_in_flight_lock = threading.Lock()


def _owner() -> str:
    """``host/pid/nonce`` of this process (a new nonce after a fork)."""
    pid = os.getpid()
    nonce = _process.get(pid)
    if nonce is None:
        nonce = _process[pid] = uuid.uuid4().hex[:12]
    return f"{_HOST}/{pid}/{nonce}"


def mark_in_flight(token: str) -> None:
    """Note that this process is running the claim ``token`` (before the claim is written)."""
    with _in_flight_lock:
        _in_flight.add(token)


def mark_done(token: str) -> None:
    """Note that this process no longer runs the claim ``token``."""
    with _in_flight_lock:
        _in_flight.discard(token)


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by another user
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc (macOS): trust the signal check
        return True


# -- entries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    """One run's record in a journal.

    Attributes:
        key: the run's key (the ``idempotency_key``, or one derived from the endpoint and inputs).
        state: ``started`` (sent or about to be; no end recorded yet), ``submitted`` (an async
            execution was started: ``execution_id``), ``completed`` (``result``), ``failed``
            (the run ended with an error: ``error``), ``rejected`` (the error proves nothing ran,
            or the run was interrupted before its request left; the next run with this key sends
            it again) or ``unknown`` (it ended with an error, or was interrupted, in a way that
            leaves open whether it ran).
        target: the endpoint, ``models/<name>`` or ``workflows/<slug>``.
        inputs_hash: a hash of the inputs (a key reused with other inputs is refused).
        owner: ``host/pid/nonce`` of the process that claimed it.
        token: the claim's id (changes when a run is sent again).
        started_at, updated_at, expires_at: epoch seconds.
        execution_id: the async execution, once submitted.
        result: the result as Knouds returned it (``success``, ``result``, ``cost``, ``ms``).
        error: the error, as ``type``, ``message``, ``status_code``, ``code``, ``body``.
    """

    key: str
    state: EntryState
    target: str
    inputs_hash: str
    owner: str
    token: str
    started_at: float
    updated_at: float
    expires_at: float
    execution_id: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    def to_json(self) -> str:
        """The entry as a JSON object (how the backends store it)."""
        # Not dataclasses.asdict: its deep copy of the stored result costs more than the write.
        return json.dumps({name: getattr(self, name) for name in _FIELDS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> JournalEntry:
        """The entry stored as `to_json` wrote it."""
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in _FIELDS})

    @property
    def finished(self) -> bool:
        """Whether the run's end was recorded (completed, failed or rejected)."""
        return self.state in ("completed", "failed", "rejected")

    def run_result(self) -> RunResult:
        """The stored result as a `RunResult` (``from_journal`` is ``True``)."""
        from ..models import RunResult

        run = RunResult.model_validate(self.result or {})
        run._from_journal = True
        return run

    def stored_error(self) -> KnoudsError:
        """The stored error, rebuilt as the knouds error class it was."""
        return rebuild_error(self.error or {})


_FIELDS = tuple(JournalEntry.__dataclass_fields__)


def describe_error(error: KnoudsError, secret: str | None = None) -> dict[str, Any]:
    """What the journal keeps of an error: no response objects, and ``secret`` (the API key)
    replaced by ``***`` wherever the server's body or the message echoed it."""
    body = getattr(error, "body", None)
    message = error.message
    try:
        text = json.dumps(body)
    except (TypeError, ValueError):
        body = None
    else:
        if secret and secret in text:
            body = json.loads(text.replace(secret, "***"))
    if secret and secret in message:
        message = message.replace(secret, "***")
    return {
        "type": type(error).__name__,
        "message": message,
        "status_code": getattr(error, "status_code", None),
        "code": getattr(error, "code", None),
        "body": body,
    }


def rebuild_error(data: Mapping[str, Any]) -> KnoudsError:
    """The knouds error a `describe_error` dict came from (its class, message and fields)."""
    cls = getattr(errors, str(data.get("type")), None)
    message = str(data.get("message") or "The journaled run failed")
    if isinstance(cls, type) and issubclass(cls, APIStatusError):
        return cls(
            message,
            status_code=data.get("status_code"),
            code=data.get("code"),
            body=data.get("body"),
        )
    if cls is ExecutionCancelledError:
        return ExecutionCancelledError(message)
    return KnoudsError(message)


Outcome = Literal["rejected", "failed", "unknown"]


def outcome_of(error: KnoudsError) -> Outcome:
    """What a run's error says about whether it ran.

    ``rejected``: the error proves nothing ran (the server refused it with a 4xx, or the request
    never left: a connection refused, no API key, the shared rate-limit store down, a credit
    budget that refused it); sending it again is safe. ``failed``: it ran and ended in failure
    (the provider failed, or the execution was cancelled). ``unknown``: it may have run (a read
    timeout, a 5xx after sending, an unreadable success body).
    """
    if isinstance(error, (ExecutionFailedError, ExecutionCancelledError)):
        return "failed"
    if isinstance(error, (ConfigurationError, RateLimitStoreError, BudgetExceededError)):
        return "rejected"  # raised before the request is built or sent (or the budget refused it)
    if isinstance(error, APIStatusError):
        status = error.status_code
        if status is None or (400 <= status < 500 and status != 408):
            return "rejected"
        return "unknown"
    if isinstance(error, APIConnectionError):
        return "unknown" if error.sent else "rejected"
    return "unknown"


# -- the journal -------------------------------------------------------------------------------


@dataclass
class Claim:
    """The answer to a claim: ``claimed`` (this caller sends the run) or the existing entry."""

    claimed: bool
    entry: JournalEntry


class Journal(abc.ABC):
    """Where journaled runs are recorded. Use `SQLiteJournal` or ``RedisJournal``.

    Args:
        ttl: seconds an entry is kept after its last write (default a week); after that its key
            runs again.
        stale_after: seconds after which a run still marked ``started`` by another process
            counts as dead (its outcome unknown) even if that process seems alive. Runs of other
            machines are judged by this alone; runs of this machine are checked directly, so a
            run whose process is gone is known dead at once; runs of this process are in flight
            until they end, however long they take.
        clock: a function returning epoch seconds (inject a fake one in tests).
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        stale_after: float = DEFAULT_STALE_AFTER,
        clock: Callable[[], float] | None = None,
    ) -> None:
        check_callable(clock, "clock")
        self._clock = clock or time.time
        self.ttl: float = check_seconds(ttl, "ttl")
        self.stale_after: float = check_seconds(stale_after, "stale_after")
        self.owned: bool = False  # opened by a client from a path or URL: the client closes it
        # Whether the async client runs this journal's operations in a worker thread: any of them
        # may wait (a disk sync, another process's write lock, a network round trip), and the
        # event loop must not wait with it.
        self.offload: bool = True

    # Storage, implemented by each backend; every call is atomic.

    @abc.abstractmethod
    def _claim(self, entry: JournalEntry, replace_token: str | None, now: float) -> Claim:
        """Store ``entry`` unless a live entry exists (one not expired and not ``rejected``);
        with ``replace_token``, also replace an entry holding that token."""

    @abc.abstractmethod
    def _update(self, key: str, token: str, entry: JournalEntry) -> bool:
        """Replace the entry of ``key`` if it still holds ``token``; ``False`` otherwise."""

    @abc.abstractmethod
    def get(self, key: str) -> JournalEntry | None:
        """The entry of ``key``, or ``None`` (also when it expired)."""

    @abc.abstractmethod
    def entries(self, state: EntryState | None = None) -> list[JournalEntry]:
        """Every live entry, or those in one state, oldest first."""

    @abc.abstractmethod
    def forget(self, key: str) -> bool:
        """Drop the entry of ``key``: the next run with this key is sent again.

        Use it to re-send a run whose outcome is unknown once you know it did not run (or you
        accept paying again). Returns whether there was an entry.
        """

    def close(self) -> None:  # noqa: B027 - a no-op unless the backend holds connections
        """Release connections (the stored entries stay)."""

    # Decisions shared by every backend.

    def claim(
        self, key: str, target: str, inputs_hash: str, token: str, replace_token: str | None
    ) -> Claim:
        """Claim ``key`` for a new run identified by ``token``, or return who holds it.

        Raises:
            IdempotencyConflictError: the key holds a run of another endpoint or other inputs.
        """
        now = self._clock()
        entry = JournalEntry(
            key=key,
            state="started",
            target=target,
            inputs_hash=inputs_hash,
            owner=_owner(),
            token=token,
            started_at=now,
            updated_at=now,
            expires_at=now + self.ttl,
        )
        claim = self._guard(lambda: self._claim(entry, replace_token, now))
        held = claim.entry
        if not claim.claimed and (held.target != target or held.inputs_hash != inputs_hash):
            raise errors.IdempotencyConflictError(
                f"The idempotency key {key!r} was used for a run of {held.target} with other "
                f"inputs or on another server (base URL); a key names one run. Use a new key for "
                f"new inputs, and a journal per server.",
                key=key,
            )
        return claim

    def record(self, entry: JournalEntry, **changes: Any) -> bool:
        """Write ``changes`` to the entry the caller read or claimed (compare-and-set on its
        token); ``False`` when another claim replaced it meanwhile."""
        now = self._clock()
        new = replace(entry, updated_at=now, expires_at=now + self.ttl, **changes)
        return self._guard(lambda: self._update(entry.key, entry.token, new))

    def mark_failed(self, key: str, note: str) -> bool:
        """Settle a run by hand as failed with ``note`` (for example once you checked that a run
        of unknown outcome did happen): later runs with this key raise that failure instead of
        reporting an unknown outcome, and nothing is sent. Returns whether there was an entry."""
        entry = self.get(key)
        if entry is None:
            return False
        error = {"type": "KnoudsError", "message": note, "status_code": None, "code": None}
        return self.record(entry, state="failed", error=error)

    def is_alive(self, entry: JournalEntry, now: float) -> bool:
        """Whether the process that claimed a ``started`` entry may still be running it."""
        if entry.owner == _owner():  # this process knows its own runs, however long they take
            with _in_flight_lock:
                return entry.token in _in_flight
        host, _, rest = entry.owner.partition("/")
        pid_text = rest.partition("/")[0]
        if host != _HOST or now >= entry.started_at + self.stale_after:
            return now < entry.started_at + self.stale_after
        try:
            pid = int(pid_text)
        except ValueError:
            return False
        return pid != os.getpid() and _pid_alive(pid)

    def _guard(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except KnoudsError:
            raise
        except Exception as exc:
            raise JournalError(f"The run journal failed: {type(exc).__name__}: {exc}") from exc

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            conn.execute(_SCHEMA)
            conn.execute("DELETE FROM knouds_runs WHERE expires_at < ?", (self._clock(),))
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _claim(self, entry: JournalEntry, replace_token: str | None, now: float) -> Claim:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT token, state, expires_at, data FROM knouds_runs WHERE key = ?",
                (entry.key,),
            ).fetchone()
            if row is not None:
                token, state, expires_at, data = row
                live = expires_at >= now and state != "rejected"
                if live and (replace_token is None or token != replace_token):
                    return Claim(False, JournalEntry.from_json(data))
            conn.execute(
                "INSERT OR REPLACE INTO knouds_runs VALUES (?, ?, ?, ?, ?)",
                (entry.key, entry.token, entry.state, entry.expires_at, entry.to_json()),
            )
        return Claim(True, entry)

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


def open_journal(spec: JournalSpec) -> Journal:
    """A `Journal` from what ``Client(journal=...)`` and ``run_many(journal=...)`` accept.

    A `Journal` is used as is; a ``redis://`` or ``rediss://`` URL, or a ``redis.Redis``
    client, opens a ``RedisJournal`` (``pip install "knouds[redis]"``); anything else is the
    path of a SQLite file.
    """
    if isinstance(spec, Journal):
        return spec
    from .redis import is_redis_url

    if not isinstance(spec, (str, os.PathLike)):  # a redis-py client
        from .redis_journal import RedisJournal

        return RedisJournal(spec)
    text = os.fspath(spec)
    if is_redis_url(text):
        from .redis_journal import RedisJournal

        journal: Journal = RedisJournal(text)
    else:
        journal = SQLiteJournal(text)
    journal.owned = True
    return journal


publish(globals())
