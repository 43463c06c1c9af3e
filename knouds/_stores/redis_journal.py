"""``RedisJournal``: the run journal in Redis, for runs spread over several machines.

Each entry is one Redis string (the entry as JSON) under ``knouds:journal:<namespace>:<key>``,
expiring on its own after the journal's ``ttl``. Claims, updates and hand-backs are Lua scripts,
so each is one atomic round trip. Needs redis-py: ``pip install "knouds[redis]"``.

A claim made within a call's deadline (`Journal.within`) waits for its answer no longer than
that; a server that stalls (a pause, a fork for a snapshot, a frozen VM) may still run it once it
wakes, after the caller gave up and handed the claim back. The hand-back therefore leaves a
marker for its claim token (``knouds:journal-given-up:<namespace>:<token>``), and a claim that
finds its own marker writes nothing: whichever order the two reach the server in, the key is
left free for the next run.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._core.checks import check_name
from .._core.journal import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TTL,
    EntryState,
    JournalClaim,
    JournalEntry,
)
from .._exceptions import ConfigurationError, JournalError
from .._public import publish
from .journal import OPERATION_TIMEOUT, Journal
from .redis import check_durability

if TYPE_CHECKING:
    import redis
    from redis.commands.core import Script

__all__ = ["RedisJournal"]

# Seconds to connect and for each answer: a journal write the store cannot make in time fails
# the run before it is sent (a JournalError), so allow for a loaded server.
_TIMEOUT = 5.0

# KEYS: the entry, this claim's given-up marker. ARGV: the entry as JSON, the token it may
# replace ('' for none), the lifetime in ms.
_CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'given-up'
end
local current = redis.call('GET', KEYS[1])
if current then
  local entry = cjson.decode(current)
  if entry['state'] ~= 'rejected' and (ARGV[2] == '' or entry['token'] ~= ARGV[2]) then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""

_UPDATE = """
local current = redis.call('GET', KEYS[1])
if not current or cjson.decode(current)['token'] ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# KEYS: the entry, the claim's given-up marker. ARGV: the claim's token, the marker's lifetime in
# ms. The claim, if it landed and is still only started, is removed: nothing was sent for it.
_ABANDON = """
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
local current = redis.call('GET', KEYS[1])
if current then
  local entry = cjson.decode(current)
  if entry['token'] == ARGV[1] and entry['state'] == 'started' then
    redis.call('DEL', KEYS[1])
    return 1
  end
end
return 0
"""

# The least a bounded wait for an answer may be: enough for a healthy server to answer.
_MIN_WAIT = 0.05
# Idle connections kept for the journal's scripts.
_IDLE_CONNECTIONS = 8


def connect(target: str | redis.Redis) -> redis.Redis:
    """A sync redis-py client from a ``redis://`` / ``rediss://`` / ``unix://`` URL, or the
    client given (used as is).

    Raises:
        ConfigurationError: redis-py is missing, the URL does not parse, or the target is not a
            sync redis-py client (the journal's writes are short blocking calls).
    """
    from .redis import is_async_redis_client, redis_connection

    if is_async_redis_client(target):
        raise ConfigurationError(
            "RedisJournal takes a redis:// URL or a redis.Redis client, not a redis.asyncio one "
            "(its writes are short blocking calls, also under AsyncClient)."
        )
    client: redis.Redis = redis_connection(target, asynchronous=False, timeout=_TIMEOUT)
    return client


