"""The Redis side of shared pacing: the two Lua scripts and the runner that sends them.

The scripts make the `Pacer`'s decisions on counts kept in Redis, each in one atomic round trip.
Every time in them is on the Knouds server's clock, as the calling process judges it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._core.pacing import StoreCall
from .redis import is_async_redis_client

__all__ = ["ACQUIRE", "RELEASE", "ScriptRunner", "StoreCall"]

# KEYS: the bucket's state hash, its in-flight sorted set (token -> lease end), and the tokens
# given up (sorted set: token -> lease end): slots handed back without a response, and
# reservations whose answer never came back (the store stalled) and that the client paced
# without. A reservation arriving after its token was given up is refused, so a stalled
# server running it late cannot pin a slot its client never uses.
# ARGV: now (server clock), pace, token, lease, margin, poll, seed limit/remaining/reset
# (what this process last saw, or ""), then tokens to drop.
ACQUIRE = """
local state, inflight, gone = KEYS[1], KEYS[2], KEYS[3]
local now, pace, token = tonumber(ARGV[1]), ARGV[2] == '1', ARGV[3]
local lease, margin, poll = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 10, #ARGV do
  redis.call('ZREM', inflight, ARGV[i])
  redis.call('ZADD', gone, now + lease, ARGV[i])
end
redis.call('ZREMRANGEBYSCORE', gone, '-inf', now)
if #ARGV >= 10 then redis.call('PEXPIRE', gone, math.ceil(lease * 1000)) end
if redis.call('ZSCORE', gone, token) then return {0, 0} end
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
local s = redis.call('HMGET', state, 'limit', 'reset', 'rolled', 'sent', 'external')
local limit, reset, rolled = tonumber(s[1]), tonumber(s[2]), s[3] == '1'
local sent, external = tonumber(s[4]) or 0, tonumber(s[5]) or 0
if not limit and ARGV[7] ~= '' then
  limit, reset, rolled = tonumber(ARGV[7]), tonumber(ARGV[9]), false
  external = math.max(0, limit - tonumber(ARGV[8]) - sent)
  redis.call('HSET', state, 'learnt', now)
end
local wait = 0
if limit then
  local busy = redis.call('ZCARD', inflight)
  if not rolled and now >= reset + margin then
    rolled, sent, external = true, busy, 0
  end
  if pace and limit - sent - external <= 0 then
    if not rolled then
      wait = math.max(reset + margin - now, 0.001)
    elseif busy > 0 then
      wait = poll
    else
      sent, external = 0, 0
    end
  end
  redis.call('HSET', state, 'limit', limit, 'reset', reset)
end
if wait == 0 then
  sent = sent + 1
  redis.call('ZADD', inflight, now + lease, token)
end
redis.call('HSET', state, 'sent', sent, 'external', external, 'rolled', rolled and 1 or 0)
local ttl = math.ceil((lease + math.max(0, (reset or now) - now)) * 1000)
redis.call('PEXPIRE', state, ttl)
redis.call('PEXPIRE', inflight, ttl)
if wait == 0 then return {1, 0} end
return {0, math.ceil(wait * 1000000)}
"""

# KEYS: as above (the third unused). ARGV: token, limit, remaining, reset (all "" when the
# response had no headers), now, lease. An answer naming an older window than the one learnt is
# ignored, unless its request was reserved after that window was learnt (its lease, set when it
# was reserved, tells when; a second of margin, as processes' estimates of the server's clock
# differ by about that) and its window is still ahead: then the earlier answer was wrong, and
# this one corrects it.
RELEASE = """
local state, inflight = KEYS[1], KEYS[2]
local leased = tonumber(redis.call('ZSCORE', inflight, ARGV[1]))
redis.call('ZREM', inflight, ARGV[1])
if ARGV[2] == '' then return 0 end
local limit, remaining, new = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local now, lease = tonumber(ARGV[5]), tonumber(ARGV[6])
local s = redis.call('HMGET', state, 'reset', 'rolled', 'sent', 'external', 'learnt')
local reset, rolled = tonumber(s[1]), s[2] == '1'
local sent, external = tonumber(s[3]) or 0, tonumber(s[4]) or 0
local later = leased ~= nil and new > now and leased - lease > (tonumber(s[5]) or now) + 1
if reset and new < reset and not later then return 0 end
if not reset or new ~= reset then
  if reset and not rolled then sent = redis.call('ZCARD', inflight) + 1 end
  reset, rolled, external = new, false, 0
  redis.call('HSET', state, 'learnt', now)
elseif rolled then
  redis.call('HSET', state, 'limit', limit)
  return 0
end
external = math.max(external, limit - remaining - sent)
redis.call('HSET', state, 'limit', limit, 'reset', reset, 'rolled', rolled and 1 or 0,
  'sent', sent, 'external', external)
local ttl = math.ceil((lease + math.max(0, reset - now)) * 1000)
redis.call('PEXPIRE', state, ttl)
redis.call('PEXPIRE', inflight, ttl)
return 1
"""


class ScriptRunner:
    """Runs the pacing scripts on one redis-py client; never raises (failures are returned)."""

    def __init__(self, client: Any, *, asynchronous: bool, owned: bool, timeout: float) -> None:
        self.client = client
        self.owned = owned
        self._scripts = {
            "acquire": client.register_script(ACQUIRE),
            "release": client.register_script(RELEASE),
        }
        self._in_thread = asynchronous and not is_async_redis_client(client)
        # A client built from a URL enforces the timeout on its sockets; a passed-in asyncio
        # client gets it from asyncio instead.
        self._timeout = None if owned else timeout

    def run(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object:
        """Run a script, returning its reply or the exception it raised."""
        try:
            return self._scripts[script](keys=keys, args=args)
        except Exception as exc:
            return exc

    async def arun(self, script: str, keys: Sequence[str], args: Sequence[object]) -> object:
        """Like `run`, awaited: a sync client runs in a worker thread."""
        import asyncio  # here: sync programs never load asyncio for the SDK

        try:
            if self._in_thread:
                return await asyncio.to_thread(self._scripts[script], keys=keys, args=args)
            call = self._scripts[script](keys=keys, args=args)
            if self._timeout is None:
                return await call
            return await asyncio.wait_for(call, self._timeout)
        except Exception as exc:
            return exc

    def close(self) -> None:
        """Close a sync client this SDK built."""
        if self.owned and not is_async_redis_client(self.client):
            self.client.close()

    async def aclose(self) -> None:
        """Close a client this SDK built, sync or asyncio."""
        if not self.owned:
            return
        if is_async_redis_client(self.client):
            await self.client.aclose()
        else:
            self.client.close()
