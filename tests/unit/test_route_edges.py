"""Every route as the server sees it: method, path, key, rate-limit bucket and whether a failure
of unknown outcome is retried; and how odd responses become errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from email.utils import format_datetime
from types import MappingProxyType
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, FakeTime, rate_headers, resolve

OK_RUN = {"success": True, "result": {"text": "done"}, "cost": 1, "ms": 5}
EXECUTION = {"executionId": "e1", "status": "processing"}
SCHEMA = {"fields": [{"name": "prompt"}], "name": "Thumbnails"}
IDENTITY = {"user": {"id": "u-1", "email": "a@b.c", "role": "user", "tier": "pro"}}

# (call, method, path, bucket, retried after a 503, sends the key, success body)
ROUTES: list[tuple[Callable[[Any], Any], str, str, str, bool, bool, object]] = [
    (
        lambda c: c.models.run("flux-2", {"prompt": "x"}),
        "POST",
        "/api/models/flux-2/run",
        "models",
        False,
        True,
        OK_RUN,
    ),
    (
        lambda c: c.workflows.run("thumbs-v2", {"prompt": "x"}),
        "POST",
        "/api/workflows/thumbs-v2/run",
        "workflows",
        False,
        True,
        OK_RUN,
    ),
    (
        lambda c: c.workflows.schema("thumbs-v2"),
        "GET",
        "/api/workflows/thumbs-v2/schema",
        "workflows.schema",
        True,
        True,
        SCHEMA,
    ),
    (
        lambda c: c.workflows.public_schema("thumbs-v2"),
        "GET",
        "/api/workflows/thumbs-v2/public-schema",
        "workflows.public-schema",
        True,
        False,
        SCHEMA,
    ),
    (
        lambda c: c.executions.get("e1"),
        "GET",
        "/api/executions/e1",
        "executions",
        True,
        True,
        EXECUTION,
    ),
    (
        lambda c: c.executions.cancel("e1"),
        "POST",
        "/api/executions/e1/cancel",
        "executions",
        True,
        True,
        EXECUTION,
    ),
    (lambda c: c.whoami(), "GET", "/api/whoami", "whoami", True, True, IDENTITY),
]


@pytest.mark.parametrize(
    ("call", "method", "path", "bucket", "retried", "keyed", "body"),
    ROUTES,
    ids=[r[2] for r in ROUTES],
)
async def test_each_route_is_sent_counted_and_retried_as_its_kind_allows(
    make_client: Any,
    fake_time: FakeTime,
    call: Callable[[Any], Any],
    method: str,
    path: str,
    bucket: str,
    retried: bool,
    keyed: bool,
    body: object,
) -> None:
    seen: list[httpx.Request] = []
    answers = [httpx.Response(503, json={"error": "busy"})]
    answers.append(httpx.Response(200, json=body, headers=rate_headers(10, 9, fake_time.now + 60)))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    events: list[knouds.RetryEvent] = []
    client = make_client(handler, retry=knouds.RetryPolicy(on_retry=events.append))
    if retried:
        await resolve(call(client))
        assert len(seen) == 2
        assert [(e.method, e.path) for e in events] == [(method, path)]
        assert set(client.rate_limits) == {bucket}
    else:
        with pytest.raises(knouds.InternalServerError):
            await resolve(call(client))
        assert len(seen) == 1
        # Opting in to re-sending runs of unknown outcome retries it, and says what is retried.
        answers[:] = [
            httpx.Response(503, json={"error": "busy"}),
            httpx.Response(200, json=body, headers=rate_headers(10, 9, fake_time.now + 60)),
        ]
        policy = knouds.RetryPolicy(retry_unknown_outcome=True, on_retry=events.append)
        opted_in = make_client(handler, retry=policy)
        await resolve(call(opted_in))
        assert len(seen) == 3
        assert [(e.method, e.path) for e in events] == [(method, path)]
        assert set(opted_in.rate_limits) == {bucket}
    for request in seen:
        assert request.method == method
        assert request.url.path == path
        assert request.headers.get("x-api-key") == (API_KEY if keyed else None)


async def test_whoami_reads_the_user_object(make_client: Any) -> None:
    client = make_client(lambda request: httpx.Response(200, json=IDENTITY))
    identity = await resolve(client.whoami())
    assert (identity.id, identity.email, identity.tier) == ("u-1", "a@b.c", "pro")


async def test_a_body_the_sdk_cannot_read_names_the_field(make_client: Any) -> None:
    client = make_client(
        lambda request: httpx.Response(200, json={"status": "processing"}), max_retries=0
    )
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.executions.get("e1"))
    message = str(info.value)
    assert info.value.body == {"status": "processing"}
    assert "executionId" in message
    assert "required" in message.lower()
    assert "None" not in message

    nested = {"executionId": "e1", "error": {"message": ["not", "text"]}}
    client = make_client(lambda request: httpx.Response(200, json=nested), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.executions.get("e1"))
    assert "error.message" in str(info.value)

    client = make_client(lambda request: httpx.Response(200, json={"user": 5}), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.whoami())
    assert "body" in str(info.value)


@pytest.mark.parametrize(
    ("content", "status", "reason_phrase"),
    [
        (b"\xff\xfe not utf-8 \xc3", 502, "Bad Gateway"),
        (b"plain text " * 500, 500, "Internal Server Error"),
        (b"", 599, ""),
    ],
)
async def test_non_json_error_bodies_become_short_readable_errors(
    make_client: Any, content: bytes, status: int, reason_phrase: str
) -> None:
    client = make_client(lambda request: httpx.Response(status, content=content), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("flux-2", {}))
    message = str(info.value)
    assert info.value.status_code == status
    assert str(status) in message
    assert reason_phrase in message
    assert "None" not in message
    assert "  " not in message
    assert "  " not in info.value.message  # the message as built, before it meets its hint
    assert len(message) < 400
    assert info.value.body == (content.decode("utf-8", "replace")[:2048] or None)
    if content.startswith(b"plain"):
        assert "plain text " * 9 in message
        assert "…" in message


async def test_a_json_error_without_a_message_is_not_called_unreadable(make_client: Any) -> None:
    client = make_client(answering(httpx.Response(418, json={"code": "TEAPOT"})), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert "418" in str(info.value)
    assert "not JSON" not in str(info.value)
    assert info.value.body == {"code": "TEAPOT"}


async def test_a_retry_after_date_is_read_against_our_clock(
    make_client: Any, fake_time: FakeTime
) -> None:
    when = format_datetime(datetime.fromtimestamp(fake_time.now + 5, tz=timezone.utc), usegmt=True)
    limited = httpx.Response(
        429,
        json={"error": "slow down", "code": "RATE_LIMIT_EXCEEDED"},
        headers={"retry-after": when},
    )
    client = make_client(
        answering(limited, httpx.Response(200, json=OK_RUN)), retry=knouds.RetryPolicy(jitter=False)
    )
    await resolve(client.models.run("flux-2", {}))
    assert fake_time.sleeps == [pytest.approx(5.0)]


async def test_redirects_are_errors_naming_the_target(make_client: Any) -> None:
    target = "https://elsewhere.example/api"
    client = make_client(
        lambda request: httpx.Response(307, headers={"location": target}), max_retries=0
    )
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert info.value.status_code == 307
    assert target in str(info.value)


async def test_transport_errors_name_the_request_and_keep_it(make_client: Any) -> None:
    failures = [
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.ReadError("reset"),
    ]
    for failure in failures:

        def handler(request: httpx.Request, failure: Exception = failure) -> httpx.Response:
            raise failure

        client = make_client(handler, max_retries=0)
        with pytest.raises(knouds.APIConnectionError) as info:
            await resolve(client.executions.get("e1"))
        assert "GET /api/executions/e1" in str(info.value)
        assert info.value.request is not None
        assert info.value.request.url.path == "/api/executions/e1"


async def test_debug_log_of_a_response_names_method_path_and_status(
    make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(lambda request: httpx.Response(200, json=EXECUTION))
    with caplog.at_level(logging.DEBUG, logger="knouds"):
        await resolve(client.executions.get("e1"))
    assert any(
        "GET" in r.getMessage()
        and "/api/executions/e1" in r.getMessage()
        and "200" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("call", "what"),
    [
        (lambda c: c.models.run("Bad Name", {}), "model name"),
        (lambda c: c.workflows.run("bad/slug", {}), "workflow slug"),
        (lambda c: c.workflows.schema("Bad"), "workflow slug"),
        (lambda c: c.workflows.public_schema("Bad"), "workflow slug"),
        (lambda c: c.workflows.get("Bad"), "workflow slug"),
        (lambda c: c.workflows.update("Bad", name="x"), "workflow slug"),
        (lambda c: c.workflows.delete("Bad"), "workflow slug"),
    ],
)
async def test_a_bad_name_is_refused_before_sending_and_says_what_it_is(
    make_client: Any, call: Callable[[Any], Any], what: str
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(recording(seen))
    with pytest.raises(knouds.InvalidSlugError) as bad:
        await resolve(call(client))
    assert f" is not a valid {what} (INVALID_SLUG)." in str(bad.value)
    assert seen == []


async def test_a_non_finite_retry_after_in_the_body_is_ignored(
    make_client: Any, fake_time: FakeTime
) -> None:
    limited = b'{"error": "slow down", "code": "RATE_LIMIT_EXCEEDED", "retryAfter": Infinity}'
    answers = [httpx.Response(429, content=limited), httpx.Response(200, json=OK_RUN)]
    client = make_client(
        lambda request: answers.pop(0), retry=knouds.RetryPolicy(jitter=False, max_retry_wait=5)
    )
    assert (await resolve(client.models.run("flux-2", {}))).cost == 1
    assert fake_time.sleeps == [0.5]


@pytest.mark.parametrize(
    ("timeout", "deadline", "expected"),
    [
        (None, 3, {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}),
        (1.0, 3, {"connect": 1.0, "read": 1.0, "write": 1.0, "pool": 1.0}),
        (
            httpx.Timeout(2.0, read=None),
            3,
            {"connect": 2.0, "read": 3.0, "write": 2.0, "pool": 2.0},
        ),
    ],
)
async def test_each_attempt_times_out_within_what_is_left_of_the_deadline(
    make_client: Any, timeout: Any, deadline: float, expected: dict[str, float]
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(
        recording(seen),
        timeout=timeout,
        retry=knouds.RetryPolicy(deadline=deadline),
    )
    await resolve(client.models.run("flux-2", {}))
    assert seen[0].extensions["timeout"] == pytest.approx(expected)


def test_values_in_messages_are_cut_to_a_readable_length() -> None:
    from knouds._core.requests import short

    assert short("a" * 58) == repr("a" * 58)
    cut = short("a" * 59)
    assert len(cut) == 60
    assert cut == repr("a" * 59)[:59] + "…"
    assert short(12345, limit=3) == "12…"
    assert short(None) == "None"


@pytest.mark.parametrize("inputs", [["a"], {"n": float("nan")}, {1: "a"}, {"x": object()}])
async def test_inputs_json_cannot_carry_are_refused_with_their_code(
    make_client: Any, inputs: Any
) -> None:
    seen: list[httpx.Request] = []
    client = make_client(recording(seen))
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.models.run("flux-2", inputs))
    assert info.value.code == "INVALID_INPUTS"
    assert seen == []


def recording(seen: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=OK_RUN)

    return handler


def answering(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    return lambda request: queue.pop(0)


async def test_a_3xx_is_never_a_success_whatever_its_body(make_client: Any) -> None:
    for body in (OK_RUN, {"success": False}):
        client = make_client(answering(httpx.Response(300, json=body)), max_retries=0)
        with pytest.raises(knouds.APIStatusError) as info:
            await resolve(client.models.run("flux-2", {}))
        assert type(info.value) is knouds.APIStatusError
        assert info.value.status_code == 300
    client = make_client(
        answering(httpx.Response(300, headers={"location": "/elsewhere"})), max_retries=0
    )
    with pytest.raises(knouds.APIStatusError, match="/elsewhere"):
        await resolve(client.models.run("flux-2", {}))
    client = make_client(answering(httpx.Response(302)), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert "None" not in str(info.value)


async def test_unreadable_successes_keep_the_body_and_hide_the_key(make_client: Any) -> None:
    client = make_client(answering(httpx.Response(200, json=[1, 2, 3])), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert info.value.body == [1, 2, 3]
    assert "[1, 2, 3]" in str(info.value)

    echoed = f"key {API_KEY} rejected upstream".encode()
    client = make_client(answering(httpx.Response(200, content=echoed)), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert API_KEY not in str(info.value)

    refused = {"success": False, "message": f"key {API_KEY} is suspended"}
    client = make_client(answering(httpx.Response(200, json=refused)), max_retries=0)
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert isinstance(info.value.body, dict)
    assert info.value.body["success"] is False
    assert API_KEY not in str(info.value.body)
    assert "is suspended" in str(info.value)
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        ({"code": "TOP", "error": {"code": "INNER", "message": "nested words"}}, "TOP", "nested"),
        ({"error": {"code": "INNER", "message": "nested words"}}, "INNER", "nested words"),
        ({"message": "flat words"}, None, "flat words"),
        ({"error": "said in error", "message": "not this"}, None, "said in error"),
        ({"error": "x", "code": 123}, None, "x"),
        ({"error": "x", "code": ""}, None, "x"),
    ],
)
async def test_error_codes_and_messages_are_read_wherever_the_server_put_them(
    make_client: Any, body: dict[str, Any], code: str | None, words: str
) -> None:
    client = make_client(answering(httpx.Response(418, json=body)), max_retries=0)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert info.value.code == code
    assert words in str(info.value)


async def test_the_servers_code_wins_over_the_routes_guess_for_a_404(make_client: Any) -> None:
    missing_model = {"error": "no such model", "code": "MODEL_NOT_FOUND"}
    client = make_client(answering(httpx.Response(404, json=missing_model)), max_retries=0)
    with pytest.raises(knouds.ModelNotFoundError):
        await resolve(client.workflows.run("thumbs-v2", {}))
    odd = {"error": "gone", "code": "SOMETHING_ELSE"}
    client = make_client(answering(httpx.Response(404, json=odd)), max_retries=0)
    with pytest.raises(knouds.NotFoundError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert type(info.value) is knouds.NotFoundError
    client = make_client(answering(httpx.Response(404, json={"error": "?"})), max_retries=0)
    with pytest.raises(knouds.ModelNotFoundError):
        await resolve(client.models.run("flux-2", {}))


@pytest.mark.parametrize("seconds", [0, 0.5])
async def test_a_small_retry_after_in_the_body_is_obeyed(
    make_client: Any, fake_time: FakeTime, seconds: float
) -> None:
    body = {"error": "slow down", "code": "RATE_LIMIT_EXCEEDED", "retryAfter": seconds}
    client = make_client(
        answering(httpx.Response(429, json=body), httpx.Response(200, json=OK_RUN)),
        retry=knouds.RetryPolicy(jitter=False),
    )
    await resolve(client.models.run("flux-2", {}))
    assert fake_time.sleeps == [seconds]


async def test_a_pacing_refusal_carries_the_code_and_the_last_rate_limit(
    make_client: Any, fake_time: FakeTime
) -> None:
    spent = httpx.Response(200, json=OK_RUN, headers=rate_headers(10, 0, fake_time.now + 100))
    client = make_client(answering(spent, httpx.Response(200, json=OK_RUN)))
    await resolve(client.models.run("flux-2", {}))
    with pytest.raises(knouds.RateLimitError) as info:
        await resolve(client.models.run("flux-2", {}))
    assert info.value.code == "RATE_LIMIT_EXCEEDED"
    assert info.value.rate_limit is not None
    assert (info.value.rate_limit.limit, info.value.rate_limit.remaining) == (10, 0)
    wait = info.value.retry_after
    assert wait is not None
    # A wait exactly as long as the call may wait is waited for.
    patient = client.with_options(retry=knouds.RetryPolicy(max_retry_wait=wait))
    assert (await resolve(patient.models.run("flux-2", {}))).cost == 1
    assert fake_time.sleeps == [wait]


@pytest.mark.parametrize("execution_id", ["../etc", "", "a" * 200, "e 1"])
async def test_a_bad_execution_id_is_refused_naming_it(make_client: Any, execution_id: str) -> None:
    client = make_client(answering())
    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(client.executions.get(execution_id))
    assert repr(execution_id)[:20] in str(info.value)


async def test_rate_limit_resets_are_read_against_our_clock_and_the_servers_date(
    make_client: Any, fake_time: FakeTime
) -> None:
    date = format_datetime(datetime.fromtimestamp(fake_time.now, tz=timezone.utc), usegmt=True)
    spent = httpx.Response(
        200, json=OK_RUN, headers={**rate_headers(1, 0, fake_time.now + 10), "date": date}
    )
    client = make_client(answering(spent, httpx.Response(200, json=OK_RUN)))
    await resolve(client.models.run("flux-2", {}))
    await resolve(client.models.run("flux-2", {}))
    assert fake_time.sleeps == [pytest.approx(10.05)]


async def test_inputs_in_any_mapping_are_sent_as_json(make_client: Any) -> None:
    seen: list[httpx.Request] = []
    client = make_client(recording(seen))
    await resolve(client.models.run("flux-2", MappingProxyType({"prompt": "naïve"})))
    assert json.loads(seen[0].content) == {"inputs": {"prompt": "naïve"}}
    assert "naïve".encode() in seen[0].content


async def test_cancelling_an_unknown_execution_says_so(make_client: Any) -> None:
    client = make_client(answering(httpx.Response(404, json={"error": "?"})), max_retries=0)
    with pytest.raises(knouds.ExecutionNotFoundError):
        await resolve(client.executions.cancel("e1"))


WORKFLOW = {"slug": "thumbs-v2", "name": "Thumbnails"}
SUMMARY = {"slug": "thumbs-v2", "name": "Thumbnails", "updatedAt": "2026-05-01T10:00:00Z"}
# (call, operation named in the log records, success body)
OPERATIONS: list[tuple[Callable[[Any], Any], str, object]] = [
    (lambda c: c.models.run("flux-2", {"prompt": "x"}), "generate_content", OK_RUN),
    (lambda c: c.workflows.run("thumbs-v2", {"prompt": "x"}), "run_workflow", OK_RUN),
    (lambda c: c.models.submit("flux-2", {"prompt": "x"}), "submit", EXECUTION),
    (lambda c: c.workflows.submit("thumbs-v2", {"prompt": "x"}), "submit", EXECUTION),
    (lambda c: c.workflows.schema("thumbs-v2"), "schema", SCHEMA),
    (lambda c: c.workflows.public_schema("thumbs-v2"), "public_schema", SCHEMA),
    (lambda c: c.workflows.list(), "list_workflows", [SUMMARY]),
    (lambda c: c.workflows.create(name="Thumbnails"), "create_workflow", WORKFLOW),
    (lambda c: c.workflows.get("thumbs-v2"), "get_workflow", WORKFLOW),
    (lambda c: c.workflows.update("thumbs-v2", name="T"), "update_workflow", WORKFLOW),
    (lambda c: c.workflows.delete("thumbs-v2"), "delete_workflow", {}),
    (lambda c: c.executions.get("e1"), "get_execution", EXECUTION),
    (lambda c: c.executions.cancel("e1"), "cancel_execution", EXECUTION),
    (lambda c: c.whoami(), "whoami", IDENTITY),
]


@pytest.mark.parametrize(("call", "operation", "body"), OPERATIONS)
async def test_log_records_name_each_routes_operation(
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
    call: Callable[[Any], Any],
    operation: str,
    body: object,
) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=body)

    client = make_client(answer)
    caplog.set_level(logging.DEBUG, logger="knouds")

    await resolve(call(client))

    records = [r for r in caplog.records if "knouds_operation" in r.__dict__]
    assert records
    assert {r.__dict__["knouds_operation"] for r in records} == {operation}
    (request,) = sent
    assert {(r.__dict__["knouds_method"], r.__dict__["knouds_path"]) for r in records} == {
        (request.method, request.url.path)
    }
