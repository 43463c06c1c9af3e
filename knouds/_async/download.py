"""The downloads of run outputs (media files): `aiter_media`, `asave_media` and `asave_all`.

Media URLs are plain HTTPS links (presigned S3 objects), fetched with an HTTP client of their own
that never carries the API key (`knouds._media.clients`). Every decision lives elsewhere: which
URL, redirect, status and size is accepted in `knouds._media.fetch`, where and how the file is
written in `knouds._media.files`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .._core.checks import check_download
from .._media.clients import DEFAULT_CHUNK_SIZE, _async_media_client
from .._media.fetch import (
    TRANSPORT_ERRORS,
    Fetch,
    MediaTimeout,
    check_url,
)
from .._media.files import PartFile, PathLike, as_directory, destination, disk_errors, named
from .._types import NOT_GIVEN

if TYPE_CHECKING:
    from ..models import Media

__all__ = ["aiter_media", "asave_all", "asave_media"]


async def aiter_media(
    url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.AsyncClient | None = None,
) -> AsyncGenerator[bytes, None]:
    """Stream the file at ``url`` in chunks (see `knouds.Media.aiter_bytes`)."""
    check_download(
        max_bytes=max_bytes,
        timeout=timeout,
        http_client=http_client,
        asynchronous=True,
        chunk_size=chunk_size,
    )
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
                raise fetch.broken(exc) from fetch.cause(exc)


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
    check_download(max_bytes=max_bytes, timeout=timeout, http_client=http_client, asynchronous=True)
    check_url(url)
    with disk_errors(url):
        target = destination(path_or_dir, filename)
    chunks = aiter_media(url, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
    try:
        with disk_errors(url, target), PartFile(target, overwrite=overwrite) as out:
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
    check_download(max_bytes=max_bytes, timeout=timeout, http_client=http_client, asynchronous=True)
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
