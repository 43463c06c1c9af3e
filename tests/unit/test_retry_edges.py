"""Edges of the retry rules: limits met exactly, what each failure is called, jitter, validation."""

from __future__ import annotations

import logging
import random
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.retry import classify, compute_wait
from tests.conftest import FakeTime, resolve, script

OK_RUN = {"success": True, "result": {"text": "done"}, "cost": 1, "ms": 5}
EXECUTION = {"executionId": "e1", "status": "processing"}


def limited(retry_after: str) -> httpx.Response:
    body = {"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"}
    return httpx.Response(429, json=body, headers={"retry-after": retry_after})


async def test_a_429_asking_exactly_max_retry_wait_is_waited_for(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("60"), httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(jitter=False, max_retry_wait=60))
    assert (await resolve(client.models.run("gpt-image-2", {}))).cost == 1
    assert fake_time.sleeps == [60.0]
    assert len(seen) == 2


async def test_a_retry_landing_exactly_on_the_deadline_is_made(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("10"), httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(jitter=False, deadline=10))
    try:
        result = await resolve(client.models.run("gpt-image-2", {}))
    except knouds.APITimeoutError:
        # The retry has 1 ms of real time: on a busy machine (tests run in parallel) even the
        # in-memory answer can take longer. The retry was still made, which is the point here.
        result = None
    assert fake_time.sleeps == [10.0]
    assert len(seen) == 2
    # Nothing is left of the deadline: the attempt gets the shortest timeout, not none.
    assert seen[1].extensions["timeout"]["read"] == pytest.approx(0.001)
    if result is not None:
        assert result.cost == 1


async def test_an_immediate_retry_fits_a_short_deadline(
    make_client: Any, fake_time: FakeTime
) -> None:
    handler, seen = script(limited("0"), httpx.Response(200, json=OK_RUN))
    client = make_client(handler, retry=knouds.RetryPolicy(jitter=False, deadline=0.5))
    assert (await resolve(client.models.run("gpt-image-2", {}))).cost == 1
    assert len(seen) == 2


async def test_a_5xx_of_a_run_is_retried_only_when_opted_in(
    make_client: Any, fake_time: FakeTime
) -> None:
    events: list[knouds.RetryEvent] = []
    policy = knouds.RetryPolicy(jitter=False, retry_unknown_outcome=True, on_retry=events.append)
    handler, seen = script(
        httpx.Response(500, json={"error": "boom"}), httpx.Response(200, json=OK_RUN)
    )
    client = make_client(handler, retry=policy)
    assert (await resolve(client.models.run("gpt-image-2", {}))).cost == 1
    assert [(e.reason, e.method, e.path, e.attempt) for e in events] == [
        ("server_error", "POST", "/api/models/gpt-image-2/run", 1)
    ]

    handler, seen = script(
        httpx.Response(500, json={"error": "boom"}), httpx.Response(200, json=OK_RUN)
    )
    client = make_client(handler)
    with pytest.raises(knouds.InternalServerError):
        await resolve(client.models.run("gpt-image-2", {}))
    assert len(seen) == 1


async def test_a_get_with_an_unreadable_success_body_is_retried(
    make_client: Any, fake_time: FakeTime
) -> None:
    events: list[knouds.RetryEvent] = []
    handler, seen = script(
        httpx.Response(200, text="<html>gateway</html>"), httpx.Response(200, json=EXECUTION)
    )
    client = make_client(handler, retry=knouds.RetryPolicy(on_retry=events.append))
    assert (await resolve(client.executions.get("e1"))).status == "processing"
    assert len(seen) == 2
    assert [(e.reason, e.method, e.path) for e in events] == [
        ("unknown_outcome", "GET", "/api/executions/e1")
    ]


async def test_retry_log_names_the_request_the_failure_and_the_attempts(
    make_client: Any, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    handler, _ = script(
        limited("1"),
        httpx.Response(503),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=EXECUTION),
    )
    client = make_client(handler, retry=knouds.RetryPolicy(jitter=False, max_retries=3))
    with caplog.at_level(logging.INFO, logger="knouds"):
        await resolve(client.executions.get("e1"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(lines) == 3
    assert "GET /api/executions/e1" in lines[0]
    assert "attempt 1 of 4" in lines[0]
    assert lines[0].endswith("HTTP 429 RATE_LIMIT_EXCEEDED)")
    assert lines[1].endswith("HTTP 503)")
    assert lines[2].endswith("APIConnectionError)")
    assert "1.00 s" in lines[0]


def test_failures_nobody_knows_are_fatal() -> None:
    assert classify(RuntimeError("bug")) == "fatal"
    assert classify(knouds.BadRequestError("no", status_code=400)) == "fatal"
    assert classify(knouds.RateLimitError("paced", retry_after=3.0)) == "fatal"


def test_jitter_spreads_waits_and_can_be_turned_off() -> None:
    limited_error = knouds.RateLimitError("x", status_code=429, retry_after=10.0)
    not_sent = knouds.APIConnectionError(sent=False)
    rng = random.Random(7)
    jittered = knouds.RetryPolicy()
    assert len({compute_wait(limited_error, 1, jittered, rng) for _ in range(20)}) > 1
    assert len({compute_wait(not_sent, 1, jittered, rng) for _ in range(20)}) > 1
    steady = knouds.RetryPolicy(jitter=False)
    assert compute_wait(limited_error, 1, steady, rng) == 10.0
    assert [compute_wait(not_sent, n, steady, rng) for n in (1, 2, 3, 6, 7)] == [
        0.5,
        1.0,
        2.0,
        8.0,
        8.0,
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", -1),
        ("initial_backoff", -0.1),
        ("max_backoff", -0.1),
        ("max_retry_wait", -0.1),
        ("deadline", 0),
        ("deadline", -1),
    ],
)
def test_policy_refuses_negative_limits(field: str, value: float) -> None:
    options: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field if field in ("max_retries", "deadline") else ">= 0"):
        knouds.RetryPolicy(**options)


def test_policy_accepts_zero_limits_and_short_deadlines() -> None:
    policy = knouds.RetryPolicy(
        max_retries=0, initial_backoff=0, max_backoff=0, max_retry_wait=0, deadline=0.5
    )
    assert policy.max_backoff == 0
    assert policy.with_max_retries(4).max_retries == 4
    assert policy.with_max_retries(4).deadline == 0.5


@pytest.mark.parametrize("status", [400, 403, 503])
async def test_a_rate_limit_code_on_another_status_is_not_waited_out(
    make_client: Any, fake_time: FakeTime, status: int
) -> None:
    body = {"error": "slow down", "code": "RATE_LIMIT_EXCEEDED", "retryAfter": 1}
    handler, seen = script(*[httpx.Response(status, json=body)] * 3)
    client = make_client(handler)
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("gpt-image-2", {}))
    assert info.value.status_code == status
    assert len(seen) == 1
    assert fake_time.sleeps == []
