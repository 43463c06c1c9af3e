"""Signed webhook deliveries to a local receiver, with and without polling."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from knouds.testing import Emulator, ManualClock

SECRET = "whsec_test_0123456789abcdef"


class Receiver:
    """A tiny HTTP server recording POSTed bodies and signature headers."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers["X-Knouds-Signature"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/knouds"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    rec.thread.start()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def _verify(header: str, body: bytes) -> int:
    parts = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(parts["v1"], expected.hexdigest())
    return int(parts["t"])


def test_delivery_without_polling(receiver: Receiver) -> None:
    with Emulator(execution_delay=0.05) as emu:
        key = emu.create_key(webhook_url=receiver.url, webhook_secret=SECRET)
        with httpx.Client(base_url=emu.base_url, verify=False) as http:
            submitted = http.post(
                "/api/models/suno-v5/run?async=true",
                json={"inputs": {"prompt": "x"}},
                headers={"x-api-key": key},
            ).json()
        (delivery,) = emu.wait_for_webhooks(1, timeout=5)
    assert delivery.status == 200
    assert delivery.error is None
    signature, body = receiver.received[0]
    assert signature == delivery.signature
    _verify(signature, body)
    event = json.loads(body)
    assert event["event"] == "execution.completed"
    assert event["executionId"] == submitted["executionId"]
    assert event["requestId"] == submitted["requestId"]
    assert event["userId"] == "usr_emulator"
    assert event["modelIds"] == ["suno-v5"]
    assert event["workflowSlug"] is None
    assert event["status"] == "completed"
    assert event["result"]["audios"]


def test_failed_and_cancelled_events_on_poll(receiver: Receiver, clock: ManualClock) -> None:
    with Emulator(clock=clock) as emu:
        emu.add_model("doomed", "image", fail=("BOOM", "it broke"))
        key = emu.create_key(webhook_url=receiver.url, webhook_secret=SECRET)
        http = httpx.Client(transport=emu.transport(), base_url="http://e.test")
        with http:
            headers = {"x-api-key": key}
            failing = http.post(
                "/api/models/doomed/run?async=true",
                json={"inputs": {"prompt": "x"}},
                headers=headers,
            ).json()
            flow = http.post(
                "/api/workflows/playground-demo/run?async=true",
                json={"inputs": {"prompt": "x"}},
                headers=headers,
            ).json()
            http.post(f"/api/executions/{flow['executionId']}/cancel", headers=headers)
            clock.advance(1)
            http.get(failing["pollUrl"], headers=headers)
        deliveries = emu.wait_for_webhooks(2, timeout=5)
    events = {d.event["executionId"]: d.event for d in deliveries}
    assert len(events) == 2
    failed = events[failing["executionId"]]
    assert failed["event"] == "execution.failed"
    assert failed["error"] == {"code": "BOOM", "message": "it broke"}
    cancelled = events[flow["executionId"]]
    assert cancelled["event"] == "execution.cancelled"
    assert cancelled["workflowSlug"] == "playground-demo"
    for signature, body in receiver.received:
        assert _verify(signature, body) == int(clock.now)


def test_non_loopback_urls_are_refused(clock: ManualClock) -> None:
    with Emulator(clock=clock) as emu:
        key = emu.create_key(webhook_url="https://hooks.example.com/x", webhook_secret=SECRET)
        with httpx.Client(transport=emu.transport(), base_url="http://e.test") as http:
            http.post(
                "/api/models/gpt-image-2/run?async=true",
                json={"inputs": {"prompt": "x"}},
                headers={"x-api-key": key},
            )
            clock.advance(1)
        (delivery,) = emu.wait_for_webhooks(1, timeout=5)
    assert delivery.status is None
    assert delivery.error is not None
    assert "loopback" in delivery.error


def test_sdk_signer_agrees() -> None:
    from knouds import webhooks
    from knouds.testing._webhooks import sign

    assert sign(b"{}", SECRET, 1_700_000_000) == webhooks.sign(
        b"{}", SECRET, timestamp=1_700_000_000
    )