class RedisJournal(Journal):
    """A run journal in Redis: one journal for processes on several machines.

    Args:
        client: a ``redis://`` or ``rediss://`` URL, or a ``redis.Redis`` client (used as is,
            and left open on `close`).
        namespace: separates the runs of several applications sharing one Redis.
        ttl: seconds an entry is kept after its last write (Redis expires it).
        stale_after: seconds after which a run still marked ``started`` by a process on another
            machine counts as dead; set it above your longest run.
        clock: a function returning epoch seconds (entries still expire in Redis after ``ttl``
            real seconds).
        allow_eviction: accept a server whose ``maxmemory-policy`` may evict keys (anything
            but ``noeviction``; a ``volatile-*`` policy evicts keys with a lifetime, as journal
            entries have). Without it such a server is refused with `ConfigurationError` when
            the journal is opened: an evicted entry lets its run be sent, and paid, again.

    The server should keep every key (``maxmemory-policy noeviction``) and persist them (AOF or
    RDB snapshots). The journal checks both when it is opened (``CONFIG GET``): persistence off,
    or a server that refuses ``CONFIG`` (many managed services), is logged as one warning per
    server on the ``knouds`` logger.

    Raises:
        ConfigurationError: an empty ``namespace``, or a ``ttl`` or ``stale_after`` that is not
            a positive finite number of seconds.

    Example:
        >>> journal = knouds.RedisJournal("redis://localhost:6379/0")  # doctest: +SKIP
        >>> client = knouds.Client(journal=journal)  # doctest: +SKIP
    """

    def __init__(
        self,
        client: str | redis.Redis,
        *,
        namespace: str = "default",
        ttl: float = DEFAULT_TTL,
        stale_after: float = DEFAULT_STALE_AFTER,
        clock: Callable[[], float] | None = None,
        allow_eviction: bool = False,
    ) -> None:
        super().__init__(ttl=ttl, stale_after=stale_after, clock=clock)
        check_name(namespace, "namespace")
        self._owns_client = isinstance(client, str)
        self._redis = connect(client)
        self.namespace: str = namespace
        self.allow_eviction: bool = allow_eviction
        self._prefix = f"knouds:journal:{namespace}:"
        self._given_up_prefix = f"knouds:journal-given-up:{namespace}:"
        self._claim_script = self._redis.register_script(_CLAIM)
        self._update_script = self._redis.register_script(_UPDATE)
        self._abandon_script = self._redis.register_script(_ABANDON)
        self._line = _ScriptLine.like(self._redis)
        self._checked = False
        try:
            self._check_server()
        except ConfigurationError:
            self.close()
            raise

    def _check_server(self) -> None:
        """Refuse a server that may evict entries; warn when it does not persist them. A server
        that cannot be reached now is checked again before the next claim."""
        durability = check_durability(self._redis, purpose="run journal")
        if durability is None:
            return
        self._checked = True
        if durability.evicting and not self.allow_eviction:
            raise ConfigurationError(
                f"The Redis server of this run journal has maxmemory-policy "
                f"{durability.eviction}: under memory pressure it may evict journal entries, and "
                "a run whose entry was evicted would be sent (and paid for) again. Set "
                "maxmemory-policy noeviction on the server, or accept the risk with "
                "RedisJournal(..., allow_eviction=True)."
            )

    def _key(self, key: str) -> str:
        return self._prefix + key

    def _ttl_ms(self) -> int:
        return max(int(self.ttl * 1000), 1)

    def _claim(self, entry: JournalEntry, replace_token: str | None, now: float) -> JournalClaim:
        if not self._checked:
            self._check_server()
        given_up = self._given_up_prefix + entry.token
        held = self._run(
            self._claim_script,
            [self._key(entry.key), given_up],
            [entry.to_json(), replace_token or "", self._ttl_ms()],
            hand_back=([self._key(entry.key), given_up], [entry.token, self._ttl_ms()]),
        )
        if held is None:
            return JournalClaim(True, entry)
        if held in ("given-up", b"given-up"):  # only a claim run after its hand-back sees this
            raise JournalError(f"The claim of {entry.key!r} was already handed back.")
        return JournalClaim(False, JournalEntry.from_json(held))

    def _update(self, key: str, token: str, entry: JournalEntry) -> bool:
        done = self._run(
            self._update_script, [self._key(key)], [token, entry.to_json(), self._ttl_ms()]
        )
        return bool(done)

    def abandon(self, key: str, token: str, error: dict[str, Any]) -> bool:
        """Hand back the claim ``token`` of a run interrupted before its request was built:
        the entry, if it still holds that claim, is removed (the next run of the key sends it),
        and a claim with that token reaching the server later writes nothing. Returns whether
        there was a claim to hand back."""
        return bool(
            self._guard(
                lambda: self._run(
                    self._abandon_script,
                    [self._key(key), self._given_up_prefix + token],
                    [token, self._ttl_ms()],
                )
            )
        )

    def _run(
        self,
        script: Script,
        keys: Sequence[str],
        args: Sequence[str | int],
        hand_back: tuple[Sequence[str], Sequence[str | int]] | None = None,
    ) -> Any:
        """Run ``script``, waiting for the server no longer than the bound `Journal.within`
        set, if any (the client's own read timeout otherwise). ``hand_back``: the keys and
        arguments of the abandon script, sent behind the call on the same connection when no
        answer came in time (the server, once it answers again, runs both in that order)."""
        line = self._line
        if line is None:
            return script(keys=list(keys), args=list(args))
        limit = OPERATION_TIMEOUT.get()
        return line.ask(
            script, keys, args, line.read_timeout if limit is None else limit, hand_back
        )

    def get(self, key: str) -> JournalEntry | None:
        """The entry of ``key``, or ``None`` (also when it expired)."""
        raw = self._guard(lambda: self._redis.get(self._key(key)))
        return None if raw is None else JournalEntry.from_json(raw)

    def entries(self, state: EntryState | None = None) -> list[JournalEntry]:
        """Every live entry, or those in one state, oldest first."""

        def read() -> list[JournalEntry]:
            pattern = _escape_glob(self._prefix) + "*"
            keys = list(self._redis.scan_iter(match=pattern, count=500))
            found = []
            for start in range(0, len(keys), 500):
                for raw in self._redis.mget(keys[start : start + 500]):
                    if raw is not None:
                        found.append(JournalEntry.from_json(raw))
            now = self._clock()
            return sorted(
                (e for e in found if (state is None or e.state == state) and e.expires_at >= now),
                key=lambda e: e.started_at,
            )

        return self._guard(read)

    def forget(self, key: str) -> bool:
        """Drop the entry of ``key``: the next run with this key is sent again."""
        return bool(self._guard(lambda: self._redis.delete(self._key(key))))

    def close(self) -> None:
        """Close the connections (when the journal opened them from a URL)."""
        if self._owns_client:
            self._redis.close()
        if self._line is not None:
            self._line.close()

    def __repr__(self) -> str:
        return f"RedisJournal(namespace={self.namespace!r})"


