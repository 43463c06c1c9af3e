"""Plain request and response records shared by the socket server and the in-process transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from knouds.testing._bodies import JSON_TYPE, ApiError, encode

ChunkSource = Callable[[], Iterator[bytes]]
"""A factory producing a fresh iterator over a streamed body's chunks."""


@dataclass(frozen=True)
class Request:
    """An HTTP request as the emulator sees it, independent of how it arrived.

    Attributes:
        method: Upper-case HTTP method.
        path: The percent-decoded path, without the query string.
        query: Query parameters (the last value wins for repeated names).
        headers: Header names in lower case.
        body: The raw request body.
        base_url: Scheme and authority the request came in on, used for absolute media URLs.
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str


@dataclass
class Response:
    """An HTTP response to be written by the socket server or returned by the transport.

    Attributes:
        status: HTTP status code.
        headers: Header pairs in order; ``Content-Length`` is always present.
        body: The body, when small enough to hold in memory.
        stream: A factory of body chunks for large bodies; when set, ``body`` is ignored.
    """

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: ChunkSource | None = None

    def header(self, name: str) -> str | None:
        """Return the first header with that name (case-insensitive), or ``None``."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


@dataclass(frozen=True)
class Outcome:
    """What to do with a request: wait ``delay`` seconds, then answer, or drop when no response."""

    response: Response | None
    delay: float = 0.0


def raw_response(
    status: int, body: bytes, content_type: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Build a response with an in-memory body and its Content-Type and Content-Length."""
    pairs = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return Response(status, pairs + list(headers or []), body)


def json_response(
    status: int, payload: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Build a JSON response."""
    return raw_response(status, encode(payload), JSON_TYPE, headers)


def api_error(error: ApiError, headers: list[tuple[str, str]] | None = None) -> Response:
    """Build the response of a documented error."""
    return json_response(error.status, error.body(), headers)


def error_response(
    status: int,
    message: str,
    code: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    **extra: object,
) -> Response:
    """Build an API error body ``{"error": message, "code": code, ...extra}``.

    Args:
        status: HTTP status code.
        message: Human-readable message.
        code: Machine-readable code; omitted from the body when ``None``.
        headers: Extra headers.
        **extra: Additional context fields for the body.
    """
    return api_error(ApiError(status, message, code, extra), headers)
