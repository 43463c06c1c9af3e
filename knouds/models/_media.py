"""``Media``: one output file of a run, and how media is found in a result of any shape."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from .._types import NOT_GIVEN
from ._base import KnoudsModel as _Model

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from pathlib import Path

    import httpx

    from .._media.fetch import MediaTimeout
    from .._media.files import PathLike

__all__ = ["Media", "MediaKind", "collect_media", "collect_text"]

MediaKind = Literal["image", "video", "audio"]

_EXTENSIONS: dict[str, MediaKind] = {
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "webp", "gif", "bmp", "avif", "heic", "tif", "tiff"), "image"
    ),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi", "m4v"), "video"),
    **dict.fromkeys(("mp3", "wav", "ogg", "flac", "m4a", "aac", "opus"), "audio"),
}
_PLURAL: dict[str, MediaKind] = {
    "images": "image",
    "image": "image",
    "videos": "video",
    "video": "video",
    "audios": "audio",
    "audio": "audio",
}
_KIND_EXTENSION: dict[str, str] = {"image": ".png", "video": ".mp4", "audio": ".mp3"}


class Media(_Model):
    """One output file (image, video or audio) a run produced.

    Attributes:
        url: where the file is (a plain HTTPS URL; the API key is never sent to it).
        kind: ``"image"``, ``"video"`` or ``"audio"``.
    """

    url: str
    kind: str = "image"

    @property
    def filename(self) -> str:
        """A safe file name guessed from the URL (never a path), with an extension for its kind."""
        try:
            path = unquote(urlsplit(self.url).path)
        except ValueError:  # e.g. a malformed IPv6 host
            path = ""
        name = posixpath.basename(path.replace("\\", "/"))
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
        if not name:
            name = self.kind
        if "." not in name:
            name += _KIND_EXTENSION.get(self.kind, "")
        if len(name) <= 200:
            return name
        stem, _, ext = name.rpartition(".")  # cut the stem, keep a short extension
        return f"{stem[: 199 - len(ext)]}.{ext}" if stem and len(ext) <= 16 else name[:200]

    def read(
        self,
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.Client | None = None,
    ) -> bytes:
        """Download the file into memory. The API key is never sent to the media URL.

        Args:
            max_bytes: refuse a file larger than this many bytes (``None``: no limit).
            timeout: seconds to connect and to wait for each piece of the body (default 10 s and
                300 s), an ``httpx.Timeout``, or ``None`` for no limit.
            http_client: an ``httpx.Client`` to download with (for proxies or certificates);
                by default a shared client without credentials.

        Raises:
            MediaDownloadError: on an error status (an expired link answers 403), a URL that is
                not http(s), a redirect to plain HTTP or more than 5 redirects, a file over
                ``max_bytes``, or a broken connection.
            ConfigurationError: ``max_bytes`` that is not a whole number >= 0 (or ``None``),
                a bad ``timeout``, or an ``http_client`` that is not an ``httpx.Client``;
                nothing is sent.
        """
        chunks = self.iter_bytes(max_bytes=max_bytes, timeout=timeout, http_client=http_client)
        return b"".join(chunks)

    def iter_bytes(
        self,
        *,
        chunk_size: int = 65536,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.Client | None = None,
    ) -> Generator[bytes, None, None]:
        """Stream the file in chunks of up to ``chunk_size`` bytes, in constant memory.

        Other arguments and errors as for `read`; ``chunk_size`` is a whole number >= 1.
        """
        from .._sync.download import iter_media

        return iter_media(
            self.url,
            chunk_size=chunk_size,
            max_bytes=max_bytes,
            timeout=timeout,
            http_client=http_client,
        )

    def save(
        self,
        path_or_dir: PathLike = ".",
        *,
        max_bytes: int | None = None,
        overwrite: bool = True,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.Client | None = None,
    ) -> Path:
        """Download the file to disk, streaming in constant memory.

        The bytes go to a hidden temporary file beside the target, renamed into place only when
        complete: an interrupted or refused download leaves no file behind.

        Args:
            path_or_dir: a directory to save `filename` into (an existing one, a path
                ending in a separator, or a new path without a file extension, which is
                created), or the exact file path to write (``"out/fox.png"``).
            max_bytes: refuse a file larger than this many bytes (``None``: no limit).
            overwrite: replace an existing file (``False`` raises `MediaFileExistsError`, a
                ``FileExistsError``).
            timeout: as for `read`.
            http_client: as for `read`.

        Returns:
            The path written.

        Raises:
            MediaDownloadError: as for `read`, or if the name would leave the directory.
            MediaSaveError: the file could not be written (`MediaFileExistsError` when it
                exists and ``overwrite`` is ``False``); also an ``OSError``.
        """
        from .._sync.download import save_media

        return save_media(
            self.url,
            path_or_dir,
            self.filename,
            max_bytes=max_bytes,
            overwrite=overwrite,
            timeout=timeout,
            http_client=http_client,
        )

    async def aread(
        self,
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.AsyncClient | None = None,
    ) -> bytes:
        """Async twin of `read` (``http_client`` is an ``httpx.AsyncClient``)."""
        chunks = self.aiter_bytes(max_bytes=max_bytes, timeout=timeout, http_client=http_client)
        return b"".join([chunk async for chunk in chunks])

    def aiter_bytes(
        self,
        *,
        chunk_size: int = 65536,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.AsyncClient | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Async twin of `iter_bytes`: ``async for chunk in media.aiter_bytes(): ...``."""
        from .._async.download import aiter_media

        return aiter_media(
            self.url,
            chunk_size=chunk_size,
            max_bytes=max_bytes,
            timeout=timeout,
            http_client=http_client,
        )

    async def asave(
        self,
        path_or_dir: PathLike = ".",
        *,
        max_bytes: int | None = None,
        overwrite: bool = True,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.AsyncClient | None = None,
    ) -> Path:
        """Async twin of `save` (``http_client`` is an ``httpx.AsyncClient``)."""
        from .._async.download import asave_media

        return await asave_media(
            self.url,
            path_or_dir,
            self.filename,
            max_bytes=max_bytes,
            overwrite=overwrite,
            timeout=timeout,
            http_client=http_client,
        )

    def _repr_html_(self) -> str:
        from .._media.display import media_html

        return media_html(self)

    def __repr__(self) -> str:
        # Presigned URLs carry signatures in the query string: keep them out of logs.
        shown = self.url.split("?", 1)[0] + ("?…" if "?" in self.url else "")
        return f"Media(kind={self.kind!r}, url={shown!r})"

    __str__ = __repr__


