"""``RedisJournal``: the run journal in Redis, for runs spread over several machines.

Each entry is one Redis string (the entry as JSON) under ``knouds:journal:<namespace>:<key>``,
expiring on its own after the journal's ``ttl``. Claims, updates and hand-backs are Lua scripts,
so each is one atomic round trip. Needs redis-py: ``pip install "knouds[redis]"``.

A claim waits for its answer no longer than the call's deadline (`Journal.within`), or the
client's read timeout without one (connecting keeps the client's own timeouts); a server that
stalls (a pause, a fork for a snapshot, a frozen VM) may still run it once it wakes, after the
caller gave up. So its hand-back is sent right behind it on the same connection: the server runs
both, in that order, and the key is left free for the next run. A hand-back sent otherwise (on
another connection) leaves a tombstone in an empty entry key (``given-up:<token>,...``) that the
claim, should it run later, finds and writes nothing over; readers see no entry in a tombstone,
and any other claim takes the key.
"""

from __future__ import annotations

import contextlib
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

# A claim handed back by a caller that gave up waiting for it leaves a tombstone in its entry's
# key, "given-up:<token>[,<token>...]": the claim, should the server run it late, writes nothing;
# any other claim takes the key as free. Readers see no entry.
_GIVEN_UP = "given-up:"
_GIVEN_UP_BYTES = _GIVEN_UP.encode()

# ARGV: the entry as JSON, the token it may replace ('' for none), the lifetime in ms, its token.
_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  if string.sub(current, 1, 9) == 'given-up:' then
    local given = ',' .. string.sub(current, 10) .. ','
    if string.find(given, ',' .. ARGV[4] .. ',', 1, true) then return 'given-up' end
  else
    local entry = cjson.decode(current)
    if entry['state'] ~= 'rejected' and (ARGV[2] == '' or entry['token'] ~= ARGV[2]) then
      return current
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return false
"""

_UPDATE = """
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, 9) == 'given-up:'
    or cjson.decode(current)['token'] ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# ARGV: the claim's token, the tombstone's lifetime in ms. The claim, if it landed and is still
# only started, is replaced by the tombstone (nothing was sent for it); an entry of another claim
# is left alone; an empty key (or another tombstone) gets the tombstone, so that the claim, if
# the server runs it later, writes nothing. Returns 1 when there was a claim to hand back.
_ABANDON = """
local current = redis.call('GET', KEYS[1])
local mark = 'given-up:' .. ARGV[1]
if current then
  if string.sub(current, 1, 9) == 'given-up:' then
    local kept = string.sub(current, 10)
    if #kept > 4000 then  -- keep the newest tokens: drop the oldest, from the front
      local cut = string.find(kept, ',', #kept - 4000, true)
      kept = cut and string.sub(kept, cut + 1) or ''
    end
    if #kept > 0 then mark = 'given-up:' .. kept .. ',' .. ARGV[1] end
  else
    local entry = cjson.decode(current)
    if entry['token'] ~= ARGV[1] or entry['state'] ~= 'started' then return 0 end
    redis.call('SET', KEYS[1], mark, 'PX', ARGV[2])
    return 1
  end
end
redis.call('SET', KEYS[1], mark, 'PX', ARGV[2])
return 0
"""

