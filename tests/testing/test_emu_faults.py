"""Injected faults, over sockets and in-process."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from knouds.testing import Emulator, Fault

BODY = {"inputs": {"prompt": "x"}}


def test_status_fault(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.status(503, "UPSTREAM_DOWN", "try later", headers={"X-Extra": "1"}))
    response = http.post("/api/models/gpt-image-2/run", json=BODY)
    assert response.status_code == 503
    assert response.json() == {"error": "try later", "code": "UPSTREAM_DOWN"}
    assert response.headers["x-extra"] == "1"
    assert emu.run_count() == 0
    assert http.post("/api/models/gpt-image-2/run", json=BODY).status_code == 200
    assert [entry.fault for entry in emu.log] == ["status:503", None]


def test_status_fault_custom_body(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.status(418, body={"weird": True}))
    assert http.get("/api/whoami").json() == {"weird": True}


def test_html_and_empty(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.html(), times=1)
    emu.inject(Fault.empty(504), times=1)
    html = http.get("/api/whoami")
    assert html.status_code == 502
    assert html.headers["content-type"] == "text/html"
    assert b"<html>" in html.content
    empty = http.get("/api/whoami")
    assert empty.status_code == 504
    assert empty.content == b""


def test_invalid_and_truncated_json(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.invalid_json())
    emu.inject(Fault.truncated_json())
    for _ in range(2):
        response = http.post("/api/models/gpt-image-2/run", json=BODY)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        with pytest.raises(json.JSONDecodeError):
            response.json()


def test_truncated_looks_like_a_run(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.truncated_json())
    text = http.get("/api/whoami").text
    assert text.startswith('{"success": true')


def test_rate_limited_fault(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.rate_limited(retry_after=7))
    response = http.post("/api/models/gpt-image-2/run", json=BODY)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-limit"] == "1000"
    assert float(response.headers["x-ratelimit-reset"]) == pytest.approx(emu.now() + 7, abs=1)
    body = response.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    assert body["retryAfter"] == 7
    assert body["limit"] == 1000
    assert body["tier"] == "business"


def test_drop(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.drop())
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/api/whoami")
    assert http.get("/api/whoami").status_code == 200
    assert emu.log[0].status is None
    assert emu.log[0].fault == "drop"


def test_delay_then_normal_and_then_fault(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.delay(0.05))
    started = time.monotonic()
    assert http.get("/api/whoami").status_code == 200
    assert time.monotonic() - started >= 0.05
    emu.inject(Fault.delay(0.01, then=Fault.status(500)))
    assert http.get("/api/whoami").status_code == 500
    assert [e.fault for e in emu.log] == ["delay", "delay+status:500"]


def test_read_timeout_with_delay(emu: Emulator) -> None:
    emu.inject(Fault.delay(0.3))
    with (
        httpx.Client(base_url=emu.base_url, verify=False) as http,
        pytest.raises(httpx.ReadTimeout),
    ):
        http.get("/api/whoami", timeout=0.05)


def test_path_method_and_times_filters(http: httpx.Client, emu: Emulator) -> None:
    emu.inject(Fault.status(500), times=2, path="/api/workflows/", method="POST")
    assert http.get("/api/whoami").status_code == 200
    assert http.get("/api/workflows/playground-demo/schema").status_code == 200
    for _ in range(2):
        response = http.post("/api/workflows/playground-demo/run", json=BODY)
        assert response.status_code == 500
    assert http.post("/api/workflows/playground-demo/run", json=BODY).status_code == 200


def test_rate_is_seeded_and_clear_faults() -> None:
    def pattern() -> list[int]:
        emu = Emulator(seed=0)
        emu.inject(Fault.status(503), rate=0.5)
        with httpx.Client(transport=emu.transport(), base_url="http://e.test") as http:
            statuses = [
                http.get("/api/whoami", headers={"x-api-key": emu.api_key}).status_code
                for _ in range(40)
            ]
        emu.clear_faults()
        with httpx.Client(transport=emu.transport(), base_url="http://e.test") as http:
            assert http.get("/api/whoami", headers={"x-api-key": emu.api_key}).status_code == 200
        return statuses

    first = pattern()
    assert first == pattern()
    assert 5 < first.count(503) < 35


async def test_async_transport_faults(emu: Emulator) -> None:
    emu.inject(Fault.delay(0.01, then=Fault.drop()))
    async with httpx.AsyncClient(transport=emu.transport(), base_url="http://e.test") as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get("/api/whoami")
        ok = await http.get("/api/whoami", headers={"x-api-key": emu.api_key})
        assert ok.status_code == 200