class _ScriptLine:
    """The connections the journal runs its scripts on, each call with its own wait for the
    answer: a copy of the client's connection settings, with idle connections kept for reuse.

    A connection whose answer did not come in time is dropped (a late answer must not be read
    as the next call's); before that, a claim's hand-back is sent behind it.
    """

    def __init__(self, connection_class: Any, kwargs: dict[str, Any]) -> None:
        self._connection_class = connection_class
        self._kwargs = kwargs
        self.read_timeout: float | None = kwargs.get("socket_timeout")
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @classmethod
    def like(cls, client: redis.Redis) -> _ScriptLine | None:
        """A line to ``client``'s server, or ``None`` when its settings cannot be copied (an
        unusual pool, such as a sentinel's: the client is then used as it is)."""
        pool = getattr(client, "connection_pool", None)
        kwargs = getattr(pool, "connection_kwargs", None)
        connection_class = getattr(pool, "connection_class", None)
        if not isinstance(kwargs, dict) or connection_class is None:
            return None
        if "connection_pool" in kwargs or "sentinel_manager" in kwargs:
            return None
        return cls(connection_class, dict(kwargs))

    def ask(
        self,
        script: Script,
        keys: Sequence[str],
        args: Sequence[str | int],
        wait: float | None,
        hand_back: tuple[Sequence[str], Sequence[str | int]] | None,
    ) -> Any:
        """Run ``script``; wait ``wait`` seconds at most (``None``: no limit) for connecting,
        for a new connection's handshake and for the answer."""
        from redis.exceptions import NoScriptError

        if wait is not None:
            wait = max(wait, _MIN_WAIT)
        conn = self._take()
        try:
            # Apply when the connection connects (a new one: its connect and handshake).
            conn.socket_timeout = conn.socket_connect_timeout = wait
            conn.connect()
            if _stale(conn):  # an idle connection the server closed (a restart, a timeout)
                conn.disconnect()
                conn.connect()
            try:
                answer = self._call(conn, "EVALSHA", script.sha, keys, args, wait, hand_back)
            except NoScriptError:
                answer = self._call(conn, "EVAL", script.script, keys, args, wait, hand_back)
        except BaseException:
            conn.disconnect()
            raise
        self._give_back(conn)
        return answer

    @staticmethod
    def _call(
        conn: Any,
        command: str,
        body: object,
        keys: Sequence[str],
        args: Sequence[str | int],
        wait: float | None,
        hand_back: tuple[Sequence[str], Sequence[str | int]] | None,
    ) -> Any:
        import redis

        conn.send_command(command, body, len(keys), *keys, *args)
        if wait is not None and not conn.can_read(timeout=wait):
            if hand_back is not None:
                back_keys, back_args = hand_back
                with contextlib.suppress(Exception):  # the hand-back by the run pipeline remains
                    conn.send_command("EVAL", _ABANDON, len(back_keys), *back_keys, *back_args)
            conn.disconnect()
            raise redis.TimeoutError(f"Redis did not answer within {wait:g} s")
        return conn.read_response()

    def _take(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # a fork: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._connection_class(**self._kwargs)

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.disconnect()

    def close(self) -> None:
        """Close the idle connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()


def _stale(conn: Any) -> bool:
    """Whether an idle connection has something to read: an end of stream or an error from a
    server that closed it (a healthy idle connection has nothing)."""
    import redis

    try:
        return bool(conn.can_read(timeout=0))
    except (redis.ConnectionError, OSError):
        return True


def _escape_glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


publish(globals())
