"""Which media URLs may be fetched, and how: the I/O-free policy of a download.

`check_url` refuses what must not be fetched before anything is sent; `Fetch` follows one
download through its redirects, status and size limit. The shells in ``knouds/_async/download.py``
and ``knouds/_sync/download.py`` only move bytes.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import httpx

from .._core.redaction import mask, scrub_chain
from .._core.settings import USER_AGENT, to_timeout
from .._exceptions import MediaDownloadError
from .._types import NotGiven

if TYPE_CHECKING:
    from typing import TypeAlias

MediaTimeout: TypeAlias = "float | httpx.Timeout | NotGiven | None"

DEFAULT_MEDIA_TIMEOUT = httpx.Timeout(300.0, connect=10.0)
"""Connect within 10 s, then wait at most 300 s for each piece of the body (not for the whole)."""
MAX_REDIRECTS = 5
MEDIA_HEADERS = {"user-agent": USER_AGENT, "accept": "*/*"}
"""The headers of the SDK's own media clients (never the API key)."""
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError)
"""What an HTTP client raises when a transfer breaks; `Fetch.broken` translates them."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
        # The settings were checked by the caller (`check_download`), before anything else.
        self.origin = self.url = check_url(url)
        self.max_bytes = max_bytes
        self.timeout = _timeout(timeout)
        self.hops = 0
        self.received = 0
        # The key a user's client carries (never sent to a media host): masked in what a
        # failure shows all the same, as every error built from foreign text is.
        self.secret: str | None = None

    def request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The next GET to send with ``client`` (never with the API key)."""
        request = client.build_request("GET", self.url, timeout=self.timeout)
        # A user's client may carry default headers: the Knouds key must never reach a media host,
        # and credentials do not follow a redirect to another origin.
        self.secret = request.headers.pop("x-api-key", None) or self.secret
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
        """Translate an httpx error into a `MediaDownloadError` (raise it from `cause`)."""
        if isinstance(exc, httpx.TimeoutException):
            return self.error(f"Timed out fetching {_public(self.url)}. Pass a larger timeout.")
        text = mask(str(exc), self.secret) or type(exc).__name__
        return self.error(f"Fetching {_public(self.url)} failed: {text}.")

    def cause(self, exc: Exception) -> Exception | None:
        """What the error `broken` made is raised from: ``exc`` once a traceback of it shows no
        key (`scrub_chain`), else nothing."""
        return exc if scrub_chain(exc, self.secret) else None
