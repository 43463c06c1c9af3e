"""Faults to inject into the emulator's answers: errors, proxies, broken bodies, delays, drops."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from knouds.testing import _bodies as bodies
from knouds.testing._http import Request, Response, api_error, json_response, raw_response


@dataclass(frozen=True)
class Fault:
    """Something to do instead of (or before) answering a request normally.

    Build faults with the class methods, then pass them to ``Emulator.inject``.

    Example:
        >>> emu.inject(Fault.status(503, "UPSTREAM_DOWN"), times=2, path="/api/models/")
    """

    kind: str
    http_status: int = 0
    code: str | None = None
    message: str = ""
    body: object = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    then: Fault | None = None

    @property
    def name(self) -> str:
        """A short name for logs, e.g. ``status:503`` or ``delay+drop``."""
        if self.kind == "delay":
            return "delay" if self.then is None else f"delay+{self.then.name}"
        if self.kind in ("status", "html", "empty", "invalid_json", "truncated_json"):
            return f"{self.kind}:{self.http_status}"
        return self.kind

    @classmethod
    def status(
        cls,
        status: int,
        code: str | None = None,
        message: str = "Injected error",
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer with a JSON error.

        Args:
            status: HTTP status code.
            code: The body's ``code``; omitted when ``None``.
            message: The body's ``error`` message.
            body: A complete JSON body to send instead of ``{"error", "code"}``.
            headers: Extra response headers.
        """
        pairs = tuple((headers or {}).items())
        return cls("status", status, code, message, body, pairs)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """Answer with an HTML page, as a reverse proxy in front of the API does."""
        return cls("html", status)

    @classmethod
    def empty(cls, status: int = 503) -> Fault:
        """Answer with an empty body."""
        return cls("empty", status)

    @classmethod
    def invalid_json(cls, status: int = 200) -> Fault:
        """Answer with a body claiming to be JSON that is not."""
        return cls("invalid_json", status)

    @classmethod
    def truncated_json(cls, status: int = 200) -> Fault:
        """Answer with a plausible run response cut in half."""
        return cls("truncated_json", status)

    @classmethod
    def delay(cls, seconds: float, then: Fault | None = None) -> Fault:
        """Hold the response for ``seconds``, then answer normally or apply ``then``."""
        return cls("delay", seconds=seconds, then=then)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering.

        The in-process transport raises ``httpx.RemoteProtocolError`` instead.
        """
        return cls("drop")

    @classmethod
    def rate_limited(cls, retry_after: float = 1) -> Fault:
        """Answer ``429 RATE_LIMIT_EXCEEDED`` with the contract's headers and body."""
        return cls("rate_limited", 429, "RATE_LIMIT_EXCEEDED", seconds=retry_after)


@dataclass
class FaultRule:
    """An injected fault and which requests it applies to."""

    fault: Fault
    remaining: int | None = 1
    rate: float | None = None
    path: str | None = None
    method: str | None = None
    applied: int = field(default=0)

    def take(self, request: Request, rng: random.Random) -> bool:
        """Decide whether this rule applies to a request, consuming one use if so."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.path is not None and not request.path.startswith(self.path):
            return False
        if self.method is not None and request.method != self.method.upper():
            return False
        if self.rate is not None and rng.random() >= self.rate:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.applied += 1
        return True


def unwrap(fault: Fault) -> tuple[float, Fault | None]:
    """Split a fault into the total delay and the final fault (``None``: answer normally)."""
    delay = 0.0
    current: Fault | None = fault
    while current is not None and current.kind == "delay":
        delay += current.seconds
        current = current.then
    return delay, current


def render(fault: Fault, now: float, limit: int, tier: str) -> Response | None:
    """Build the response a final (non-delay) fault gives; ``None`` means drop the connection."""
    extra = list(fault.headers)
    if fault.kind == "drop":
        return None
    if fault.kind == "status":
        if fault.body is not None:
            return json_response(fault.http_status, fault.body, extra)
        return api_error(bodies.ApiError(fault.http_status, fault.message, fault.code), extra)
    if fault.kind == "html":
        return raw_response(
            fault.http_status, bodies.proxy_page(fault.http_status), "text/html", extra
        )
    if fault.kind == "empty":
        return Response(fault.http_status, [("Content-Length", "0"), *extra])
    if fault.kind == "invalid_json":
        return raw_response(fault.http_status, b"{not json", bodies.JSON_TYPE, extra)
    if fault.kind == "truncated_json":
        half = bodies.TRUNCATED_RUN[: len(bodies.TRUNCATED_RUN) // 2]
        return raw_response(fault.http_status, half, bodies.JSON_TYPE, extra)
    wait = fault.seconds
    headers = [
        *bodies.rate_limit_headers(limit, 0, now + wait),
        bodies.retry_after_header(wait),
        *extra,
    ]
    return api_error(bodies.rate_limit_exceeded(wait, limit, tier), headers)
