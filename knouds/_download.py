"""Fetching run outputs (media files) safely.

Media URLs are plain HTTPS links (presigned S3 objects). They are fetched with an HTTP client of
their own that never carries the API key: a lazily built shared ``httpx.Client`` for sync calls,
and a fresh ``httpx.AsyncClient`` per async call (an async client is bound to one event loop).

Every decision lives in `Fetch` (URL checks, redirects, status, size) and
`PartFile` (where and how the file is written); the sync and async shells only move bytes.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import secrets
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

import httpx

from ._config import USER_AGENT, to_timeout
from ._exceptions import MediaDownloadError
from ._types import NOT_GIVEN, NotGiven

if TYPE_CHECKING:
    from typing import TypeAlias

    from .models import Media

PathLike: TypeAlias = "str | os.PathLike[str]"
MediaTimeout: TypeAlias = "float | httpx.Timeout | NotGiven | None"

DEFAULT_MEDIA_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
"""Connect within 10 s, then wait at most 300 s for each piece of the body (not for the whole)."""
DEFAULT_CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HEADERS = {"user-agent": USER_AGENT, "accept": "*/*"}
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError)

_shared: httpx.Client | None = None
_shared_lock = threading.Lock()


def shared_client() -> httpx.Client:
    """The process-wide sync client for media, built on first use. It never holds a key."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.is_closed:
            _shared = httpx.Client(headers=_HEADERS, timeout=DEFAULT_MEDIA_TIMEOUT)
            atexit.register(_shared.close)
        return _shared


def _public(url: object) -> str:
    """The URL without query or fragment: presigned signatures stay out of messages and logs."""
    return str(url).split("?", 1)[0].split("#", 1)[0]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str | httpx.URL, *, redirect: bool = False) -> httpx.URL:
    """Parse a media URL, refusing what must not be fetched (before any I/O).

    Only ``http`` and ``https`` URLs are fetched. A redirect target must be ``https`` unless its
    host is loopback (``localhost``, ``127.0.0.0/8``, ``::1``).

    Raises:
        MediaDownloadError: for another scheme, a malformed URL, or a redirect to plain HTTP.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise MediaDownloadError(f"Not a valid media URL: {exc}.", url=str(url)) from None
    scheme = parsed.scheme.lower()
    if scheme not in ("http", "https") or not parsed.host:
        raise MediaDownloadError(
            f"Refusing to fetch {_public(url)!r}: media URLs must be http(s) URLs.", url=str(url)
        )
    if redirect and scheme != "https" and not _is_loopback(parsed.host):
        raise MediaDownloadError(
            f"Refusing to follow a redirect to plain HTTP ({_public(parsed)}): only HTTPS "
            "redirect targets are followed.",
            url=str(parsed),
        )
    return parsed


def _status_message(status: int, where: str) -> str:
    if status in (401, 403):
        return (
            f"The media server refused {where} (HTTP {status}). Media links are presigned and "
            "expire: download outputs soon after the run, or fetch the execution again "
            "(client.executions.get) for a fresh link."
        )
    if status in (404, 410):
        return (
            f"No media file at {where} (HTTP {status}): it was deleted, or the link is wrong or "
            "expired. Check the URL, or fetch the execution again for a fresh link."
        )
    if status >= 500:
        return f"The media server failed serving {where} (HTTP {status}). Try again in a moment."
    return f"Downloading {where} failed with HTTP {status}."


def _timeout(value: MediaTimeout) -> httpx.Timeout:
    if isinstance(value, NotGiven):
        return DEFAULT_MEDIA_TIMEOUT
    return to_timeout(value)  # a ConfigurationError (a ValueError) for nonsense such as nan


class Fetch:
    """The state of one download, free of I/O: which request to send next, whether a response
    is the file or a redirect, and how many bytes have arrived.

    Raises (from every method):
        MediaDownloadError: on a refused URL or redirect, an error status, too many redirects, or
            a body over ``max_bytes``.
    """

    def __init__(self, url: str, max_bytes: int | None, timeout: MediaTimeout) -> None:
        if max_bytes is not None and max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0 or None, got {max_bytes!r}")
        self.origin = self.url = check_url(url)
        self.max_bytes = max_bytes
        self.timeout = _timeout(timeout)
        self.hops = 0
        self.received = 0

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The next GET to send with ``client`` (never with the API key)."""
        request = client.build_request("GET", self.url, timeout=self.timeout)
        # A user's client may carry default headers: the Knouds key must never reach a media host,
        # and credentials do not follow a redirect to another origin.
        request.headers.pop("x-api-key", None)
        here, start = self.url, self.origin
        if (here.scheme, here.host, here.port) != (start.scheme, start.host, start.port):
            request.headers.pop("authorization", None)
            request.headers.pop("cookie", None)
        return request

    def is_file(self, response: httpx.Response) -> bool:
        """``True`` when ``response`` carries the file; ``False`` after moving to a redirect."""
        status, where = response.status_code, _public(self.url)
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise self.error(f"{where} answered HTTP {status} without a Location.", status)
            if self.hops >= MAX_REDIRECTS:
                raise self.error(f"More than {MAX_REDIRECTS} redirects fetching {where}.", status)
            try:
                target = self.url.join(location)
            except httpx.InvalidURL as exc:
                raise self.error(f"{where} redirected to an invalid URL: {exc}.", status) from None
            self.url = check_url(target, redirect=True)
            self.hops += 1
            return False
        if not 200 <= status < 300:
            raise self.error(_status_message(status, where), status)
        declared = response.headers.get("content-length", "")
        if self.max_bytes is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise self.error(
                f"The media file at {where} is {int(declared)} bytes, more than max_bytes="
                f"{self.max_bytes}. Pass a larger max_bytes (or None) to download it.",
                status,
            )
        return True

    def count(self, chunk: bytes) -> bytes:
        """Count a chunk of the body and pass it through."""
        self.received += len(chunk)
        if self.max_bytes is not None and self.received > self.max_bytes:
            raise self.error(
                f"The media file at {_public(self.url)} is larger than max_bytes="
                f"{self.max_bytes}. Pass a larger max_bytes (or None) to download it.",
                200,
            )
        return chunk

    def error(self, message: str, status: int | None = None) -> MediaDownloadError:
        """A `MediaDownloadError` about the current URL."""
        return MediaDownloadError(message, url=str(self.url), status_code=status)

    def broken(self, exc: Exception) -> MediaDownloadError:
        """Translate an httpx error into a `MediaDownloadError`."""
        if isinstance(exc, httpx.TimeoutException):
            return self.error(f"Timed out fetching {_public(self.url)}. Pass a larger timeout.")
        return self.error(f"Fetching {_public(self.url)} failed: {str(exc) or type(exc).__name__}.")


