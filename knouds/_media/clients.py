"""The HTTP clients media is fetched with: a lazily built shared ``httpx.Client`` for sync calls,
and a fresh ``httpx.AsyncClient`` per async call (an async client is bound to one event loop).
Neither ever carries the API key."""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx

from .fetch import (
    DEFAULT_MEDIA_TIMEOUT,
    MEDIA_HEADERS,
)

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_CHUNK_SIZE", "shared_client"]

DEFAULT_CHUNK_SIZE = 64 * 1024

_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """The process-wide sync client for media, built on first use. It never holds a key."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.is_closed:
            _shared = httpx.Client(headers=MEDIA_HEADERS, timeout=DEFAULT_MEDIA_TIMEOUT)
            atexit.register(_shared.close)
        return _shared


@contextlib.contextmanager
def _media_client(given: httpx.Client | None) -> Iterator[httpx.Client]:
    """``given``, else the shared client (left open for the next download)."""
    yield given if given is not None else shared_client()


@contextlib.asynccontextmanager
async def _async_media_client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    """``given``, else a client of this call's own, closed when the call ends."""
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(headers=MEDIA_HEADERS, timeout=DEFAULT_MEDIA_TIMEOUT) as client:
        yield client
