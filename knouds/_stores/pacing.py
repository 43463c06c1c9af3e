"""Where the pacer keeps its counts: in this process (the default) or in Redis, shared.

`LocalPacing` is today's in-process `Pacer` behind the interface the call flow uses.
`SharedPacing` keeps each window's count in Redis, so every process and machine using the same
namespace spends one budget. The decisions are the `Pacer`'s, written once more as two Lua scripts
so that reserving and handing back a slot are each one atomic round trip.

Both are sans-I/O towards the call flow: `acquire` and `release` are generators that yield
`StoreCall` commands, which the client shells run (sync or awaited) like they send requests. A
store that fails or is slow never breaks a call: the process paces on its own until the store
answers again, logging one warning per outage (or raises `RateLimitStoreError` when asked to).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Generator
from typing import Protocol

from .._core.checks import bad_setting
from .._core.settings import resolve_rate_limit_store
from .._exceptions import ConfigurationError
from .._types import Clock
from ..models._ratelimit import RateLimit
from .pacer import Pacer, Ticket
from .pacing_scripts import ScriptRunner, StoreCall
from .redis import DEFAULT_REDIS_TIMEOUT, is_redis_client, is_redis_url, redis_connection
from .shared_pacing import Fallback, PaceTicket, SharedPacing, SharedTicket

__all__ = [
    "Fallback",
    "LocalPacing",
    "PaceTicket",
    "Pacing",
    "ScriptRunner",
    "SharedPacing",
    "SharedTicket",
    "StoreCall",
    "build_pacing",
    "derive_namespace",
    "validate_namespace",
]

_NAMESPACE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def build_pacing(
    target: object,
    namespace: str | None,
    fallback: object,
    *,
    pacer: Pacer,
    clock: Clock,
    default_namespace: Callable[[], str],
    asynchronous: bool,
) -> Pacing:
    """The pacing a client asked for: its settings checked, a Redis connection opened if needed.

    Args:
        target: ``rate_limit_store`` as given (``None`` reads the environment), or the
            `SharedPacing` of the client a ``with_options`` copy is made from.
        namespace: ``rate_limit_namespace``; ``None`` calls ``default_namespace``.
        fallback: ``rate_limit_store_fallback``.
        pacer: the client's in-process pacer.
        clock: the client's clock.
        default_namespace: the key-derived namespace.
        asynchronous: for an ``AsyncClient``.
    """
    if fallback not in ("local", "raise"):
        raise bad_setting("rate_limit_store_fallback", "'local' or 'raise'", fallback)
    mode: Fallback = "raise" if fallback == "raise" else "local"
    if namespace is not None:
        validate_namespace(namespace)
    if isinstance(target, SharedPacing):  # a with_options copy: the same connection
        return target.sibling(namespace or default_namespace(), pacer)
    target = resolve_rate_limit_store(target)
    if target is not None and not isinstance(target, str) and not is_redis_client(target):
        raise ConfigurationError(
            "rate_limit_store must be a redis:// or rediss:// URL, a redis-py client, or "
            f"'local', got an object of type {type(target).__name__!r}; nothing was sent."
        )
    if target is None:
        return LocalPacing(pacer)
    owned = is_redis_url(target)
    runner = ScriptRunner(
        redis_connection(target, asynchronous=asynchronous),
        asynchronous=asynchronous,
        owned=owned,
        timeout=DEFAULT_REDIS_TIMEOUT,
    )
    return SharedPacing(
        runner,
        namespace or default_namespace(),
        pacer,
        clock,
        fallback=mode,
        owns_connection=owned,
    )


def derive_namespace(api_key: str, base_url: str) -> str:
    """The namespace of a key's rate-limit window: a keyed hash; the key never reaches Redis."""
    digest = hashlib.blake2b(
        f"{base_url}\n{api_key}".encode(), key=b"knouds rate-limit namespace", digest_size=16
    )
    return digest.hexdigest()


def validate_namespace(namespace: str) -> str:
    """Check an explicit namespace: 1 to 128 letters, digits or ``. _ : -``."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise bad_setting(
            "rate_limit_namespace", "1 to 128 letters, digits or . _ : - characters", namespace
        )
    return namespace


class Pacing(Protocol):
    """What the call flow asks of a store: reserve a slot, hand it back, report state."""

    pacer: Pacer

    def acquire(
        self, bucket: str, *, pace: bool
    ) -> Generator[StoreCall, object, tuple[PaceTicket | None, float]]:
        """Reserve a slot, or say how many seconds to wait before asking again."""
        ...

    def release(
        self, ticket: PaceTicket, rate_limit: RateLimit | None
    ) -> Generator[StoreCall, object, None]:
        """Hand a slot back with what its response's headers said."""
        ...

    def abandon(self, ticket: PaceTicket) -> None:
        """Hand a slot back without I/O (a failed or cancelled request)."""
        ...

    def snapshot(self) -> dict[str, RateLimit]:
        """The last rate-limit state each bucket reported."""
        ...


class LocalPacing:
    """In-process pacing: every thread and task of one client (and its copies) share a `Pacer`."""

    def __init__(self, pacer: Pacer) -> None:
        self.pacer = pacer

    def acquire(
        self, bucket: str, *, pace: bool
    ) -> Generator[StoreCall, object, tuple[PaceTicket | None, float]]:
        """See `Pacer.acquire`; yields nothing."""
        return self.pacer.acquire(bucket, pace=pace)
        yield  # a generator, like the shared store's  # pragma: no cover

    def release(
        self, ticket: PaceTicket, rate_limit: RateLimit | None
    ) -> Generator[StoreCall, object, None]:
        """See `Pacer.release`; yields nothing."""
        assert isinstance(ticket, Ticket)
        self.pacer.release(ticket, rate_limit)
        return
        yield  # pragma: no cover

    def abandon(self, ticket: PaceTicket) -> None:
        """Hand the slot back with nothing learnt."""
        assert isinstance(ticket, Ticket)
        self.pacer.release(ticket, None)

    def snapshot(self) -> dict[str, RateLimit]:
        """See `Pacer.snapshot`."""
        return self.pacer.snapshot()
