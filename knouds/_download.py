"""Fetching run outputs (media files): the sync and async shells that move the bytes.

Media URLs are plain HTTPS links (presigned S3 objects). They are fetched with an HTTP client of
their own that never carries the API key: a lazily built shared ``httpx.Client`` for sync calls,
and a fresh ``httpx.AsyncClient`` per async call (an async client is bound to one event loop).

Every decision lives elsewhere: which URL, redirect, status and size is accepted in
`knouds._media.fetch`, where and how the file is written in `knouds._media.files`. The sync
functions are generated from the async ones by ``scripts/unasync.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from ._media.fetch import (
    DEFAULT_MEDIA_TIMEOUT,
    MEDIA_HEADERS,
    TRANSPORT_ERRORS,
    Fetch,
    MediaTimeout,
    check_url,
)
from ._media.files import PartFile, PathLike, as_directory, destination, named
from ._types import NOT_GIVEN

if TYPE_CHECKING:
    from .models import Media

__all__ = [
    "aiter_media",
    "asave_all",
    "asave_media",
    "iter_media",
    "save_all",
    "save_media",
    "shared_client",
]

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


# unasync: sync. Generated from the async functions below by scripts/unasync.py: edit those.
def iter_media(
    url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> Generator[bytes, None]:
    """Stream the file at ``url`` in chunks (see `knouds.Media.iter_bytes`)."""
    fetch = Fetch(url, max_bytes, timeout)
    with _media_client(http_client) as client:
        while True:
            try:
                # Never the client's own redirect handling: each hop is checked here (HTTPS only,
                # at most MAX_REDIRECTS), whatever the client passed in was built with.
                response = client.send(fetch.request(client), stream=True, follow_redirects=False)
                try:
                    if fetch.is_file(response):
                        for chunk in response.iter_bytes(chunk_size):
                            yield fetch.count(chunk)
                        return
                finally:
                    response.close()
            except TRANSPORT_ERRORS as exc:
                raise fetch.broken(exc) from exc


def save_media(
    url: str,
    path_or_dir: PathLike,
    filename: str,
    *,
    max_bytes: int | None = None,
    overwrite: bool = True,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> Path:
    """Save the file at ``url`` (see `knouds.Media.save`)."""
    check_url(url)
    target = destination(path_or_dir, filename)
    chunks = iter_media(url, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
    try:
        with PartFile(target, overwrite=overwrite) as out:
            for chunk in chunks:
                out.write(chunk)
    finally:
        chunks.close()
    return target


def save_all(
    media: list[Media],
    directory: PathLike,
    *,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> list[Path]:
    """Save every file into ``directory`` (see `knouds.RunResult.save_all`), over one
    connection pool."""
    for item in media:
        check_url(item.url)
    into = as_directory(directory)
    with _media_client(http_client) as client:
        return [
            save_media(m.url, into, name, max_bytes=max_bytes, timeout=timeout, http_client=client)
            for m, name in named(media)
        ]


# unasync: end


# unasync: async. The source of the sync functions above.
async def aiter_media(
    url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.AsyncClient | None = None,
) -> AsyncGenerator[bytes, None]:
    """Stream the file at ``url`` in chunks (see `knouds.Media.aiter_bytes`)."""
    fetch = Fetch(url, max_bytes, timeout)
    async with _async_media_client(http_client) as client:
        while True:
            try:
                # Never the client's own redirect handling: each hop is checked here (HTTPS only,
                # at most MAX_REDIRECTS), whatever the client passed in was built with.
                response = await client.send(
                    fetch.request(client), stream=True, follow_redirects=False
                )
                try:
                    if fetch.is_file(response):
                        async for chunk in response.aiter_bytes(chunk_size):
                            yield fetch.count(chunk)
                        return
                finally:
                    await response.aclose()
            except TRANSPORT_ERRORS as exc:
                raise fetch.broken(exc) from exc


async def asave_media(
    url: str,
    path_or_dir: PathLike,
    filename: str,
    *,
    max_bytes: int | None = None,
    overwrite: bool = True,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.AsyncClient | None = None,
) -> Path:
    """Save the file at ``url`` (see `knouds.Media.asave`)."""
    check_url(url)
    target = destination(path_or_dir, filename)
    chunks = aiter_media(url, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
    try:
        with PartFile(target, overwrite=overwrite) as out:
            async for chunk in chunks:
                out.write(chunk)
    finally:
        await chunks.aclose()
    return target


async def asave_all(
    media: list[Media],
    directory: PathLike,
    *,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.AsyncClient | None = None,
) -> list[Path]:
    """Save every file into ``directory`` (see `knouds.RunResult.asave_all`), over one
    connection pool."""
    for item in media:
        check_url(item.url)
    into = as_directory(directory)
    async with _async_media_client(http_client) as client:
        return [
            await asave_media(
                m.url, into, name, max_bytes=max_bytes, timeout=timeout, http_client=client
            )
            for m, name in named(media)
        ]


# unasync: end
