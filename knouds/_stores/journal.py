"""The run journal's storage: `Journal` (shared by every backend), `SQLiteJournal` and
`open_journal`. ``RedisJournal`` lives in `redis_journal`.

What the journal decides (keys, entries, stored errors) is in ``knouds/_core/journal.py``; how a
run is claimed, sent and recorded is the run pipeline's (``knouds/_core/pipeline.py``). The
backends only store entries, atomically, and say which process holds a claim.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from .._core.checks import check_callable, check_seconds
from .._core.journal import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TTL,
    EntryState,
    JournalClaim,
    JournalEntry,
)
from .._exceptions import IdempotencyConflictError, JournalError, KnoudsError
from .._public import publish

if TYPE_CHECKING:
    import redis

__all__ = [
    "Journal",
    "JournalSpec",
    "open_journal",
]

T = TypeVar("T")

# Seconds the journal operation running in this thread (or task) may wait on a lock held by
# another process, when less than the journal's own wait (the call's deadline; see `within`).
OPERATION_TIMEOUT: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "knouds_journal_operation_timeout", default=None
)

JournalSpec: TypeAlias = "Journal | str | os.PathLike[str] | redis.Redis"
"""A `Journal`, a SQLite file path, a ``redis://`` / ``rediss://`` URL, or a redis-py client."""


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


# -- the journal -------------------------------------------------------------------------------


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
    def _claim(self, entry: JournalEntry, replace_token: str | None, now: float) -> JournalClaim:
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
    ) -> JournalClaim:
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
            raise IdempotencyConflictError(
                f"The journal key {key!r} holds a run of {held.target} with other inputs, on "
                "another server (base URL) or of another account (API key); a key names one "
                "run of one account, which no other account is answered from. Nothing was "
                "sent. Use a new key for new inputs, and a journal per account and server "
                "(after rotating an API key, finish a resumed batch with the key that started "
                "it).",
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

    @contextlib.contextmanager
    def within(self, seconds: float | None) -> Iterator[None]:
        """Bound the journal operations made inside by ``seconds`` of waiting on other writers
        (``None``: the journal's own limit). The run pipeline claims within what is left of the
        call's deadline: a locked file or a slow store ends the call on time, nothing sent."""
        token = OPERATION_TIMEOUT.set(seconds)
        try:
            yield
        finally:
            OPERATION_TIMEOUT.reset(token)

    def abandon(self, key: str, token: str, error: dict[str, Any]) -> bool:
        """Hand back the claim ``token`` of a run interrupted before its request was built: the
        entry, if it still holds that claim, becomes ``rejected`` (the next run of the key sends
        it). Returns whether it did."""
        entry = self.get(key)
        if entry is None or entry.token != token or entry.state != "started":
            return False
        return self.record(entry, state="rejected", error=error)

    def mark_in_flight(self, token: str) -> None:
        """Note that this process is running the claim ``token`` (before the claim is written,
        so that no reader takes it for the claim of a dead process)."""
        mark_in_flight(token)

    def mark_done(self, token: str) -> None:
        """Note that this process no longer runs the claim ``token``."""
        mark_done(token)

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
        from .sqlite_journal import SQLiteJournal

        journal = SQLiteJournal(text)
    journal.owned = True
    return journal


publish(globals())