# File systems limit a name to 255 *bytes* (not characters): a name of 200 letters outside
# ASCII takes up to 800. Names are cut to this many UTF-8 bytes, leaving room for the "-1"
# that tells equal names apart and for the temporary file's hidden ".<name>.<hex>.part".
_MAX_NAME_BYTES = 200


def fit_name(name: str, max_bytes: int = _MAX_NAME_BYTES) -> str:
    """``name`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary, keeping a
    short extension (``.png``) intact."""
    if len(name.encode("utf-8", "replace")) <= max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8", "replace")) > 16:
        stem, dot, ext = name, "", ""
    budget = max_bytes - len((dot + ext).encode("utf-8", "replace"))
    cut = stem.encode("utf-8", "replace")[:budget].decode("utf-8", "ignore")
    return cut + dot + ext


def _safe_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    return fit_name(name) or "media"


def destination(path_or_dir: PathLike, filename: str) -> Path:
    """The file to write: ``filename`` inside ``path_or_dir`` when that names a directory (an
    existing one, a path ending in a separator, or a path that does not exist yet and has no
    file extension, which is then created), else ``path_or_dir`` itself.

    Raises:
        MediaDownloadError: if the file would land outside the directory.
    """
    raw = os.fspath(path_or_dir)
    path = Path(raw)
    is_directory = (
        raw.endswith(("/", os.sep, os.altsep or "/"))
        or path.is_dir()
        or (not path.exists() and not path.suffix)
    )
    if not is_directory:
        return path
    path.mkdir(parents=True, exist_ok=True)
    directory = path.resolve()
    target = (directory / _safe_name(filename)).resolve()
    if target.parent != directory:
        raise MediaDownloadError(f"Refusing to write {filename!r} outside {str(directory)!r}.")
    return target


