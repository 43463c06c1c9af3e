"""``client.executions`` and ``submit``: get, cancel and wait, both clients, over MockTransport."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.polling import Poll, execution_id_of, next_interval, settle
from knouds.resources.executions import AsyncExecutions, Executions
from knouds.testing import responses
from tests.conftest import FakeTime, json_response, rate_headers, resolve

EXEC_ID = "3f6c1b1e-6a0e-4f7b-9a52-0d3c2f1e9b77"
VIDEO = "https://knouds-media.s3.amazonaws.com/out/clip.mp4"


def submitted(status_code: int = 202) -> httpx.Response:
    return responses.submit(EXEC_ID, request_id="req_1", status_code=status_code)


def state(status: str, **extra: Any) -> dict[str, Any]:
    return {"executionId": EXEC_ID, "status": status, "requestId": "req_1", **extra}


COMPLETED = state("completed", result={"videos": [VIDEO]}, cost=20, ms=41000)


class Script:
    """A handler answering each poll with the next state of a script (the last one repeats)."""

    def __init__(self, *states: dict[str, Any] | httpx.Response) -> None:
        self.states = list(states)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return item if isinstance(item, httpx.Response) else json_response(200, item)


MakeClient = Callable[..., Any]


# -- submit, get, cancel ---------------------------------------------------------------------------


@pytest.mark.parametrize("status_code", [200, 202])
async def test_submit_accepts_200_and_202(make_client: MakeClient, status_code: int) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return submitted(status_code)

    client = make_client(handler)
    execution = await resolve(client.models.submit("seedance-2-i2v", {"prompt": "waves"}))

    assert isinstance(execution, knouds.Execution)
    assert execution.id == EXEC_ID
    assert execution.status == "processing"
    assert execution.poll_url == f"/api/executions/{EXEC_ID}"
    assert execution.webhook_delivery is not None
    assert not execution.webhook_delivery.configured
    assert execution.done is False
    (request,) = seen
    assert request.method == "POST"
    assert request.url.path == "/api/models/seedance-2-i2v/run"
    assert request.url.params["async"] == "true"
    assert json.loads(request.content) == {"inputs": {"prompt": "waves"}}


async def test_a_submission_and_a_poll_carry_the_rate_limit_their_answers_reported(
    make_client: MakeClient,
) -> None:
    answers = iter(
        [
            json_response(202, state("queued"), headers=rate_headers(10, 7, 1_700_000_060)),
            json_response(200, COMPLETED, headers=rate_headers(50, 49, 1_700_000_120)),
        ]
    )
    client = make_client(lambda request: next(answers))

    execution = await resolve(client.models.submit("seedance-2-i2v", {"prompt": "waves"}))
    polled = await resolve(client.executions.get(EXEC_ID))

    assert execution.rate_limit == knouds.RateLimit(limit=10, remaining=7, reset=1_700_000_060)
    assert polled.rate_limit == knouds.RateLimit(limit=50, remaining=49, reset=1_700_000_120)


async def test_submit_async_not_supported(make_client: MakeClient) -> None:
    body = {"error": "kling-o3-ref2v does not support async", "code": "ASYNC_NOT_SUPPORTED"}
    client = make_client(lambda request: json_response(400, body))

    with pytest.raises(knouds.AsyncNotSupportedError) as info:
        await resolve(client.models.submit("kling-o3-ref2v", {"prompt": "x"}))
    assert info.value.status_code == 400
    assert "run() instead of submit()" in str(info.value)


async def test_get_accepts_an_id_or_an_execution(make_client: MakeClient) -> None:
    script = Script(state("processing"))
    client = make_client(script)

    by_id = await resolve(client.executions.get(EXEC_ID))
    by_object = await resolve(client.executions.get(by_id))

    assert by_id.status == by_object.status == "processing"
    assert [r.url.path for r in script.requests] == [f"/api/executions/{EXEC_ID}"] * 2
    assert all(r.method == "GET" for r in script.requests)


async def test_cancel_posts_to_the_cancel_route(make_client: MakeClient) -> None:
    script = Script(state("cancel_requested"))
    client = make_client(script)

    execution = await resolve(client.executions.cancel(EXEC_ID))

    assert execution.status == "cancel_requested"
    (request,) = script.requests
    assert (request.method, request.url.path) == ("POST", f"/api/executions/{EXEC_ID}/cancel")


async def test_unknown_execution_raises_not_found(make_client: MakeClient) -> None:
    body = {"error": "Execution not found", "code": "EXECUTION_NOT_FOUND"}
    client = make_client(lambda request: json_response(404, body))

    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(client.executions.wait(EXEC_ID))
    assert info.value.status_code == 404


@pytest.mark.parametrize("bad", ["../x", "", "a/b", "x" * 200, "id?x=1"])
@pytest.mark.parametrize("method", ["get", "cancel", "wait"])
async def test_bad_ids_are_refused_before_sending(
    make_client: MakeClient, bad: str, method: str
) -> None:
    script = Script(COMPLETED)
    client = make_client(script)

    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(getattr(client.executions, method)(bad))
    assert info.value.status_code is None
    assert script.requests == []


# -- wait ------------------------------------------------------------------------------------------


async def test_wait_polls_with_backoff_until_completed(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script(*[state("processing")] * 4, COMPLETED)
    client = make_client(script)

    result = await resolve(client.executions.wait(EXEC_ID))

    assert isinstance(result, knouds.RunResult)
    assert result.cost == 20
    assert result.ms == 41000
    assert [v.url for v in result.videos] == [VIDEO]
    assert len(script.requests) == 5
    assert fake_time.sleeps == [1.0, 1.5, 2.25, 3.375]


async def test_each_poll_times_out_within_what_is_left_of_the_wait(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script(*[state("processing")] * 3, COMPLETED)
    client = make_client(script)

    await resolve(client.executions.wait(EXEC_ID, timeout=5))

    reads = [request.extensions["timeout"]["read"] for request in script.requests]
    # 5 s left, then after sleeps of 1, 1.5 and 2.25 s; the last poll at the deadline gets a
    # quarter of a second.
    assert reads == [5.0, 4.0, 2.5, 0.25]
    await resolve(client.executions.wait(EXEC_ID, timeout=None))
    assert script.requests[-1].extensions["timeout"]["read"] == 600.0  # the client's default


async def test_wait_caps_the_interval(make_client: MakeClient, fake_time: FakeTime) -> None:
    script = Script(*[state("processing")] * 6, COMPLETED)
    client = make_client(script)

    await resolve(client.executions.wait(EXEC_ID, poll_interval=2, max_poll_interval=4))

    assert fake_time.sleeps == [2.0, 3.0, 4.0, 4.0, 4.0, 4.0]


async def test_wait_accepts_the_submitted_execution(make_client: MakeClient) -> None:
    script = Script(submitted(), COMPLETED)
    client = make_client(script)

    execution = await resolve(client.models.submit("seedance-2-i2v", {"prompt": "waves"}))
    result = await resolve(client.executions.wait(execution))

    assert result.videos[0].url == VIDEO
    assert script.requests[-1].url.path == f"/api/executions/{EXEC_ID}"


async def test_wait_keeps_polling_through_cancel_requested(make_client: MakeClient) -> None:
    script = Script(state("cancel_requested"), state("cancel_requested"), state("cancelled"))
    client = make_client(script)

    with pytest.raises(knouds.ExecutionCancelledError) as info:
        await resolve(client.executions.wait(EXEC_ID))

    assert len(script.requests) == 3
    assert info.value.execution is not None
    assert info.value.execution.status == "cancelled"
    assert EXEC_ID in str(info.value)


async def test_wait_raises_failed_with_the_execution_error(make_client: MakeClient) -> None:
    failed = state("failed", error={"code": "PROVIDER_TIMEOUT", "message": "Seedance timed out"})
    client = make_client(Script(state("processing"), failed))

    with pytest.raises(knouds.ExecutionFailedError) as info:
        await resolve(client.executions.wait(EXEC_ID))

    error = info.value
    assert error.code == "PROVIDER_TIMEOUT"
    assert error.message == "Seedance timed out"
    assert error.status_code is None
    assert error.execution is not None
    assert error.execution.id == EXEC_ID
    assert "Seedance timed out" in str(error)
    assert "PROVIDER_TIMEOUT" in str(error)


async def test_wait_times_out_then_resumes(make_client: MakeClient, fake_time: FakeTime) -> None:
    script = Script(state("processing"))
    client = make_client(script)

    with pytest.raises(knouds.ExecutionTimeoutError) as info:
        await resolve(client.executions.wait(EXEC_ID, timeout=5))

    error = info.value
    assert isinstance(error, TimeoutError)
    assert error.execution_id == EXEC_ID
    assert error.execution is not None
    assert error.execution.status == "processing"
    assert f"wait({EXEC_ID!r})" in str(error)
    # 1 + 1.5 + 2.25 = 4.75, then the last sleep is cut to what is left: the final poll is at 5 s.
    assert fake_time.sleeps == [1.0, 1.5, 2.25, 0.25]
    assert len(script.requests) == 5

    script.states = [state("processing"), COMPLETED]
    result = await resolve(client.executions.wait(error.execution_id))
    assert result.videos[0].url == VIDEO


async def test_wait_with_zero_timeout_polls_once(make_client: MakeClient) -> None:
    script = Script(state("processing"))
    client = make_client(script)

    with pytest.raises(knouds.ExecutionTimeoutError):
        await resolve(client.executions.wait(EXEC_ID, timeout=0))
    assert len(script.requests) == 1


async def test_wait_without_timeout_waits_as_long_as_it_takes(
    make_client: MakeClient, fake_time: FakeTime
) -> None:
    script = Script(*[state("processing")] * 100, COMPLETED)
    client = make_client(script)

    result = await resolve(client.executions.wait(EXEC_ID, timeout=None))

    assert result.cost == 20
    assert sum(fake_time.sleeps) > 600


async def test_wait_polls_through_a_gateway_error(make_client: MakeClient) -> None:
    script = Script(httpx.Response(503, text="<html>busy</html>"), COMPLETED)
    client = make_client(script)

    result = await resolve(client.executions.wait(EXEC_ID))

    assert result.videos[0].url == VIDEO
    assert len(script.requests) == 2


async def test_wait_keeps_unknown_statuses_polling(make_client: MakeClient) -> None:
    script = Script(state("queued"), COMPLETED)
    client = make_client(script)

    assert (await resolve(client.executions.wait(EXEC_ID))).cost == 20
    assert len(script.requests) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": 0}, {"poll_interval": -1}, {"max_poll_interval": 0}, {"timeout": -1}],
)
async def test_wait_refuses_bad_settings(make_client: MakeClient, kwargs: dict[str, Any]) -> None:
    script = Script(COMPLETED)
    client = make_client(script)

    with pytest.raises(ValueError, match="must be"):
        await resolve(client.executions.wait(EXEC_ID, **kwargs))
    assert script.requests == []


# -- the pure decisions ----------------------------------------------------------------------------


def execution(status: str, **extra: Any) -> knouds.Execution:
    return knouds.Execution.model_validate(state(status, **extra))


def test_next_interval_grows_and_caps() -> None:
    assert next_interval(1.0, 10.0) == 1.5
    assert next_interval(8.0, 10.0) == 10.0
    assert next_interval(10.0, 10.0) == 10.0


def test_settle_by_status() -> None:
    assert settle(execution("processing")) is None
    assert settle(execution("cancel_requested")) is None
    done = settle(execution("completed", result={"text": "hi"}, cost=1))
    assert done is not None
    assert done.text == "hi"
    with pytest.raises(knouds.ExecutionFailedError) as failed:
        settle(execution("failed"))  # no error body: still a readable message
    assert failed.value.code is None
    assert EXEC_ID in failed.value.message
    with pytest.raises(knouds.ExecutionCancelledError):
        settle(execution("cancelled", result={"text": "partial"}))


def test_poll_deadline_and_resume_hint() -> None:
    poll = Poll.start(EXEC_ID, timeout=2, poll_interval=1, max_poll_interval=10, now=100.0)
    assert poll.next_sleep(100.0) == 1.0
    assert poll.next_sleep(101.0) == 1.0  # 1.5 wanted, 1 left
    with pytest.raises(knouds.ExecutionTimeoutError) as info:
        poll.next_sleep(102.0)
    assert info.value.execution_id == EXEC_ID


def test_execution_id_of() -> None:
    assert execution_id_of(EXEC_ID) == EXEC_ID
    assert execution_id_of(execution("processing")) == EXEC_ID


def test_sync_and_async_executions_have_the_same_surface() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    sync, asynchronous = public(Executions), public(AsyncExecutions)
    assert sync.keys() == asynchronous.keys() >= {"get", "cancel", "wait"}
    for name, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[name].parameters), name
        for param in signature.parameters.values():
            assert param.default == asynchronous[name].parameters[param.name].default, name
        assert inspect.iscoroutinefunction(getattr(AsyncExecutions, name)), name


async def test_wait_on_a_closed_client_raises_at_once_instead_of_polling_until_its_timeout(
    make_client: Callable[..., Any], fake_time: FakeTime
) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return json_response(200, {"executionId": EXEC_ID, "status": "processing"})

    client = make_client(handler)
    await resolve(client.close())

    with pytest.raises(knouds.APIConnectionError, match="closed") as caught:
        await resolve(client.executions.wait(EXEC_ID, timeout=60))

    assert not isinstance(caught.value, knouds.ExecutionTimeoutError)
    assert caught.value.sent is False
    assert fake_time.sleeps == []
    assert sent == []