# Drops an entry; a tombstone stays, or a claim still queued in a stalled server would find the
# key empty and write an entry nobody ends. Returns 1 when there was an entry.
_FORGET = """
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, 9) == 'given-up:' then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""

# The least a bounded wait for an answer may be: enough for a healthy server to answer.
_MIN_WAIT = 0.05


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
        self._claim_script = self._redis.register_script(_CLAIM)
        self._update_script = self._redis.register_script(_UPDATE)
        self._abandon_script = self._redis.register_script(_ABANDON)
        self._forget_script = self._redis.register_script(_FORGET)
        self._handed_back: set[str] = set()  # tokens whose hand-back went behind their claim
        self._handed_back_lock = threading.Lock()
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
        held = self._run(
            self._claim_script,
            self._key(entry.key),
            [entry.to_json(), replace_token or "", self._ttl_ms(), entry.token],
            hand_back=entry.token,
        )
        if held is None:
            return JournalClaim(True, entry)
        if held in ("given-up", b"given-up"):  # only a claim run after its hand-back sees this
            raise JournalError(f"The claim of {entry.key!r} was already handed back.")
        return JournalClaim(False, JournalEntry.from_json(held))

    def _update(self, key: str, token: str, entry: JournalEntry) -> bool:
        # A record needs no hand-back and no bound: the client as it is (its own retries too).
        done = self._update_script(
            keys=[self._key(key)], args=[token, entry.to_json(), self._ttl_ms()]
        )
        return bool(done)

    def abandon(self, key: str, token: str, error: dict[str, Any]) -> bool:
        """Hand back the claim ``token`` of a run interrupted before its request was built: the
        entry, if it still holds that claim, is removed (the next run of the key sends it), and
        the claim, should the server run it later, writes nothing. Returns whether there was a
        claim to hand back."""
        with self._handed_back_lock:
            if token in self._handed_back:  # already sent, right behind the claim
                self._handed_back.discard(token)
                return True
        return bool(
            self._guard(
                lambda: self._run(self._abandon_script, self._key(key), [token, self._ttl_ms()])
            )
        )

    def _run(
        self, script: Script, key: str, args: Sequence[str | int], hand_back: str | None = None
    ) -> Any:
        """Run ``script`` on ``key``. Within `Journal.within`, the answer is waited for no
        longer than its bound, on a connection of the client's pool (connecting, and a new
        connection's handshake, keep the client's own timeouts). ``hand_back``: the claim token
        whose hand-back is sent right behind the script when no answer came in time (the
        server runs both, in that order, once it answers again)."""
        limit = OPERATION_TIMEOUT.get()
        pool = getattr(self._redis, "connection_pool", None)
        if pool is None:  # a cluster client: as it is
            return script(keys=[key], args=list(args))
        from redis.exceptions import NoScriptError

        try:
            conn = pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants the command's name
            conn = pool.get_connection("EVALSHA")
        # Without a deadline, the client's own read timeout (none: wait as long as it takes).
        wait = conn.socket_timeout if limit is None else max(limit, _MIN_WAIT)
        try:
            try:
                return self._ask(conn, wait, "EVALSHA", script.sha, key, args, hand_back)
            except NoScriptError:
                return self._ask(conn, wait, "EVAL", script.script, key, args, hand_back)
        except BaseException:
            conn.disconnect()  # an answer may still come: never read as another call's
            raise
        finally:
            pool.release(conn)

    def _ask(
        self,
        conn: Any,
        wait: float | None,
        command: str,
        body: object,
        key: str,
        args: Sequence[str | int],
        hand_back: str | None,
    ) -> Any:
        import redis

        # No health check here: it would read, with the client's timeout, before the wait.
        conn.send_packed_command(conn.pack_command(command, body, 1, key, *args), False)
        if wait is not None and not conn.can_read(timeout=wait):
            if hand_back is not None:
                with contextlib.suppress(Exception):  # else the pipeline's own hand-back
                    back = conn.pack_command("EVAL", _ABANDON, 1, key, hand_back, self._ttl_ms())
                    conn.send_packed_command(back, False)
                    with self._handed_back_lock:
                        self._handed_back.add(hand_back)
            raise redis.TimeoutError(f"Redis did not answer within {wait:g} s")
        return conn.read_response()

    def get(self, key: str) -> JournalEntry | None:
        """The entry of ``key``, or ``None`` (also when it expired)."""
        raw = self._guard(lambda: self._redis.get(self._key(key)))
        return None if raw is None or _given_up(raw) else JournalEntry.from_json(raw)

    def entries(self, state: EntryState | None = None) -> list[JournalEntry]:
        """Every live entry, or those in one state, oldest first."""

        def read() -> list[JournalEntry]:
            pattern = _escape_glob(self._prefix) + "*"
            keys = list(self._redis.scan_iter(match=pattern, count=500))
            found = []
            for start in range(0, len(keys), 500):
                for raw in self._redis.mget(keys[start : start + 500]):
                    if raw is not None and not _given_up(raw):
                        found.append(JournalEntry.from_json(raw))
            now = self._clock()
            return sorted(
                (e for e in found if (state is None or e.state == state) and e.expires_at >= now),
                key=lambda e: e.started_at,
            )

        return self._guard(read)

    def forget(self, key: str) -> bool:
        """Drop the entry of ``key``: the next run with this key is sent again. The mark a
        hand-back leaves (see the module's docstring) is no entry and stays."""
        return bool(self._guard(lambda: self._forget_script(keys=[self._key(key)])))

    def close(self) -> None:
        """Close the connections (when the journal opened them from a URL)."""
        if self._owns_client:
            self._redis.close()

    def __repr__(self) -> str:
        return f"RedisJournal(namespace={self.namespace!r})"


def _given_up(raw: str | bytes) -> bool:
    """Whether a stored value is a tombstone of claims handed back, not an entry."""
    return raw[:9] in (_GIVEN_UP, _GIVEN_UP_BYTES)


def _escape_glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


publish(globals())