class PartFile:
    """Writes to a hidden temporary file beside ``target`` (created on the first write) and
    renames it into place on a clean exit; on any error it is removed, leaving no partial file."""

    def __init__(self, target: Path, *, overwrite: bool) -> None:
        if not overwrite and target.exists():
            raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
        self.target, self.overwrite = target, overwrite
        self.part: Path | None = None
        self._out: IO[bytes] | None = None

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary file."""
        if self._out is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            hidden = f".{fit_name(self.target.name, 180)}.{secrets.token_hex(6)}.part"
            part = self.target.with_name(hidden)
            self._out = os.fdopen(os.open(part, flags, 0o666), "wb")  # the umask applies
            self.part = part
        self._out.write(chunk)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.write(b"")  # an empty file is still a file
            if self._out is not None:
                self._out.close()
            if exc_type is None and self.part is not None:
                self._publish(self.part)
        finally:
            if self.part is not None and (exc_type is not None or self.part.exists()):
                with contextlib.suppress(OSError):
                    os.unlink(self.part)

    def _publish(self, part: Path) -> None:
        if self.overwrite:
            os.replace(part, self.target)
            return
        try:
            os.link(part, self.target)  # atomic: fails if the target appeared meanwhile
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            if self.target.exists():
                raise FileExistsError(f"{self.target} already exists.") from None
            os.replace(part, self.target)


# -- sync ------------------------------------------------------------------------------------


def iter_media(
    url: str,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> Generator[bytes, None, None]:
    """Stream the file at ``url`` in chunks (see `knouds.Media.iter_bytes`)."""
    fetch = Fetch(url, max_bytes, timeout)
    client = http_client if http_client is not None else shared_client()
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
        except _TRANSPORT_ERRORS as exc:
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
    with contextlib.closing(chunks), PartFile(target, overwrite=overwrite) as out:
        for chunk in chunks:
            out.write(chunk)
    return target


def save_all(
    media: list[Media],
    directory: PathLike,
    *,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.Client | None = None,
) -> list[Path]:
    """Save every file into ``directory`` (see `knouds.RunResult.save_all`)."""
    for item in media:
        check_url(item.url)
    into = os.path.join(os.fspath(directory), "")  # a trailing separator: always a directory
    return [
        save_media(m.url, into, name, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
        for m, name in _named(media)
    ]


# -- async -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _async_client(given: httpx.AsyncClient | None) -> AsyncIterator[httpx.AsyncClient]:
    if given is not None:
        yield given
        return
    async with httpx.AsyncClient(headers=_HEADERS, timeout=DEFAULT_MEDIA_TIMEOUT) as client:
        yield client


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
    async with _async_client(http_client) as client:
        while True:
            try:
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
            except _TRANSPORT_ERRORS as exc:
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
    """Async twin of `save_media`."""
    check_url(url)
    target = destination(path_or_dir, filename)
    chunks = aiter_media(url, max_bytes=max_bytes, timeout=timeout, http_client=http_client)
    async with contextlib.aclosing(chunks):
        with PartFile(target, overwrite=overwrite) as out:
            async for chunk in chunks:
                out.write(chunk)
    return target


async def asave_all(
    media: list[Media],
    directory: PathLike,
    *,
    max_bytes: int | None = None,
    timeout: MediaTimeout = NOT_GIVEN,
    http_client: httpx.AsyncClient | None = None,
) -> list[Path]:
    """Async twin of `save_all`; the files share one connection pool."""
    for item in media:
        check_url(item.url)
    into = os.path.join(os.fspath(directory), "")
    saved = []
    async with _async_client(http_client) as client:
        for m, name in _named(media):
            saved.append(
                await asave_media(
                    m.url, into, name, max_bytes=max_bytes, timeout=timeout, http_client=client
                )
            )
    return saved


def _named(media: list[Media]) -> list[tuple[Media, str]]:
    """Each file with a distinct safe name (``a.png``, ``a-1.png``, ...)."""
    seen: set[str] = set()
    named = []
    for item in media:
        name = _safe_name(item.filename)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        candidate, n = name, 0
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}"
        seen.add(candidate.lower())
        named.append((item, candidate))
    return named
