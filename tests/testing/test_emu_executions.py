"""Async submissions and the execution lifecycle, on an injected clock."""

from __future__ import annotations

import uuid

import httpx
import pytest

from knouds.testing import Emulator, ManualClock


def submit(http: httpx.Client, name: str = "gpt-image-2", **headers: str) -> httpx.Response:
    return http.post(
        f"/api/models/{name}/run",
        params={"async": "true"},
        json={"inputs": {"prompt": "x"}},
        headers=headers or None,
    )


def test_async_lifecycle(http: httpx.Client, emu: Emulator, clock: ManualClock) -> None:
    response = submit(http)
    assert response.status_code == 202
    body = response.json()
    assert body["_async"] is True
    assert body["status"] == "processing"
    assert body["requestId"].startswith("req_")
    assert body["webhookDelivery"] == {"configured": False}
    execution_id = body["executionId"]
    uuid.UUID(execution_id)
    assert body["pollUrl"] == f"/api/executions/{execution_id}"
    assert emu.run_count("gpt-image-2") == 1
    assert emu.balance(emu.api_key) == 996  # charged at submission

    polled = http.get(body["pollUrl"])
    assert polled.json() == {
        "executionId": execution_id,
        "status": "processing",
        "requestId": body["requestId"],
    }
    assert "x-ratelimit-limit" in polled.headers
    clock.advance(0.2)
    done = http.get(body["pollUrl"]).json()
    assert done["status"] == "completed"
    assert done["cost"] == 4
    assert isinstance(done["ms"], int)
    assert len(done["result"]["images"]) == 1
    assert emu.run_count() == 1


def test_async_result_matches_sync_result(http: httpx.Client, clock: ManualClock) -> None:
    sync = http.post("/api/models/suno-v5/run", json={"inputs": {"prompt": "x"}}).json()
    execution = submit(http, "suno-v5").json()
    clock.advance(1)
    assert http.get(execution["pollUrl"]).json()["result"] == sync["result"]


def test_workflow_async(http: httpx.Client, clock: ManualClock) -> None:
    response = http.post(
        "/api/workflows/playground-demo/run?async=true", json={"inputs": {"prompt": "x"}}
    )
    assert response.status_code == 202
    clock.advance(1)
    assert http.get(response.json()["pollUrl"]).json()["result"]["text"]


def test_failed_execution(http: httpx.Client, emu: Emulator, clock: ManualClock) -> None:
    emu.add_model("flaky-video", "video", cost=7, fail=("PROVIDER_TIMEOUT", "took too long"))
    execution = submit(http, "flaky-video").json()
    clock.advance(1)
    body = http.get(execution["pollUrl"]).json()
    assert body["status"] == "failed"
    assert body["error"] == {"code": "PROVIDER_TIMEOUT", "message": "took too long"}
    assert emu.balance(emu.api_key) == 1000


def test_cancel(http: httpx.Client, clock: ManualClock) -> None:
    execution = submit(http).json()
    cancel_url = f"{execution['pollUrl']}/cancel"
    assert http.post(cancel_url).json()["status"] == "cancel_requested"
    assert http.post(cancel_url).json()["status"] == "cancel_requested"
    clock.advance(1)
    assert http.get(execution["pollUrl"]).json()["status"] == "cancelled"
    finished = submit(http).json()
    clock.advance(1)
    unchanged = http.post(f"{finished['pollUrl']}/cancel")
    assert unchanged.status_code == 200
    assert unchanged.json()["status"] == "completed"


@pytest.mark.parametrize("execution_id", [str(uuid.UUID(int=1)), "not-a-uuid"])
def test_unknown_execution(http: httpx.Client, execution_id: str) -> None:
    for response in (
        http.get(f"/api/executions/{execution_id}"),
        http.post(f"/api/executions/{execution_id}/cancel"),
    ):
        assert response.status_code == 404
        assert response.json() == {"error": "Execution not found", "code": "EXECUTION_NOT_FOUND"}


def test_executions_are_private_to_their_user(http: httpx.Client, emu: Emulator) -> None:
    execution = submit(http).json()
    same_user = emu.create_key(capabilities={"execution:read"})
    assert http.get(execution["pollUrl"], headers={"x-api-key": same_user}).status_code == 200
    stranger = emu.create_key(user="usr_other")
    assert http.get(execution["pollUrl"], headers={"x-api-key": stranger}).status_code == 404


def test_execution_capabilities(http: httpx.Client, emu: Emulator) -> None:
    execution = submit(http).json()
    runner = emu.create_key(capabilities={"model:run"})
    denied = http.get(execution["pollUrl"], headers={"x-api-key": runner})
    assert denied.status_code == 403
    assert denied.json()["required"] == "execution:read"
    cancel = http.post(f"{execution['pollUrl']}/cancel", headers={"x-api-key": runner})
    assert cancel.json()["required"] == "execution:cancel"


def test_webhook_delivery_block_reports_configuration(http: httpx.Client, emu: Emulator) -> None:
    key = emu.create_key(
        webhook_url="http://127.0.0.1:9/hook", webhook_secret="whsec_0123456789abcdef"
    )
    body = submit(http, **{"x-api-key": key}).json()
    assert body["webhookDelivery"] == {"configured": True, "url": "http://127.0.0.1:9/hook"}
