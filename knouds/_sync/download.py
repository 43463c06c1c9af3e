# Generated from knouds/_async/download.py by scripts/unasync.py:
# edit that file, not this one.
"""The downloads of run outputs (media files): `iter_media`, `save_media` and `save_all`.

Media URLs are plain HTTPS links (presigned S3 objects), fetched with an HTTP client of their own
that never carries the API key (`knouds._media.clients`). Every decision lives elsewhere: which
URL, redirect, status and size is accepted in `knouds._media.fetch`, where and how the file is
written in `knouds._media.files`.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .._core.checks import check_download
from .._media.clients import DEFAULT_CHUNK_SIZE, _media_client
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

__all__ = ["iter_media", "save_all", "save_media"]


def iter_media(
    url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> Generator[bytes, None]:
    """Stream the file at ``url`` in chunks (see `knouds.Media.iter_bytes`)."""
    check_download(
        max_bytes=max_bytes,
        timeout=timeout,
        http_client=http_client,
        asynchronous=False,
        chunk_size=chunk_size,
    )
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
                raise fetch.broken(exc) from fetch.cause(exc)


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
    check_download(
        max_bytes=max_bytes, timeout=timeout, http_client=http_client, asynchronous=False
    )
    check_url(url)
    with disk_errors(url):
        target = destination(path_or_dir, filename)
    chunks = iter_media(url, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
    try:
        with disk_errors(url, target), PartFile(target, overwrite=overwrite) as out:
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
    check_download(
        max_bytes=max_bytes, timeout=timeout, http_client=http_client, asynchronous=False
    )
    for item in media:
        check_url(item.url)
    into = as_directory(directory)
    with _media_client(http_client) as client:
        return [
            save_media(m.url, into, name, max_bytes=max_bytes, timeout=timeout, http_client=client)
            for m, name in named(media)
        ]
