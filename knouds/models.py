"""Typed results. Every model keeps fields it does not know (the API adds fields without notice)."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from ._ratelimit import RateLimit
from ._types import NOT_GIVEN

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator
    from pathlib import Path

    import httpx

    from ._download import MediaTimeout, PathLike

__all__ = [
    "Execution",
    "ExecutionError",
    "ExecutionStatus",
    "Identity",
    "Media",
    "MediaKind",
    "RunResult",
    "SchemaField",
    "WebhookDelivery",
    "WorkflowSchema",
]

MediaKind = Literal["image", "video", "audio"]
ExecutionStatus = Literal["processing", "completed", "failed", "cancel_requested", "cancelled"]

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


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


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
        path = unquote(urlsplit(self.url).path)
        name = posixpath.basename(path.replace("\\", "/"))
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
        if not name:
            name = self.kind
        if "." not in name:
            name += _KIND_EXTENSION.get(self.kind, "")
        return name[:200]

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

        Other arguments and errors as for :meth:`read`.
        """
        from ._download import iter_media

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
            path_or_dir: a directory (an existing one, or a path ending in a separator) to save
                :attr:`filename` into, or the exact file path to write.
            max_bytes: refuse a file larger than this many bytes (``None``: no limit).
            overwrite: replace an existing file (``False`` raises ``FileExistsError``).
            timeout: as for :meth:`read`.
            http_client: as for :meth:`read`.

        Returns:
            The path written.

        Raises:
            MediaDownloadError: as for :meth:`read`, or if the name would leave the directory.
        """
        from ._download import save_media

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
        """Async twin of :meth:`read` (``http_client`` is an ``httpx.AsyncClient``)."""
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
        """Async twin of :meth:`iter_bytes`: ``async for chunk in media.aiter_bytes(): ...``."""
        from ._download import aiter_media

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
        """Async twin of :meth:`save` (``http_client`` is an ``httpx.AsyncClient``)."""
        from ._download import asave_media

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
        from ._download import media_html

        return media_html(self)

    def __repr__(self) -> str:
        return f"Media(kind={self.kind!r}, url={self.url!r})"

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
    path = urlsplit(url).path
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


class RunResult(_Model):
    """The outcome of a model or workflow run.

    Attributes:
        success: always ``True`` on a result (failures raise).
        result: the output, as Knouds returned it (object, array, string or ``None``).
        cost: credits charged; ``0`` means a trial grant paid.
        ms: server-side execution time in milliseconds.
        rate_limit: the rate-limit state the response reported, or ``None``.
    """

    success: bool = True
    result: Any = None
    cost: int | float | None = None
    ms: int | float | None = None
    _rate_limit: RateLimit | None = PrivateAttr(default=None)
    _media: dict[MediaKind, list[Media]] | None = PrivateAttr(default=None)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` state reported with this result, or ``None``."""
        return self._rate_limit

    def _collected(self) -> dict[MediaKind, list[Media]]:
        if self._media is None:
            self._media = collect_media(self.result)
        return self._media

    @property
    def images(self) -> list[Media]:
        """The images in the result (empty when there are none)."""
        return list(self._collected()["image"])

    @property
    def videos(self) -> list[Media]:
        """The videos in the result (empty when there are none)."""
        return list(self._collected()["video"])

    @property
    def audios(self) -> list[Media]:
        """The audio files in the result (empty when there are none)."""
        return list(self._collected()["audio"])

    @property
    def media(self) -> list[Media]:
        """Every media file in the result: images, then videos, then audio."""
        found = self._collected()
        return [*found["image"], *found["video"], *found["audio"]]

    @property
    def text(self) -> str | None:
        """The text output (several strings are joined by newlines), or ``None``."""
        return collect_text(self.result)

    def __repr__(self) -> str:
        parts = [f"cost={self.cost!r}", f"ms={self.ms!r}"]
        found = self._collected()
        kinds: tuple[MediaKind, ...] = ("image", "video", "audio")
        for kind in kinds:
            if found[kind]:
                parts.append(f"{kind}s={len(found[kind])}")
        text = self.text
        if text is not None:
            parts.append(f"text={text[:40] + '…' if len(text) > 40 else text!r}")
        return f"RunResult({', '.join(parts)})"

    __str__ = __repr__

    def save_all(
        self,
        directory: PathLike = ".",
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.Client | None = None,
    ) -> list[Path]:
        """Save every media file of the result into ``directory`` (created if missing).

        Files keep their :attr:`Media.filename`; repeated names get a ``-1``, ``-2``... suffix.
        Files saved before an error stay saved. Arguments and errors as for :meth:`Media.save`
        (``max_bytes`` applies to each file).

        Returns:
            The paths written, in the order of :attr:`media`.
        """
        from ._download import save_all

        return save_all(
            self.media, directory, max_bytes=max_bytes, timeout=timeout, http_client=http_client
        )

    async def asave_all(
        self,
        directory: PathLike = ".",
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.AsyncClient | None = None,
    ) -> list[Path]:
        """Async twin of :meth:`save_all` (``http_client`` is an ``httpx.AsyncClient``)."""
        from ._download import asave_all

        return await asave_all(
            self.media, directory, max_bytes=max_bytes, timeout=timeout, http_client=http_client
        )

    def _repr_html_(self) -> str:
        from ._download import result_html

        return result_html(self)


