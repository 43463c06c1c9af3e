"""Async executions end to end: both clients against the emulator over real sockets."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator, Fault, ManualClock
from tests.conftest import resolve

VIDEO_MODEL = "seedance-2-i2v"
INPUTS = {"prompt": "waves at dusk", "image_url": "https://example.com/still.png"}
FAST = {"poll_interval": 0.01, "max_poll_interval": 0.05, "timeout": 10.0}
MakeClient = Callable[..., Any]


def sent_to_executions(emulator: Emulator) -> list[str]:
    return [entry.path for entry in emulator.log if entry.path.startswith("/api/executions")]


async def test_submit_then_wait_gives_the_result(emu: Emulator, connect: Any) -> None:
    client = connect(emu)

    execution = await resolve(client.models.submit(VIDEO_MODEL, INPUTS))
    assert execution.status == "processing"
    assert execution.poll_url == f"/api/executions/{execution.id}"
    assert emu.run_count(VIDEO_MODEL) == 1

    polled = await resolve(client.executions.get(execution.id))
    assert polled.id == execution.id

    result = await resolve(client.executions.wait(execution, **FAST))
    assert isinstance(result, knouds.RunResult)
    assert result.cost == 20
    (video,) = result.videos
    assert video.url.startswith(emu.base_url)
    assert video.kind == "video"

    final = await resolve(client.executions.get(execution))
    assert final.status == "completed"


async def test_submit_accepted_with_200(emu: Emulator, connect: Any) -> None:
    body = {"_async": True, "executionId": "abc-123", "status": "processing"}
    emu.inject(Fault.status(200, body=body), path=f"/api/models/{VIDEO_MODEL}/run")
    client = connect(emu)

    execution = await resolve(client.models.submit(VIDEO_MODEL, INPUTS))

    assert execution.id == "abc-123"
    assert execution.status == "processing"


async def test_cancel_then_wait_raises_cancelled(connect: Any) -> None:
    # The emulator's time stands still until the test moves it: the cancel lands while the
    # execution is processing however slow a loaded machine makes the round trips.
    clock = ManualClock(start=time.time())
    with Emulator(execution_delay=60, clock=clock) as emu:
        client = connect(emu)
        execution = await resolve(client.models.submit(VIDEO_MODEL, INPUTS))

        cancelling = await resolve(client.executions.cancel(execution))
        assert cancelling.status == "cancel_requested"
        clock.advance(61)  # when it would have finished, it is cancelled

        with pytest.raises(knouds.ExecutionCancelledError) as info:
            await resolve(client.executions.wait(execution.id, **FAST))
    assert info.value.execution is not None
    assert info.value.execution.status == "cancelled"


async def test_failed_execution_raises_with_code_and_message(emu: Emulator, connect: Any) -> None:
    emu.add_model("broken-video", "video", fail=("PROVIDER_ERROR", "The provider fell over"))
    client = connect(emu)
    execution = await resolve(client.models.submit("broken-video", {"prompt": "x"}))

    with pytest.raises(knouds.ExecutionFailedError) as info:
        await resolve(client.executions.wait(execution, **FAST))

    error = info.value
    assert error.code == "PROVIDER_ERROR"
    assert error.message == "The provider fell over"
    assert error.status_code is None
    assert error.execution is not None
    assert error.execution.id == execution.id


async def test_timeout_then_resume(connect: Any) -> None:
    clock = ManualClock(time.time())
    with Emulator(clock=clock, execution_delay=5.0) as emulator:
        client = connect(emulator)
        execution = await resolve(client.models.submit(VIDEO_MODEL, INPUTS))

        with pytest.raises(knouds.ExecutionTimeoutError) as info:
            await resolve(client.executions.wait(execution, timeout=0.05, poll_interval=0.01))
        error = info.value
        assert error.execution_id == execution.id
        assert error.execution is not None
        assert error.execution.status == "processing"
        assert "wait(" in str(error)

        clock.advance(5.0)
        result = await resolve(client.executions.wait(error.execution_id, **FAST))
        assert len(result.videos) == 1


async def test_unknown_execution_is_not_found(emu: Emulator, connect: Any) -> None:
    client = connect(emu)

    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(client.executions.wait("0b6f7c1e-0000-4000-8000-000000000000", **FAST))
    assert info.value.status_code == 404


@pytest.mark.parametrize("method", ["get", "cancel", "wait"])
async def test_bad_id_sends_nothing(emu: Emulator, connect: Any, method: str) -> None:
    client = connect(emu)

    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(getattr(client.executions, method)("../x"))
    assert info.value.status_code is None
    assert sent_to_executions(emu) == []


async def test_async_not_supported(emu: Emulator, connect: Any) -> None:
    client = connect(emu)

    with pytest.raises(knouds.AsyncNotSupportedError) as info:
        await resolve(client.models.submit("kling-o3-ref2v", {"prompt": "x"}))
    assert info.value.status_code == 400
    assert emu.run_count("kling-o3-ref2v") == 0


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str | None, bytes]]
    arrived: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.headers.get("X-Knouds-Signature"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    """A tiny webhook endpoint on a free loopback port."""
    handler = type("Receiver", (_Receiver,), {"received": [], "arrived": threading.Event()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/knouds-hook", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_webhook_delivery_verifies(
    emu: Emulator, connect: Any, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    secret = "whsec_e2e_0123456789abcdef"
    key = emu.create_key(webhook_url=url, webhook_secret=secret)
    client = connect(emu, api_key=key)

    execution = await resolve(client.models.submit(VIDEO_MODEL, INPUTS))
    assert execution.webhook_delivery is not None
    assert execution.webhook_delivery.configured
    result = await resolve(client.executions.wait(execution, **FAST))
    assert handler.arrived.wait(5), "no webhook delivery arrived"

    ((signature, body),) = handler.received
    event = knouds.webhooks.verify(body, signature, secret)
    assert event.event == "execution.completed"
    assert event.execution_id == execution.id
    assert event.model_ids == [VIDEO_MODEL]
    assert event.result == result.result
    with pytest.raises(knouds.WebhookVerificationError):
        knouds.webhooks.verify(body, signature, "whsec_not_the_right_one")