def _media_item(item: object, kind: MediaKind | None) -> Media | None:
    url: object = None
    extra: dict[str, Any] = {}
    if isinstance(item, str):
        url = item
    elif isinstance(item, dict):
        url = item.get("url")
        extra = {k: v for k, v in item.items() if k not in ("url", "kind") and isinstance(k, str)}
    if not isinstance(url, str) or not url:
        return None
    guessed = kind or _guess_kind(url)
    if guessed is None:
        return None
    return Media(url=url, kind=guessed, **extra)


def _guess_kind(url: str) -> MediaKind | None:
    if not url.startswith(("http://", "https://")):
        return None
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. a malformed IPv6 host
        return None
    ext = path.rsplit(".", 1)[-1].lower() if "." in posixpath.basename(path) else ""
    return _EXTENSIONS.get(ext)


def collect_media(result: object) -> dict[MediaKind, list[Media]]:
    """Find the media in a run's ``result``, whatever its shape (object, array, string, null)."""
    found: dict[MediaKind, list[Media]] = {"image": [], "video": [], "audio": []}
    if isinstance(result, dict):
        for key, value in result.items():
            kind = _PLURAL.get(key) if isinstance(key, str) else None
            if kind is None:
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                media = _media_item(item, kind)
                if media is not None:
                    found[kind].append(media)
    elif isinstance(result, (list, str)):
        for item in result if isinstance(result, list) else [result]:
            media = _media_item(item, None)
            if media is not None:
                found[media.kind].append(media)  # type: ignore[index]
    return found


def collect_text(result: object) -> str | None:
    """The text output of a run: a string result, or an object's ``text`` (string or strings)."""
    value = result.get("text") if isinstance(result, dict) else result
    if isinstance(value, str):
        if value is result and _guess_kind(value) is not None:
            return None  # a bare media URL is not text
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        if value is result and all(_guess_kind(v) is not None for v in value):
            return None
        return "\n".join(value)
    return None
