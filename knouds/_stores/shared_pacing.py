"""`SharedPacing`: pacing counted in Redis, so every process and machine using one namespace
shares one rate-limit window. The decisions are the in-process `Pacer`'s, written once more as two
Lua scripts (``pacing_scripts``) so that reserving and handing back a slot are each one atomic
round trip; a store that fails or is slow never breaks a call (the process paces on its own until
the store answers again).
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Literal

from .._exceptions import RateLimitStoreError
from .._types import Clock

# The pacer's own constants, so both stores decide alike.
from ..models._ratelimit import _RESET_MARGIN, _UNKNOWN_RESET_POLL, RateLimit
from .pacer import Pacer, Ticket
from .pacing_scripts import ScriptRunner, StoreCall

__all__ = ["Fallback", "PaceTicket", "SharedPacing", "SharedTicket"]

logger = logging.getLogger("knouds")

Fallback = Literal["local", "raise"]

# A request in flight longer than this has landed in some window already; forgetting its slot
# then only matters if its process died without handing it back. Knouds windows are a minute.
_LEASE = 60.0
# After a failure, ask the store again this often (one probe at a time) while pacing locally.
_PROBE_INTERVAL = 1.0
# A store failing again this soon after it came back is the same outage (a pooled connection that
# went stale during it, a flapping link): no second warning.
_SETTLE = 10.0
# Slots handed back without a round trip (a cancelled call) ride along with the next acquire.
_MAX_ABANDONED = 256


@dataclass(eq=False)
class SharedTicket:
    """A slot reserved in the shared store."""

    bucket: str
    token: str


PaceTicket = Ticket | SharedTicket


class _Outage:
    """Whether the store is down, shared by the pacings of one connection (a client and its
    ``with_options`` copies for other keys), so an outage is noticed and reported once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = False
        self.warned = False
        self.probe_at = 0.0
        self.settled_at = 0.0


