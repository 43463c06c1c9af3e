"""The rules whose breakage costs credits or leaks the API key, pinned for both clients.

Each test here fails when its rule is broken by one small change in the SDK (a status added to
the retried set, a deadline ignored, a loopback check loosened, a header order swapped, a pacing
slot not handed back), so a slip is caught by the fast unit tests and not by a long soak run.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, FakeTime, rate_headers, resolve, script

OK_RUN = {"success": True, "result": {"text": "done"}, "cost": 1, "ms": 5}
EXECUTION = {"executionId": "e1", "status": "processing"}
CLIENT_ERRORS = [400, 401, 402, 403, 404, 405, 409, 410, 413, 415, 422, 451]


def client_error(status: int) -> httpx.Response:
    return httpx.Response(status, json={"error": "refused", "code": "SOME_CLIENT_ERROR"})


# -- a 4xx is final: never re-sent, whatever the request and the policy ---------------------------


@pytest.mark.parametrize("status", CLIENT_ERRORS)
async def test_4xx_on_a_get_is_raised_after_one_request(
    make_client: Any, fake_time: FakeTime, status: int
) -> None:
    handler, seen = script(*[client_error(status)] * 3, httpx.Response(200, json=EXECUTION))
    client = make_client(handler)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.executions.get("e1"))
    assert info.value.status_code == status
    assert len(seen) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", CLIENT_ERRORS)
async def test_4xx_on_a_run_with_retry_unknown_outcome_is_raised_after_one_request(
    make_client: Any, fake_time: FakeTime, status: int
) -> None:
    handler, seen = script(*[client_error(status)] * 3, httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(retry_unknown_outcome=True))
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert info.value.status_code == status
    assert len(seen) == 1
    assert fake_time.sleeps == []


# -- pacing never waits past the deadline ---------------------------------------------------------


async def test_pacing_wait_beyond_what_is_left_of_the_deadline_raises_at_once(
    make_client: Any, fake_time: FakeTime
) -> None:
    spent = httpx.Response(200, json=OK_RUN, headers=rate_headers(10, 0, fake_time.now + 30))
    handler, seen = script(spent, httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(deadline=5))
    await resolve(client.models.run("gpt-image-2", {}))
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.status_code is None
    assert info.value.retry_after == pytest.approx(30.05)
    assert fake_time.sleeps == []
    assert len(seen) == 1

    # A window that resets within the deadline is still waited for.
    fake_time.advance(27)
    assert (await resolve(client.models.run("gpt-image-2", {}))).cost == 1
    assert fake_time.sleeps == [pytest.approx(3.05)]
    assert len(seen) == 2


# -- the key never travels in clear text to a remote host -----------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.evil.com",
        "http://localhost.evil.com:8000/api",
        "http://localhostevil.com",
        "http://evil-localhost",
        "http://evil.com/localhost",
        "http://127.0.0.1.evil.com",
        "http://localhost@evil.com",
        "http://128.0.0.1",
        "http://[::2]",
        "http://0.0.0.0",
    ],
)
async def test_plain_http_to_a_host_that_only_looks_local_is_refused(
    make_client: Any, url: str
) -> None:
    with pytest.raises(knouds.ConfigurationError):
        make_client(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost",
        "http://LOCALHOST:8080",
        "http://app.localhost:8000",
        "http://a.b.localhost",
        "http://127.0.0.1:9",
        "http://127.255.255.254",
        "http://[::1]:8000",
    ],
)
async def test_plain_http_to_loopback_is_accepted(make_client: Any, url: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=EXECUTION)

    client = make_client(handler, base_url=url)
    assert client.base_url.scheme == "http"
    await resolve(client.executions.get("e1"))
    assert seen[0].url.host == httpx.URL(url).host


# -- the configured key is the one sent, and the one redacted -------------------------------------


@pytest.mark.parametrize("name", ["X-Api-Key", "x-api-key", "X-API-KEY"])
async def test_default_headers_cannot_replace_the_api_key(make_client: Any, name: str) -> None:
    stray = "knouds_live_stray_fedcba9876543210"
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        echoed = request.headers.get("x-api-key", "")
        return httpx.Response(401, json={"error": f"key {echoed} is not valid"})

    client = make_client(handler, default_headers={name: stray, "X-Team": "blue"})
    with pytest.raises(knouds.AuthenticationError) as info:
        await resolve(client.whoami())
    assert seen[0].headers.get_list("x-api-key") == [API_KEY]
    assert seen[0].headers["x-team"] == "blue"
    assert API_KEY not in str(info.value)
    assert stray not in str(info.value)
    assert "***" in str(info.value)


# -- a pacing slot is handed back whatever happened to its request --------------------------------


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("read"), httpx.RemoteProtocolError("cut")],
)
async def test_pacing_slot_is_released_after_a_connection_error(
    make_client: Any, fake_time: FakeTime, failure: Exception
) -> None:
    # A one-request window: the first response spends it, the failed request waits for the next
    # window, and the call after it must find that slot free again rather than wait forever.
    spent = httpx.Response(200, json=OK_RUN, headers=rate_headers(1, 0, fake_time.now + 10))
    handler, seen = script(spent, failure, httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(max_retries=0, deadline=60))
    await resolve(client.models.run("gpt-image-2", {}))
    with pytest.raises(knouds.APIConnectionError):
        await resolve(client.models.run("gpt-image-2", {}))
    assert fake_time.sleeps == [pytest.approx(10.05)]

    result = await resolve(client.models.run("gpt-image-2", {}))
    assert result.cost == 1
    assert len(seen) == 3
    assert fake_time.sleeps == [pytest.approx(10.05)]
