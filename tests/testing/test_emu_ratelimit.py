"""Fixed-window rate limits per key and route family, on the emulator clock."""

from __future__ import annotations

from email.utils import parsedate_to_datetime

import httpx
import pytest

from knouds.testing import Emulator, ManualClock

START = 1_700_000_040.0  # the conftest clock's start, aligned to a 60-second window


def _client(emu: Emulator, via: str) -> httpx.Client:
    if via == "socket":
        return httpx.Client(base_url=emu.base_url, verify=False)
    return httpx.Client(transport=emu.transport(), base_url="http://emulator.test")


@pytest.fixture(params=["socket", "transport"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_window_headers_and_429(via: str, clock: ManualClock) -> None:
    assert clock.now == START
    with Emulator(clock=clock, rate_limit=2, window=60.0) as emu, _client(emu, via) as http:
        headers = {"x-api-key": emu.api_key}
        first = http.get("/api/whoami", headers=headers)
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert first.headers["x-ratelimit-reset"] == str(int(START + 60))
        clock.advance(15)
        assert http.get("/api/whoami", headers=headers).headers["x-ratelimit-remaining"] == "0"
        limited = http.get("/api/whoami", headers=headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "45"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert limited.json() == {
            "error": "Rate limit exceeded",
            "code": "RATE_LIMIT_EXCEEDED",
            "tier": "business",
            "limit": 2,
            "retryAfter": 45,
        }
        clock.advance(45)
        again = http.get("/api/whoami", headers=headers)
        assert again.status_code == 200
        assert again.headers["x-ratelimit-reset"] == str(int(START + 120))


def test_buckets_are_separate_per_route_family_and_key(clock: ManualClock) -> None:
    with Emulator(clock=clock, rate_limit=1) as emu, _client(emu, "transport") as http:
        headers = {"x-api-key": emu.api_key}
        body = {"inputs": {"prompt": "x"}}
        assert http.post("/api/models/gpt-image-2/run", json=body, headers=headers).is_success
        assert (
            http.post("/api/models/gpt-image-2/run", json=body, headers=headers).status_code == 429
        )
        flow = http.post("/api/workflows/playground-demo/run", json=body, headers=headers)
        assert flow.is_success
        assert http.get("/api/whoami", headers=headers).is_success
        other = emu.create_key()
        assert http.get("/api/whoami", headers={"x-api-key": other}).is_success
        emu.reset_rate_limits()
        assert http.post("/api/models/gpt-image-2/run", json=body, headers=headers).is_success


def test_error_responses_after_auth_carry_headers(clock: ManualClock) -> None:
    with Emulator(clock=clock) as emu, _client(emu, "transport") as http:
        headers = {"x-api-key": emu.api_key}
        bad = http.post("/api/models/gpt-image-2/run", json={"inputs": None}, headers=headers)
        assert bad.status_code == 400
        assert bad.headers["x-ratelimit-limit"] == "1000"
        assert bad.headers["x-ratelimit-remaining"] == "999"


def test_tier_defaults_and_overrides(clock: ManualClock) -> None:
    with Emulator(clock=clock) as emu, _client(emu, "transport") as http:
        limits = {}
        for tier in ("free", "pro", "business"):
            key = emu.create_key(tier=tier)
            limits[tier] = http.get("/api/whoami", headers={"x-api-key": key}).headers[
                "x-ratelimit-limit"
            ]
        assert limits == {"free": "10", "pro": "100", "business": "1000"}
        enterprise = emu.create_key(tier="enterprise")
        response = http.get("/api/whoami", headers={"x-api-key": enterprise})
        assert not any(h.startswith("x-ratelimit") for h in response.headers)
        custom = emu.create_key(tier="enterprise", rate_limit=3)
        assert (
            http.get("/api/whoami", headers={"x-api-key": custom}).headers["x-ratelimit-limit"]
            == "3"
        )


def test_sub_second_window(clock: ManualClock) -> None:
    clock.now = START + 0.1
    with Emulator(clock=clock, rate_limit=1, window=0.5) as emu, _client(emu, "transport") as http:
        headers = {"x-api-key": emu.api_key}
        ok = http.get("/api/whoami", headers=headers)
        assert ok.headers["x-ratelimit-reset"] == f"{START + 0.5:.3f}"
        limited = http.get("/api/whoami", headers=headers)
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "0.400"
        assert limited.json()["retryAfter"] == pytest.approx(0.4)
        clock.advance(0.4)
        assert http.get("/api/whoami", headers=headers).status_code == 200


def test_date_header_follows_clock_and_skew(clock: ManualClock) -> None:
    with Emulator(clock=clock, clock_skew=-30.0) as emu, _client(emu, "transport") as http:
        response = http.get("/api/whoami", headers={"x-api-key": emu.api_key})
        assert parsedate_to_datetime(response.headers["date"]).timestamp() == START - 30
        assert response.headers["x-ratelimit-reset"] == str(int(START - 60 + 60))


def test_keys_of_one_account_share_its_budget(clock: ManualClock) -> None:
    with Emulator(clock=clock, rate_limit=2) as emu, _client(emu, "transport") as http:
        first, second = (emu.create_key(account="acme") for _ in range(2))
        alone = emu.create_key()

        def whoami(key: str) -> httpx.Response:
            return http.get("/api/whoami", headers={"x-api-key": key})

        assert whoami(first).headers["x-ratelimit-remaining"] == "1"
        assert whoami(second).headers["x-ratelimit-remaining"] == "0"
        assert whoami(first).status_code == 429
        assert whoami(alone).headers["x-ratelimit-remaining"] == "1"  # an account of its own
        assert whoami(emu.create_key(account="other")).status_code == 200
