"""Every retry decision, for both clients, with fake time (nothing sleeps for real)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import knouds
from knouds._core.retry import compute_wait
from tests.conftest import FakeTime, rate_headers, resolve, script

NO_JITTER = knouds.RetryPolicy(jitter=False)
OK = {"success": True, "result": {"text": "done"}, "cost": 1, "ms": 5}


def limited(retry_after: str | None = "2", body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return httpx.Response(
        429,
        json=body or {"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"},
        headers=headers,
    )


async def test_429_429_200_waits_retry_after_and_succeeds(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("2"), limited("3"), httpx.Response(200, json=OK))
    events: list[knouds.RetryEvent] = []
    policy = knouds.RetryPolicy(jitter=False, on_retry=events.append)
    client = make_client(handler, retry=policy)
    result = await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert result.text == "done"
    assert len(seen) == 3
    assert fake_time.sleeps == [2.0, 3.0]
    assert [(e.attempt, e.reason, e.wait) for e in events] == [
        (1, "rate_limited", 2.0),
        (2, "rate_limited", 3.0),
    ]
    assert isinstance(events[0].error, knouds.RateLimitError)


async def test_retries_give_up_after_max_retries(make_client: Any, fake_time: FakeTime) -> None:
    handler, seen = script(*[limited("1")] * 3)
    client = make_client(handler, retry=NO_JITTER, max_retries=2)
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.retry_after == 1.0
    assert len(seen) == 3


async def test_429_with_wait_above_cap_raises_at_once(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("120"))
    client = make_client(handler, retry=NO_JITTER)
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.retry_after == 120.0
    assert len(seen) == 1
    assert fake_time.sleeps == []
    assert "Retry after 120 s" in str(info.value)


async def test_429_wait_falls_back_to_body_then_reset(
    make_client: Any, fake_time: FakeTime
) -> None:
    body = {"error": "slow down", "code": "RATE_LIMIT_EXCEEDED", "retryAfter": 4}
    reset_only = httpx.Response(
        429,
        json={"error": "slow down", "code": "RATE_LIMIT_EXCEEDED"},
        headers=rate_headers(10, 0, fake_time.now + 4 + 6),  # 6 s after the first wait of 4
    )
    handler, _seen = script(limited(None, body), reset_only, httpx.Response(200, json=OK))
    client = make_client(handler, retry=NO_JITTER, pace=False)
    await resolve(client.models.run("gpt-image-2", {}))
    assert fake_time.sleeps == [4.0, 6.0]


async def test_429_without_any_hint_backs_off_exponentially(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, _ = script(limited(None), limited(None), httpx.Response(200, json=OK))
    client = make_client(handler, retry=NO_JITTER)
    await resolve(client.models.run("gpt-image-2", {}))
    assert fake_time.sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "INVALID_INPUTS"),
        (401, None),
        (402, "INSUFFICIENT_CREDITS"),
        (402, "grant_exhausted"),
        (403, "CAPABILITY_DENIED"),
        (404, "MODEL_NOT_FOUND"),
        (500, "EXECUTION_FAILED"),
        (502, None),
    ],
)
async def test_client_errors_and_unknown_outcomes_are_not_retried_for_runs(
    make_client: Any, status: int, code: str | None
) -> None:
    body = {"error": "no", **({"code": code} if code else {})}
    handler, seen = script(*[httpx.Response(status, json=body)] * 3)
    client = make_client(handler)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.status_code == status
    assert len(seen) == 1


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow connect"),
        httpx.PoolTimeout("pool"),
    ],
)
async def test_never_sent_failures_are_retried(
    make_client: Any, fake_time: FakeTime, error: Exception
) -> None:
    handler, seen = script(error, httpx.Response(200, json=OK))
    client = make_client(handler, retry=NO_JITTER)
    result = await resolve(client.models.run("gpt-image-2", {}))
    assert result.cost == 1
    assert len(seen) == 2
    assert fake_time.sleeps == [0.5]


async def test_connection_errors_surface_as_knouds_errors(make_client: Any) -> None:
    handler, seen = script(*[httpx.ConnectError("refused")] * 3)
    client = make_client(handler, retry=NO_JITTER)
    with pytest.raises(knouds.APIConnectionError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.sent is False
    assert not isinstance(info.value.__cause__, type(None))
    assert len(seen) == 3


@pytest.mark.parametrize(
    "error",
    [httpx.ReadTimeout("read"), httpx.RemoteProtocolError("dropped"), httpx.ReadError("reset")],
)
async def test_unknown_outcome_of_a_run_is_not_retried_unless_opted_in(
    make_client: Any, error: Exception
) -> None:
    handler, seen = script(error, httpx.Response(200, json=OK))
    client = make_client(handler)
    with pytest.raises(knouds.APIConnectionError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.sent is True
    assert "may have been processed" in str(info.value)
    assert len(seen) == 1

    handler, seen = script(error, httpx.Response(200, json=OK))
    opted_in = make_client(handler, retry=knouds.RetryPolicy(retry_unknown_outcome=True))
    assert (await resolve(opted_in.models.run("gpt-image-2", {}))).cost == 1
    assert len(seen) == 2


async def test_read_timeout_is_an_api_timeout_error(make_client: Any) -> None:
    handler, _ = script(httpx.ReadTimeout("read"))
    client = make_client(handler)
    with pytest.raises(knouds.APITimeoutError):
        await resolve(client.models.run("gpt-image-2", {}))


@pytest.mark.parametrize(
    "first",
    [
        lambda: httpx.ReadTimeout("read"),
        lambda: httpx.Response(502, text="<html>bad gateway</html>"),
        lambda: httpx.Response(503),
    ],
)
async def test_gets_are_retried_after_unknown_outcomes(make_client: Any, first: Any) -> None:
    body = {"executionId": "e1", "status": "processing"}
    handler, seen = script(first(), httpx.Response(200, json=body))
    client = make_client(handler)
    execution = await resolve(client.executions.get("e1"))
    assert execution.status == "processing"
    assert len(seen) == 2


async def test_deadline_stops_retries_whose_wait_would_pass_it(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(*[limited("5")] * 10)
    client = make_client(
        handler, retry=knouds.RetryPolicy(max_retries=10, jitter=False, deadline=12)
    )
    with pytest.raises(knouds.RateLimitError):
        await resolve(client.models.run("gpt-image-2", {}))
    assert len(seen) == 3  # at t=0, 5, 10; a fourth at 15 would pass the deadline
    assert fake_time.sleeps == [5.0, 5.0]


async def test_deadline_caps_each_attempts_timeout(make_client: Any) -> None:
    handler, seen = script(httpx.Response(200, json=OK))
    client = make_client(handler, retry=knouds.RetryPolicy(deadline=3))
    await resolve(client.models.run("gpt-image-2", {}))
    assert seen[0].extensions["timeout"]["read"] == pytest.approx(3.0)


async def test_per_call_policy_overrides_the_client(make_client: Any) -> None:
    handler, seen = script(limited("1"), httpx.Response(200, json=OK))
    client = make_client(handler)
    with pytest.raises(knouds.RateLimitError):
        await resolve(client.models.run("gpt-image-2", {}, retry=knouds.RetryPolicy(max_retries=0)))
    assert len(seen) == 1


async def test_max_retries_zero_on_the_client(make_client: Any) -> None:
    handler, seen = script(httpx.ConnectError("refused"), httpx.Response(200, json=OK))
    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.APIConnectionError):
        await resolve(client.models.run("gpt-image-2", {}))
    assert len(seen) == 1


async def test_pacing_wait_above_cap_raises_without_sending(
    make_client: Any, fake_time: FakeTime
) -> None:
    spent = httpx.Response(200, json=OK, headers=rate_headers(10, 0, fake_time.now + 600))
    handler, seen = script(spent, httpx.Response(200, json=OK))
    client = make_client(handler)
    await resolve(client.models.run("gpt-image-2", {}))
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.status_code is None
    assert info.value.retry_after == pytest.approx(600.05)
    assert len(seen) == 1
    assert fake_time.sleeps == []


async def test_hook_errors_propagate_and_no_tenacity_error_leaks(make_client: Any) -> None:
    handler, _ = script(*[limited("1")] * 5)
    client = make_client(handler, retry=NO_JITTER)
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert "tenacity" not in type(info.value).__module__


def test_jitter_keeps_waits_in_range() -> None:
    policy = knouds.RetryPolicy()
    error = knouds.RateLimitError("x", status_code=429, retry_after=10.0)
    waits = [compute_wait(error, 1, policy) for _ in range(200)]
    assert all(10.0 <= w <= 11.0 for w in waits)
    backoffs = [compute_wait(knouds.APIConnectionError(sent=False), 3, policy) for _ in range(200)]
    assert all(1.0 <= w <= 2.0 for w in backoffs)
    assert compute_wait(knouds.APIConnectionError(sent=False), 10, policy) <= policy.max_backoff


def test_policy_validates_its_numbers() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        knouds.RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="deadline"):
        knouds.RetryPolicy(deadline=0)


async def test_body_decoding_errors_are_knouds_errors(make_client: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip", headers={"content-encoding": "gzip"})

    client = make_client(handler)
    with pytest.raises(knouds.APIConnectionError):
        await resolve(client.models.run("gpt-image-2", {}))
