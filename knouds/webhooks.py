"""Verify (and, for tests, sign) Knouds webhook deliveries.

Knouds signs each delivery Stripe-style: the ``X-Knouds-Signature`` header holds
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``, possibly with several ``v1``
entries while a secret is being rotated. Verify the **raw** request body, before any JSON parsing.

Example:
    >>> event = knouds.webhooks.verify(request.body, request.headers["X-Knouds-Signature"],
    ...                                secret)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from typing import Any

from pydantic import Field, ValidationError

from ._exceptions import ConfigurationError, WebhookVerificationError
from ._public import publish
from .models import ExecutionError, KnoudsModel

__all__ = ["SIGNATURE_HEADER", "WebhookEvent", "sign", "verify"]

SIGNATURE_HEADER = "X-Knouds-Signature"
DEFAULT_TOLERANCE = 300


class WebhookEvent(KnoudsModel):
    """A verified webhook delivery.

    Attributes:
        event: ``execution.completed``, ``execution.failed``, ``execution.cancelled`` or
            ``webhook.test`` (other strings are kept).
        execution_id: the execution it is about; de-duplicate deliveries on it.
        request_id, user_id, workflow_slug, model_ids, status, result: as sent.
        error: the failure, for ``execution.failed``.
        timestamp: the signature's timestamp (Unix seconds).
    """

    event: str
    execution_id: str | None = Field(default=None, alias="executionId")
    request_id: str | None = Field(default=None, alias="requestId")
    user_id: str | None = Field(default=None, alias="userId")
    workflow_slug: str | None = Field(default=None, alias="workflowSlug")
    model_ids: list[str] | None = Field(default=None, alias="modelIds")
    status: str | None = None
    result: Any = None
    error: ExecutionError | None = None
    timestamp: int | None = None


class _VerifySettingError(ConfigurationError, WebhookVerificationError):
    """A setting of `verify` that cannot work: no secret, a tolerance or ``now`` that is not a
    finite number.

    Both a `ConfigurationError` (a bad setting, like every other one) and, as `verify` promises,
    a `WebhookVerificationError`: a handler that answers 400 to every failed verification keeps
    doing so.
    """


def _digest(secret: str, timestamp: int | str, payload: bytes) -> str:
    message = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _finite_seconds(value: object) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int no float can hold: no meaningful number of seconds
        return False


def _as_bytes(payload: bytes | bytearray | memoryview | str) -> bytes:
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def sign(
    payload: bytes | bytearray | memoryview | str, secret: str, *, timestamp: float | None = None
) -> str:
    """The ``X-Knouds-Signature`` header value for ``payload``, as Knouds would send it.

    Use it to test your webhook endpoint; the local emulator signs its deliveries with it.

    Args:
        payload: the exact body bytes (a ``str`` is UTF-8 encoded).
        secret: the webhook secret (``whsec_...``).
        timestamp: Unix seconds to sign with (default: now).

    Raises:
        ConfigurationError: no ``secret`` (or not a string, or not valid Unicode), a
            ``payload`` that is not bytes or text (or text that is not valid Unicode), or a
            ``timestamp`` that is not a finite number of seconds >= 0 (it is cut to whole
            seconds).
    """
    if not secret or not isinstance(secret, str):
        given = repr(secret) if secret in ("", None) else f"a {type(secret).__name__}"
        raise ConfigurationError(
            f"No webhook secret given (secret must be a non-empty string, got {given})."
        )
    if not isinstance(payload, (bytes, bytearray, memoryview, str)):
        raise ConfigurationError(
            f"payload must be bytes or str (the exact body), got {type(payload).__name__}."
        )
    if timestamp is not None and (not _finite_seconds(timestamp) or timestamp < 0):
        raise ConfigurationError(
            f"timestamp must be Unix seconds (a number >= 0), got {timestamp!r}."
        )
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    try:
        return f"t={stamp},v1={_digest(secret, stamp, _as_bytes(payload))}"
    except UnicodeEncodeError:
        raise ConfigurationError(
            "The payload or the secret is not valid Unicode (a lone surrogate): nothing to sign."
        ) from None


def _header_text(header: object) -> str:
    """The signature header as text: ``bytes`` are decoded; only ASCII can be a valid header."""
    if isinstance(header, (bytes, bytearray, memoryview)):
        try:
            header = bytes(header).decode("ascii")
        except UnicodeDecodeError:
            raise WebhookVerificationError(
                f"The {SIGNATURE_HEADER} header holds bytes that are not ASCII."
            ) from None
    if not isinstance(header, str):
        raise WebhookVerificationError(
            f"The {SIGNATURE_HEADER} header must be a string, got {type(header).__name__}."
        )
    if not header.isascii():
        raise WebhookVerificationError(f"The {SIGNATURE_HEADER} header holds non-ASCII text.")
    return header


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            stamp = value.strip()
            if (
                not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12
            ):  # Unix seconds, not an arbitrary number
                raise WebhookVerificationError(
                    "The X-Knouds-Signature timestamp is not a Unix time in seconds."
                )
            timestamp = int(stamp)
        elif key == "v1" and value:
            signatures.append(value.strip())
    if timestamp is None:
        raise WebhookVerificationError("The X-Knouds-Signature header has no t= timestamp.")
    if not signatures:
        raise WebhookVerificationError("The X-Knouds-Signature header has no v1= signature.")
    return timestamp, signatures


def verify(
    payload: bytes | bytearray | memoryview | str,
    signature_header: str | bytes | None,
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """Check a delivery's signature and timestamp, then parse it.

    Args:
        payload: the raw request body, exactly as received.
        signature_header: the ``X-Knouds-Signature`` header value (``str``, or the raw
            ``bytes`` some frameworks hand out).
        secret: your webhook secret.
        tolerance: the largest accepted distance, in seconds, between the signature's timestamp
            and now (replay protection); a finite number >= 0.
        now: the current Unix time (default: the system clock).

    Returns:
        The typed event.

    Raises:
        WebhookVerificationError: a missing or malformed header (non-ASCII included), no
            matching signature (compared in constant time), a timestamp outside the tolerance, a
            tolerance that is not a finite number, or a body that is not an event. Nothing else
            is raised, and nothing unverified is accepted. A bad setting (no ``secret``, a
            negative or NaN ``tolerance``, a ``now`` that is not a finite time) raises an error
            that is also a `ConfigurationError`.
    """
    if not secret or not isinstance(secret, str):
        given = repr(secret) if secret in ("", None) else f"a {type(secret).__name__}"
        raise _VerifySettingError(
            f"No webhook secret given (secret must be a non-empty string, got {given}): cannot "
            "verify the delivery."
        )
    if not _finite_seconds(tolerance) or tolerance < 0:
        raise _VerifySettingError(
            f"tolerance must be a finite number of seconds >= 0, got {tolerance!r}: nothing can be "
            "verified against it."
        )
    if now is not None and not _finite_seconds(now):
        raise _VerifySettingError(f"now must be a finite Unix time, got {now!r}.")
    if signature_header is None:
        raise WebhookVerificationError(f"The {SIGNATURE_HEADER} header is missing.")
    header = _header_text(signature_header)
    if not header.strip():
        raise WebhookVerificationError(f"The {SIGNATURE_HEADER} header is missing.")
    timestamp, signatures = _parse_header(header)
    current = time.time() if now is None else now
    if not abs(current - timestamp) <= tolerance:
        raise WebhookVerificationError(
            f"The delivery's timestamp is {abs(current - timestamp):.0f} s away from now, outside "
            f"the {tolerance:g} s tolerance (a replay, or a clock that is off)."
        )
    if not isinstance(payload, (bytes, bytearray, memoryview, str)):
        raise WebhookVerificationError(
            f"The delivery's body must be bytes or str, got {type(payload).__name__}."
        )
    try:
        body = _as_bytes(payload)
    except UnicodeEncodeError:
        raise WebhookVerificationError("The delivery's body is not valid Unicode.") from None
    try:
        expected = _digest(secret, timestamp, body).encode()
    except UnicodeEncodeError:
        raise WebhookVerificationError("The webhook secret is not valid Unicode.") from None
    # Compare bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures):
        raise WebhookVerificationError(
            "No signature in the header matches the body: check the secret and that the raw, "
            "unparsed body was passed."
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise WebhookVerificationError("The delivery's body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError("The delivery's body is not a JSON object.")
    try:
        event = WebhookEvent.model_validate(data)
    except ValidationError as exc:
        raise WebhookVerificationError(
            f"The delivery is not a Knouds event: {exc.error_count()} problem(s)."
        ) from None
    event.timestamp = timestamp
    return event


publish(globals())
