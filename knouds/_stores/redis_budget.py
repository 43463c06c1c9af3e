"""A budget store in Redis: one credit budget shared by every process using the same name.

Credits are counted in whole micro-credits (millionths), with integer commands only: sums are
exact, and the scripts stay clear of ``INCRBYFLOAT``, which Redis before 7.0 does not handle
safely inside scripts run next to others (the pacing scripts). Amounts are converted at the edges
of this module.

Each budget key is a few Redis keys sharing a hash tag (so they live on one cluster slot):
``...:used`` (micro-credits charged, grown with ``INCRBY``), ``...:held`` (hash: hold id ->
micro-credits), ``...:expiry`` (sorted set: hold id -> expiry time) and ``...:settled`` (the
settlements already counted, so a retried one counts once). Checking and holding
happen in one Lua script, so two processes can never both take the last credits. Counts an
earlier version kept in floating-point credits (``...:spent``, ``...:holds``) are converted the
first time a script touches the key.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._exceptions import ConfigurationError
from .budget import BudgetStoreError, Totals
from .redis import (
    check_durability,
    is_async_redis_client,
    is_redis_client,
    redis_connection,
    warn_evicting,
)

__all__ = ["MICRO", "RedisBudgetStore", "budget_connection", "to_micro"]

_PREFIX = "knouds:budget:"
MICRO = 1_000_000
"""Micro-credits per credit: the unit the Redis budget counts in."""

# Every script takes the same KEYS: used, held, expiry, then the float-valued spent and holds
# keys of earlier versions, which this prelude folds into the integer ones.
_MIGRATE = """
local function micro(text)
  return string.format('%d', math.floor(tonumber(text) * 1000000 + 0.5))
end
local old = redis.call('GET', KEYS[4])
if old then
  local ttl = redis.call('PTTL', KEYS[4])
  redis.call('INCRBY', KEYS[1], micro(old))
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
  redis.call('DEL', KEYS[4])
end
local oldholds = redis.call('HGETALL', KEYS[5])
if #oldholds > 0 then
  local ttl = redis.call('PTTL', KEYS[5])
  for i = 1, #oldholds, 2 do redis.call('HSET', KEYS[2], oldholds[i], micro(oldholds[i + 1])) end
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  redis.call('DEL', KEYS[5])
end
"""

# ARGV: hold id, amount (micro), limit (micro), now, expires at, key ttl (0: none),
# exclusive ('1': refused while a live hold has the same id).
_HOLD = (
    _MIGRATE
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[2], id) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4]) end
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do held = held + tonumber(v) end
local amount, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local committed = spent + held
local taken = ARGV[7] == '1' and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1
if taken or committed >= limit or committed + amount > limit then
  return {0, spent, held}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1])
local ttl = tonumber(ARGV[6])
if ttl > 0 then
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
return {1, spent, held}
"""
)

# KEYS[6]: settlement ids already counted (sorted set: id -> epoch seconds), so a settlement
# retried after a failure that left open whether it landed is counted once; ids are kept a day.
# ARGV: hold id, charge (micro, may be negative: a correction), key ttl (0: none), settlement
# id ('' : none), now.
_SETTLE = (
    _MIGRATE
    + """
local ttl = tonumber(ARGV[3])
if ARGV[4] ~= '' then
  if redis.call('ZSCORE', KEYS[6], ARGV[4]) then return 0 end
  redis.call('ZADD', KEYS[6], ARGV[5], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', tonumber(ARGV[5]) - 86400)
  if ttl > 0 then redis.call('EXPIRE', KEYS[6], ttl) end
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '0' then redis.call('INCRBY', KEYS[1], ARGV[2]) end
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
"""
)

# ARGV: now.
_TOTALS = (
    _MIGRATE
    + """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local held = 0
local live = redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. ARGV[1], '+inf')
for _, id in ipairs(live) do held = held + tonumber(redis.call('HGET', KEYS[2], id) or '0') end
return {spent, held}
"""
)


