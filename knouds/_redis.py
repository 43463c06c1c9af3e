"""From a ``redis://`` URL or a ready redis-py client to a connection the SDK can use.

Features that keep shared state in Redis accept either form. redis-py (the ``knouds[redis]``
extra) is imported here only, and only when one of them is chosen, so ``import knouds`` never
loads it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_REDIS_TIMEOUT",
    "REDIS_SCHEMES",
    "is_async_redis_client",
    "is_redis_client",
    "is_redis_url",
    "redis_connection",
]

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# A store that takes longer than this to answer is treated as down: the SDK's own work must not
# wait on it.
DEFAULT_REDIS_TIMEOUT = 0.5
_INSTALL_HINT = (
    'Install the Redis support with: pip install "knouds[redis]" '
    '(from a checkout of the repository: pip install ".[redis]")'
)


def is_redis_url(value: object) -> bool:
    """Whether ``value`` is a string naming a Redis server (``redis://``, ``rediss://``,
    ``unix://``)."""
    return isinstance(value, str) and value.strip().lower().startswith(REDIS_SCHEMES)


def _redis_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(f"The Redis support needs redis-py. {_INSTALL_HINT}") from exc


def is_async_redis_client(value: object) -> bool:
    """Whether ``value`` looks like a ``redis.asyncio`` client (its commands are coroutines)."""
    if type(value).__module__.startswith("redis.asyncio"):
        return True
    execute = getattr(value, "execute_command", None)
    return execute is not None and inspect.iscoroutinefunction(execute)


def is_redis_client(value: object) -> bool:
    """Whether ``value`` looks like a redis-py client, sync or ``redis.asyncio`` (duck-typed, so
    redis-py is not imported to answer)."""
    return all(callable(getattr(value, name, None)) for name in ("evalsha", "script_load"))


def redis_connection(
    target: object, *, asynchronous: bool, timeout: float = DEFAULT_REDIS_TIMEOUT
) -> Any:
    """A redis-py client for ``target``: a URL or a client the caller already has.

    From a URL the client is built with ``timeout`` as its connect and read timeout and no retries
    of its own, so an unreachable server is noticed within ``timeout`` seconds; a passed client is
    used as it is (its own timeouts apply; the shared store still bounds each call of a
    ``redis.asyncio`` client by ``timeout``).

    Args:
        target: ``"redis://host:port/db"``, ``"rediss://..."`` (TLS), ``"unix:///path?db=0"``, or
            a ``redis.Redis`` / ``redis.asyncio.Redis`` (cluster clients work too).
        asynchronous: build a ``redis.asyncio`` client from a URL (for code running in an event
            loop); a sync one otherwise.
        timeout: seconds for connecting and for each answer, for clients built from a URL.

    Returns:
        The client. A sync client passed with ``asynchronous=True`` is returned as it is: the
        caller runs its commands in a worker thread.

    Raises:
        ConfigurationError: redis-py is not installed, the URL does not parse, the target is
            neither a URL nor a client, or an asyncio client is passed for synchronous use.
    """
    if is_redis_url(target):
        assert isinstance(target, str)
        module = _redis_module("redis.asyncio" if asynchronous else "redis")
        retry_module = _redis_module("redis.asyncio.retry" if asynchronous else "redis.retry")
        backoff = _redis_module("redis.backoff")
        try:
            return module.Redis.from_url(
                target.strip(),
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=retry_module.Retry(backoff.NoBackoff(), 0),
            )
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(
                f"The Redis URL is not valid ({exc}); expected redis://host:port/db."
            ) from None
    if is_redis_client(target):
        if not asynchronous and is_async_redis_client(target):
            raise ConfigurationError(
                "A redis.asyncio client cannot serve the synchronous knouds.Client; pass a "
                "redis.Redis client or a redis:// URL."
            )
        return target
    raise ConfigurationError(
        f"Expected a redis:// or rediss:// URL or a redis-py client, got {type(target).__name__}."
    )
