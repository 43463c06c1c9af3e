"""Signed webhook deliveries for finished executions, sent from background threads."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import importlib
import ipaddress
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

DELIVERY_TIMEOUT = 2.0
"""Seconds to wait for a receiver before giving up on a delivery."""

TICK = 0.01
"""Seconds between checks for executions that finished without being polled."""


@dataclass(frozen=True)
class WebhookJob:
    """A delivery to make: where, signed with what, carrying which event at which time."""

    url: str
    secret: str
    event: dict[str, object]
    timestamp: int


@dataclass(frozen=True)
class WebhookDelivery:
    """A delivery the emulator attempted.

    Attributes:
        url: The receiver URL.
        event: The event sent.
        body: The exact bytes sent.
        signature: The ``X-Knouds-Signature`` header value.
        status: The receiver's HTTP status, or ``None`` when nothing was answered.
        error: Why the delivery failed or was refused, or ``None``.
    """

    url: str
    event: dict[str, object]
    body: bytes
    signature: str
    status: int | None
    error: str | None


def is_loopback_url(url: str) -> bool:
    """Tell whether a URL is plain HTTP(S) to this machine (the only place deliveries go)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Sign a payload the way Knouds does, with the SDK's signer when it is available."""
    try:
        sdk_sign = importlib.import_module("knouds.webhooks").sign
        return str(sdk_sign(payload, secret, timestamp=timestamp))
    except (ImportError, AttributeError):
        mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
        return f"t={timestamp},v1={mac.hexdigest()}"


def deliver(job: WebhookJob) -> WebhookDelivery:
    """POST one signed event to a loopback receiver and report what happened."""
    body = json.dumps(job.event, separators=(",", ":")).encode()
    signature = sign(body, job.secret, job.timestamp)
    if not is_loopback_url(job.url):
        return WebhookDelivery(job.url, job.event, body, signature, None, "refused: not loopback")
    parts = urlsplit(job.url)
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_class(parts.hostname or "127.0.0.1", parts.port, timeout=DELIVERY_TIMEOUT)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "X-Knouds-Signature": signature,
        "User-Agent": "knouds-emulator-webhooks",
    }
    try:
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return WebhookDelivery(job.url, job.event, body, signature, response.status, None)
    except OSError as exc:
        return WebhookDelivery(job.url, job.event, body, signature, None, str(exc))
    finally:
        conn.close()


class WebhookDispatcher:
    """Sends deliveries in background threads and watches for executions that finish unpolled.

    Args:
        sweep: Returns the deliveries now due and marks them sent.
        pending: Tells whether any webhook-enabled execution is still running.
        record: Called with each finished delivery.
    """

    def __init__(
        self,
        sweep: Callable[[], list[WebhookJob]],
        pending: Callable[[], bool],
        record: Callable[[WebhookDelivery], None],
    ) -> None:
        self._sweep = sweep
        self._pending = pending
        self._record = record
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def send(self, jobs: list[WebhookJob]) -> None:
        """Deliver each job from its own daemon thread."""
        for job in jobs:
            thread = threading.Thread(
                target=lambda j=job: self._record(deliver(j)),
                name="knouds-emulator-webhook",
                daemon=True,
            )
            thread.start()

    def watch(self) -> None:
        """Make sure a watcher runs while webhook-enabled executions are pending.

        Call it without holding the emulator's state lock.
        """
        with self._lock:
            self._stop.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="knouds-emulator-watch", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop watching (deliveries already started still finish)."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(TICK):
            self.send(self._sweep())
            with self._lock:
                if not self._pending():
                    self._thread = None
                    return
        with self._lock:
            self._thread = None
