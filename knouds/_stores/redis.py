"""From a ``redis://`` URL or a ready redis-py client to a connection the SDK can use.

Features that keep shared state in Redis accept either form. redis-py (the ``knouds[redis]``
extra) is imported here only, and only when one of them is chosen, so ``import knouds`` never
loads it.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from typing import Any

from .._core.settings import REDIS_SCHEMES, is_redis_url
from .._exceptions import ConfigurationError

__all__ = [
    "DEFAULT_REDIS_TIMEOUT",
    "REDIS_SCHEMES",
    "Durability",
    "check_durability",
    "is_async_redis_client",
    "is_redis_client",
    "is_redis_url",
    "redis_connection",
    "warn_evicting",
]

# A store that takes longer than this to answer is treated as down: the SDK's own work must not
# wait on it.
DEFAULT_REDIS_TIMEOUT = 0.5
_INSTALL_HINT = (
    'Install the Redis support with: pip install "knouds[redis]" '
    '(from a checkout of the repository: pip install ".[redis]")'
)
logger = logging.getLogger("knouds")


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


# -- whether a server keeps what is written to it ------------------------------------------------

_warned: set[tuple[str, str]] = set()  # (server, topic): each warning once per server
_warned_lock = threading.Lock()


class Durability:
    """What a Redis server said about keeping data: its eviction policy and persistence.

    Attributes:
        eviction: the ``maxmemory-policy`` (``"noeviction"`` keeps every key), or ``None`` when
            the server would not say (``CONFIG`` disabled, as on many managed services).
        persistent: whether AOF or RDB snapshots are on, or ``None`` when unknown.
    """

    def __init__(self, eviction: str | None, persistent: bool | None) -> None:
        self.eviction = eviction
        self.persistent = persistent

    @property
    def evicting(self) -> bool:
        """Whether the server may drop keys under memory pressure (a ``volatile-*`` policy drops
        keys that have a lifetime, which journal and budget keys do)."""
        return self.eviction is not None and self.eviction != "noeviction"


def _server_name(client: Any) -> str:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None)
    if isinstance(kwargs, dict):
        where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
        return f"{where}/{kwargs.get('db', 0)}"
    return f"{type(client).__name__}@{id(client):x}"


def _config(client: Any, name: str) -> str:
    reply = client.config_get(name)
    value = reply.get(name) if isinstance(reply, dict) else None
    if value is None:
        raise LookupError(f"CONFIG GET {name} returned {reply!r}")
    return value.decode() if isinstance(value, bytes) else str(value)


def _warn_once(server: str, topic: str, message: str, *args: object) -> None:
    with _warned_lock:
        if (server, topic) in _warned:
            return
        _warned.add((server, topic))
    logger.warning(message, *args)


def check_durability(client: Any, *, purpose: str) -> Durability | None:
    """Ask a Redis server whether it keeps what ``purpose`` writes, warning once per server.

    Reads ``CONFIG GET maxmemory-policy``, ``appendonly`` and ``save``. Persistence off (no AOF,
    no RDB snapshots: a restart forgets everything) is logged as a warning on the ``knouds``
    logger; so is a server that refuses ``CONFIG`` (the settings could not be checked). What an
    evicting policy means is for the caller to decide, from the answer.

    Args:
        client: a sync redis-py client.
        purpose: what the keys are, for the messages (``"run journal"``, ``"credit budget"``).

    Returns:
        What the server said, or ``None`` when it could not be reached (nothing is logged then:
        the caller may ask again later).
    """
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError, TimeoutError

    server = _server_name(client)
    try:
        eviction = _config(client, "maxmemory-policy")
        aof = _config(client, "appendonly")
        save = _config(client, "save")
    except (RedisConnectionError, TimeoutError):
        return None
    except (RedisError, LookupError, AttributeError) as error:
        _warn_once(
            server,
            "unchecked",
            "Could not check that the Redis server %s keeps the %s's keys (CONFIG GET refused: "
            "%s). It needs maxmemory-policy noeviction and AOF or RDB persistence; otherwise "
            "keys may be lost.",
            server,
            purpose,
            str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__,
        )
        return Durability(None, None)
    persistent = aof.strip().lower() == "yes" or bool(save.strip())
    if not persistent:
        _warn_once(
            server,
            "persistence",
            "The Redis server %s has persistence off (appendonly no, no save points): a restart "
            "loses the %s's keys. Turn on AOF (appendonly yes) or RDB snapshots.",
            server,
            purpose,
        )
    return Durability(eviction, persistent)


def warn_evicting(client: Any, durability: Durability | None, *, purpose: str, risk: str) -> None:
    """Log once per server that its eviction policy may drop ``purpose``'s keys, and what that
    would cost (``risk``)."""
    if durability is None or not durability.evicting:
        return
    server = _server_name(client)
    _warn_once(
        server,
        "eviction",
        "The Redis server %s has maxmemory-policy %s: under memory pressure it may evict the "
        "%s's keys, and %s. Set maxmemory-policy noeviction.",
        server,
        durability.eviction,
        purpose,
        risk,
    )
