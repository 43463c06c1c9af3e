"""Faults to inject into the emulator's answers: errors, proxies, broken bodies, delays, drops."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from knouds.testing._clock import format_seconds
from knouds.testing._http import Request, Response, json_response, raw_response

_PROXY_PAGE = (
    b"<html>\r\n<head><title>{status} Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>{status} Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


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
        body = fault.body
        if body is None:
            payload: dict[str, object] = {"error": fault.message}
            if fault.code is not None:
                payload["code"] = fault.code
            body = payload
        return json_response(fault.http_status, body, extra)
    if fault.kind == "html":
        page = _PROXY_PAGE.replace(b"{status}", str(fault.http_status).encode())
        return raw_response(fault.http_status, page, "text/html", extra)
    if fault.kind == "empty":
        return Response(fault.http_status, [("Content-Length", "0"), *extra])
    if fault.kind == "invalid_json":
        return raw_response(fault.http_status, b"{not json", "application/json", extra)
    if fault.kind == "truncated_json":
        whole = json.dumps(
            {"success": True, "result": {"images": ["https://example.invalid/a.png"]}, "cost": 4}
        ).encode()
        return raw_response(fault.http_status, whole[: len(whole) // 2], "application/json", extra)
    wait = fault.seconds
    headers = [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", format_seconds(now + wait)),
        ("Retry-After", format_seconds(wait)),
        *extra,
    ]
    payload = {
        "error": "Rate limit exceeded",
        "code": "RATE_LIMIT_EXCEEDED",
        "tier": tier,
        "limit": limit,
        "retryAfter": wait,
    }
    return json_response(429, payload, headers)