class SharedPacing:
    """Pacing whose counts live in Redis under one namespace, shared by every process using it.

    The local `Pacer` still learns every response's headers (it answers `snapshot` and takes over
    while the store is unreachable). Each process sends the store the time on the server's clock
    as it judges it (its own clock plus the skew it saw in ``Date`` headers), so windows follow
    the server's reset epochs whatever the machines' clocks say. A process that has had no
    response yet takes its own clock as right.
    """

    def __init__(
        self,
        runner: ScriptRunner,
        namespace: str,
        pacer: Pacer,
        clock: Clock,
        *,
        fallback: Fallback = "local",
        owns_connection: bool = False,
        outage: _Outage | None = None,
    ) -> None:
        self.pacer = pacer
        # Whether this object's creator opened the connection (and its client closes it).
        self.owns_connection = owns_connection
        self.runner = runner
        self.namespace = namespace
        self.fallback = fallback
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[str, str, str]] = {}
        self._seen: dict[str, RateLimit] = {}
        # How far the server's clock is ahead of ours, from the newest response of any bucket.
        self._offset = 0.0
        self._abandoned: dict[str, list[str]] = {}
        self._tokens = itertools.count(1)
        self._token_prefix = secrets.token_hex(6)
        self._outage = outage if outage is not None else _Outage()

    def sibling(self, namespace: str, pacer: Pacer) -> SharedPacing:
        """Pacing for another namespace on the same store connection."""
        return SharedPacing(
            self.runner,
            namespace,
            pacer,
            self._clock,
            fallback=self.fallback,
            outage=self._outage,
        )

    @property
    def available(self) -> bool:
        """Whether the last exchange with the store succeeded."""
        return not self._outage.down

    def _bucket_keys(self, bucket: str) -> tuple[str, str, str]:
        keys = self._keys.get(bucket)
        if keys is None:
            # One hash tag per namespace and bucket: the keys live in one cluster slot.
            base = f"knouds:ratelimit:{{{self.namespace}:{bucket}}}"
            keys = self._keys[bucket] = (base, f"{base}:inflight", f"{base}:gone")
        return keys

    def _server_now(self) -> float:
        return self._clock() + self._offset

    def _use_store(self) -> bool:
        outage = self._outage
        if not outage.down or self.fallback == "raise":
            return True
        with outage.lock:
            now = self._clock()
            if now < outage.probe_at:
                return False
            outage.probe_at = now + _PROBE_INTERVAL
            return True

    def acquire(
        self, bucket: str, *, pace: bool
    ) -> Generator[StoreCall, object, tuple[PaceTicket | None, float]]:
        """Reserve a slot in the store, or fall back to the local pacer while it is away."""
        if self._use_store():
            # The process id keeps the tokens of processes forked from one client apart.
            token = f"{self._token_prefix}:{os.getpid()}:{next(self._tokens)}"
            seen = self._seen.get(bucket)
            seed: tuple[object, ...] = (
                (seen.limit, seen.remaining, seen.reset) if seen is not None else ("", "", "")
            )
            with self._lock:
                dropped = self._abandoned.pop(bucket, [])
            args = (
                repr(self._server_now()),
                int(pace),
                token,
                _LEASE,
                _RESET_MARGIN,
                _UNKNOWN_RESET_POLL,
                *seed,
                *dropped,
            )
            reply = yield StoreCall(self.runner, "acquire", self._bucket_keys(bucket), args)
            decision = _read_acquire(reply)
            if decision is not None:
                self._answered()
                granted, wait = decision
                return (SharedTicket(bucket, token) if granted else None), wait
            # No answer, yet the store may run the reservation once it wakes (a stall): give
            # its token up, so that the next reservation drops it, or the store refuses it.
            self.abandon(SharedTicket(bucket, token))
            self._failed(reply, bucket)
        return self.pacer.acquire(bucket, pace=pace)

    def release(
        self, ticket: PaceTicket, rate_limit: RateLimit | None
    ) -> Generator[StoreCall, object, None]:
        """Hand a slot back to where it was taken, teaching both stores the response's headers."""
        if isinstance(ticket, Ticket):
            self.pacer.release(ticket, rate_limit)
            if rate_limit is not None:
                self._learn(ticket.bucket, rate_limit)
            return
        if rate_limit is None:
            self.abandon(ticket)
            return
        self._learn(ticket.bucket, rate_limit)
        # The local pacer learns the window too, without counting the request (seq 0 is never
        # handed out), so it can take over at once if the store goes away.
        self.pacer.release(Ticket(ticket.bucket, 0), rate_limit)
        args = (
            ticket.token,
            rate_limit.limit,
            rate_limit.remaining,
            repr(rate_limit.reset),
            repr(self._server_now()),
            _LEASE,
        )
        reply = yield StoreCall(self.runner, "release", self._bucket_keys(ticket.bucket), args)
        if isinstance(reply, BaseException):
            # The response is in hand: a store failure now must not cost the caller's result.
            # The slot is handed back again with the next reservation.
            self.abandon(ticket)
            self._failed(reply, ticket.bucket, raising=False)
        else:
            self._answered()

    def _learn(self, bucket: str, rate_limit: RateLimit) -> None:
        self._seen[bucket] = rate_limit
        self._offset = rate_limit.clock_offset

    def abandon(self, ticket: PaceTicket) -> None:
        """Hand a slot back without I/O: the next acquire in its bucket tells the store."""
        if isinstance(ticket, Ticket):
            self.pacer.release(ticket, None)
            return
        with self._lock:
            dropped = self._abandoned.setdefault(ticket.bucket, [])
            if len(dropped) < _MAX_ABANDONED:  # beyond that, leases expire them
                dropped.append(ticket.token)

    def snapshot(self) -> dict[str, RateLimit]:
        """The last rate-limit state each bucket reported to this process."""
        return self.pacer.snapshot()

    def _answered(self) -> None:
        outage = self._outage
        if not outage.down:
            return
        with outage.lock:
            outage.down = False
            outage.settled_at = self._clock() + _SETTLE
            announce, outage.warned = outage.warned, False
        if announce:
            logger.info("Rate-limit store answers again: pacing is shared again")

    def _failed(self, reply: object, bucket: str, *, raising: bool = True) -> None:
        outage = self._outage
        with outage.lock:
            now = self._clock()
            first = not outage.down and now >= outage.settled_at
            outage.down = True
            outage.warned = outage.warned or first
            outage.probe_at = now + _PROBE_INTERVAL
        reason = _describe(reply)
        if first:
            action = (
                "calls raise RateLimitStoreError until it answers"
                if self.fallback == "raise"
                else "each process paces on its own until it answers again"
            )
            logger.warning("Rate-limit store unavailable (%s): %s", reason, action)
        if raising and self.fallback == "raise":
            raise RateLimitStoreError(
                f"The rate-limit store did not answer ({reason}), so the {bucket} rate-limit "
                "window shared with other processes could not be checked"
            )


def _read_acquire(reply: object) -> tuple[bool, float] | None:
    if isinstance(reply, (list, tuple)) and len(reply) == 2:
        granted, wait = reply
        if isinstance(granted, int) and isinstance(wait, int):
            return granted == 1, wait / 1_000_000
    return None


def _describe(reply: object) -> str:
    if isinstance(reply, BaseException):
        text = str(reply).strip().splitlines()[0] if str(reply).strip() else ""
        name = type(reply).__name__
        return f"{name}: {text[:200]}" if text else name
    return f"unexpected reply {type(reply).__name__}"