def to_micro(credits: float) -> int:
    """``credits`` as a whole number of micro-credits (rounded to the nearest)."""
    return round(credits * MICRO)


def _credits(micro: Any) -> float:
    return int(micro) / MICRO


def budget_connection(store: object) -> Any:
    """A synchronous redis-py client for a budget store: from a URL, or the client given.

    The budget counts through a sync client even for `AsyncClient` (from a worker thread), so a
    ``redis.asyncio`` client is refused.
    """
    if is_async_redis_client(store) and is_redis_client(store):
        raise ConfigurationError(
            "A Budget's store must be a redis:// URL or a redis.Redis client; the async client "
            "uses it from a worker thread, so a redis.asyncio client cannot serve it."
        )
    return redis_connection(store, asynchronous=False)


@contextmanager
def _reaching(redis_error: type[Exception]) -> Iterator[None]:
    try:
        yield
    except redis_error as error:
        raise BudgetStoreError(f"Redis: {error}") from error


class RedisBudgetStore:
    """Counts a budget in Redis, atomically, for every process sharing it."""

    blocking = True

    def __init__(self, store: object) -> None:
        self._redis = budget_connection(store)
        self._errors = _redis_error_class()
        self._hold = self._redis.register_script(_HOLD)
        self._settle = self._redis.register_script(_SETTLE)
        self._totals = self._redis.register_script(_TOTALS)
        self._checked = False
        self._check_server()

    def _check_server(self) -> None:
        """Warn (once per server) when the server may evict or forget the budget's keys; a
        server that cannot be reached now is checked again at the next hold."""
        durability = check_durability(self._redis, purpose="credit budget")
        if durability is not None:
            self._checked = True
            risk = "the credits counted in them would be forgotten (and spent again)"
            warn_evicting(self._redis, durability, purpose="credit budget", risk=risk)

    @staticmethod
    def _keys(key: str) -> list[str]:
        base = _PREFIX + "{" + key + "}"
        return [
            base + ":used",
            base + ":held",
            base + ":expiry",
            base + ":spent",
            base + ":holds",
            base + ":settled",
        ]

    def hold(
        self,
        key: str,
        hold_id: str,
        amount: float,
        limit: float,
        now: float,
        ttl: float,
        keep: float,
        exclusive: bool = False,
    ) -> tuple[bool, Totals]:
        """Hold ``amount`` if the budget allows it (one atomic script)."""
        if not self._checked:
            self._check_server()
        args: list[object] = [hold_id, to_micro(amount), to_micro(limit), repr(now)]
        args += [repr(now + ttl), _seconds(keep), "1" if exclusive else "0"]
        with _reaching(self._errors):
            granted, spent, held = self._hold(keys=self._keys(key), args=args)
        return int(granted) == 1, Totals(_credits(spent), _credits(held))

    def settle(
        self, key: str, hold_id: str, charge: float, keep: float, settle_id: str = ""
    ) -> None:
        """Drop a hold and count ``charge`` (one atomic script), once per ``settle_id``."""
        args = [hold_id, to_micro(charge), _seconds(keep), settle_id, repr(time.time())]
        with _reaching(self._errors):
            self._settle(keys=self._keys(key), args=args)

    def totals(self, key: str, now: float) -> Totals:
        """Credits spent and held by live holds."""
        with _reaching(self._errors):
            spent, held = self._totals(keys=self._keys(key), args=[repr(now)])
        return Totals(_credits(spent), _credits(held))

    def clear(self, key: str) -> None:
        """Delete the budget's keys."""
        with _reaching(self._errors):
            self._redis.delete(*self._keys(key))


def _redis_error_class() -> type[Exception]:
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - a client object without redis-py installed
        return OSError
    return RedisError


def _seconds(keep: float) -> int:
    """A key lifetime for ``EXPIRE``: ``0`` (keep forever) stays ``0``, else at least 1 s."""
    return 0 if keep <= 0 else max(int(keep), 1)