class ExecutionError(_Model):
    """Why an async execution failed."""

    code: str | None = None
    message: str | None = None


class WebhookDelivery(_Model):
    """Whether a webhook will be called when an async execution ends."""

    configured: bool = False
    url: str | None = None


class Execution(_Model):
    """An async execution, as submitted or polled.

    Attributes:
        id: the execution id (``executionId``).
        status: ``processing``, ``completed``, ``failed``, ``cancel_requested`` or ``cancelled``
            (other strings may appear and are kept).
        request_id: the provider-side request id.
        poll_url: the path to poll, relative to the base URL.
        webhook_delivery: whether a webhook will be called.
        result, cost, ms: present once completed (a cancelled execution may carry a result).
        error: present when failed.
    """

    id: str = Field(alias="executionId")
    status: str = "processing"
    request_id: str | None = Field(default=None, alias="requestId")
    poll_url: str | None = Field(default=None, alias="pollUrl")
    webhook_delivery: WebhookDelivery | None = Field(default=None, alias="webhookDelivery")
    result: Any = None
    error: ExecutionError | None = None
    cost: int | float | None = None
    ms: int | float | None = None
    _rate_limit: RateLimit | None = PrivateAttr(default=None)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` state reported with this response, or ``None``."""
        return self._rate_limit

    @property
    def done(self) -> bool:
        """``True`` once the execution is completed, failed or cancelled."""
        return self.status in ("completed", "failed", "cancelled")

    def to_result(self) -> RunResult:
        """The execution's outcome as a :class:`RunResult` (meaningful once completed)."""
        run = RunResult(success=True, result=self.result, cost=self.cost, ms=self.ms)
        run._rate_limit = self._rate_limit
        return run

    def __repr__(self) -> str:
        return f"Execution(id={self.id!r}, status={self.status!r})"

    __str__ = __repr__


class Identity(_Model):
    """Who an API key belongs to (``GET /api/whoami``)."""

    id: str | None = None
    email: str | None = None
    role: str | None = None
    tier: str | None = None
    approved: bool | None = None


class SchemaField(_Model):
    """One input field of a workflow. Only ``name`` is guaranteed; the rest is kept as sent."""

    name: str
    type: str | None = None
    label: str | None = None
    description: str | None = None
    required: bool | None = None
    options: list[Any] | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None


class WorkflowSchema(_Model):
    """A workflow's input fields (``GET /api/workflows/{slug}/schema`` or ``public-schema``).

    Attributes:
        fields: the input fields.
        values: the saved value per field (used when an input is omitted).
        name, description: the workflow's name and description.
        estimated_credit_cost: the credit estimate, when the server gives one.
    """

    fields: list[SchemaField] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    description: str | None = None
    estimated_credit_cost: int | float | None = Field(default=None, alias="estimatedCreditCost")

    @property
    def field_names(self) -> list[str]:
        """The names of the input fields, in order."""
        return [f.name for f in self.fields]
