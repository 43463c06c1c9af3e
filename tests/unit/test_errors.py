"""Every row of the API's error table, and every malformed answer, for both clients."""

from __future__ import annotations

import pickle
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import API_KEY, rate_headers, resolve

ERROR_TABLE: list[tuple[int, dict[str, Any], type[knouds.APIStatusError], dict[str, Any]]] = [
    (400, {"error": "bad inputs", "code": "INVALID_INPUTS"}, knouds.InvalidInputsError, {}),
    (400, {"error": "bad slug", "code": "INVALID_SLUG"}, knouds.InvalidSlugError, {}),
    (400, {"error": "bad body", "code": "INVALID_BODY"}, knouds.InvalidBodyError, {}),
    (400, {"error": "no async", "code": "ASYNC_NOT_SUPPORTED"}, knouds.AsyncNotSupportedError, {}),
    (400, {"error": "bad scope", "code": "INVALID_SCOPE"}, knouds.InvalidScopeError, {}),
    (400, {"error": "bad cap", "code": "INVALID_CAPABILITY"}, knouds.InvalidCapabilityError, {}),
    (401, {"error": "Unauthorized"}, knouds.AuthenticationError, {}),
    (401, {"error": "retired", "code": "LEGACY_KEY_RETIRED"}, knouds.LegacyKeyRetiredError, {}),
    (402, {"error": "low", "code": "INSUFFICIENT_CREDITS"}, knouds.InsufficientCreditsError, {}),
    (402, {"error": "grant used", "code": "grant_exhausted"}, knouds.GrantExhaustedError, {}),
    (
        403,
        {"error": "scope", "code": "SCOPE_DENIED", "required": "admin", "actual": "free"},
        knouds.ScopeDeniedError,
        {"required": "admin", "actual": "free"},
    ),
    (
        403,
        {"error": "cap", "code": "CAPABILITY_DENIED", "required": "model:run"},
        knouds.CapabilityDeniedError,
        {"required": "model:run"},
    ),
    (403, {"error": "tier", "code": "MODEL_TIER_REQUIRED"}, knouds.ModelTierRequiredError, {}),
    (
        403,
        {"error": "ceiling", "code": "CAPABILITY_ABOVE_CEILING", "attempted": "model:run"},
        knouds.CapabilityAboveCeilingError,
        {"attempted": "model:run"},
    ),
    (403, {"error": "free", "code": "API_KEY_ACCESS_DENIED"}, knouds.ApiKeyAccessDeniedError, {}),
    (404, {"error": "no model", "code": "MODEL_NOT_FOUND"}, knouds.ModelNotFoundError, {}),
    (
        429,
        {
            "error": "Rate limit exceeded",
            "code": "RATE_LIMIT_EXCEEDED",
            "tier": "pro",
            "limit": 100,
            "retryAfter": 7,
        },
        knouds.RateLimitError,
        {"tier": "pro", "limit": 100, "retry_after": 7.0},
    ),
    (500, {"error": "provider down", "code": "EXECUTION_FAILED"}, knouds.ExecutionFailedError, {}),
    # Unknown codes: mapped by status, code kept.
    (400, {"error": "new", "code": "SOMETHING_NEW"}, knouds.BadRequestError, {}),
    (403, {"error": "new", "code": "NEW_DENIAL"}, knouds.PermissionDeniedError, {}),
    (409, {"error": "conflict", "code": "CONFLICT"}, knouds.APIStatusError, {}),
    (503, {"error": "maintenance", "code": "MAINTENANCE"}, knouds.InternalServerError, {}),
]


@pytest.mark.parametrize(("status", "body", "cls", "extras"), ERROR_TABLE)
async def test_each_documented_error_maps_to_its_class(
    make_client: Any,
    status: int,
    body: dict[str, Any],
    cls: type[knouds.APIStatusError],
    extras: dict[str, Any],
) -> None:
    headers = rate_headers(100, 0 if status == 429 else 42, 1_700_000_060)
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(status, json=body, headers=headers)

    client = make_client(handler, max_retries=0)
    with pytest.raises(cls) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "a fox"}))
    error = info.value
    assert type(error) is cls
    assert isinstance(error, knouds.KnoudsError)
    assert error.status_code == status
    assert error.code == body.get("code")
    assert error.message == body["error"]
    assert error.body == body
    assert isinstance(error.response, httpx.Response)
    assert error.rate_limit is not None
    assert error.rate_limit.limit == 100
    for name, value in extras.items():
        assert getattr(error, name) == value
    assert len(calls) == 1
    text = str(error)
    assert body["error"] in text
    assert str(status) in text


async def test_plain_401_has_no_code(make_client: Any) -> None:
    client = make_client(lambda r: httpx.Response(401, json={"error": "Unauthorized"}))
    with pytest.raises(knouds.AuthenticationError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert info.value.code is None
    assert "KNOUDS_API_KEY" in str(info.value)


@pytest.mark.parametrize(
    ("call", "cls"),
    [
        (lambda c: c.workflows.run("my-flow", {}), knouds.WorkflowNotFoundError),
        (lambda c: c.workflows.schema("my-flow"), knouds.WorkflowNotFoundError),
        (lambda c: c.models.run("gpt-image-2", {}), knouds.ModelNotFoundError),
        (lambda c: c.executions.get("abc-123"), knouds.ExecutionNotFoundError),
    ],
)
async def test_message_only_404_maps_by_route(
    make_client: Any, call: Any, cls: type[knouds.APIStatusError]
) -> None:
    client = make_client(lambda r: httpx.Response(404, json={"error": "Workflow not found"}))
    with pytest.raises(cls) as info:
        await resolve(call(client))
    assert info.value.code is None
    assert info.value.status_code == 404


@pytest.mark.parametrize(
    ("status", "content", "content_type", "cls", "phrase"),
    [
        (
            502,
            b"<html><body>Bad Gateway</body></html>",
            "text/html",
            knouds.InternalServerError,
            "HTML",
        ),
        (503, b"", "text/plain", knouds.InternalServerError, "empty body"),
        (504, b"upstream timed out", "text/plain", knouds.InternalServerError, "not JSON"),
        (400, b"{not json", "application/json", knouds.BadRequestError, "not JSON"),
        (401, b"", "", knouds.AuthenticationError, "empty body"),
    ],
)
async def test_non_json_error_bodies_are_typed(
    make_client: Any,
    status: int,
    content: bytes,
    content_type: str,
    cls: type[knouds.APIStatusError],
    phrase: str,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    client = make_client(lambda r: httpx.Response(status, content=content, headers=headers))
    with pytest.raises(cls) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert info.value.status_code == status
    assert info.value.code is None
    assert phrase in str(info.value)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [
        (b"", "empty body"),
        (b"<html>oops</html>", "HTML"),
        (b'{"success": true, "result": {"images": ["https://x/a.png"', "not JSON"),
        (b"[1, 2, 3]", "not an object"),
        (b'"just a string"', "not an object"),
        (b"null", "not an object"),
        (b'{"success": false, "error": "odd"}', "success=false"),
        (b'{"success": true, "cost": "lots"}', "cannot read"),
    ],
)
async def test_malformed_success_bodies_raise_response_validation_error(
    make_client: Any, content: bytes, phrase: str
) -> None:
    client = make_client(lambda r: httpx.Response(200, content=content))
    with pytest.raises(knouds.APIResponseValidationError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert phrase in str(info.value)
    assert info.value.status_code == 200


async def test_success_false_with_code_maps_by_code(make_client: Any) -> None:
    body = {"success": False, "error": "provider failed", "code": "EXECUTION_FAILED"}
    client = make_client(lambda r: httpx.Response(200, json=body))
    with pytest.raises(knouds.ExecutionFailedError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert info.value.status_code == 200


async def test_nested_error_object_is_read(make_client: Any) -> None:
    body = {"error": {"message": "nested message", "code": "MODEL_NOT_FOUND"}}
    client = make_client(lambda r: httpx.Response(404, json=body))
    with pytest.raises(knouds.ModelNotFoundError, match="nested message"):
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))


async def test_redirect_is_not_followed(make_client: Any) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"location": "https://evil.example/steal"})

    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.APIStatusError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert info.value.status_code == 302
    assert "does not follow redirects" in str(info.value)
    assert len(seen) == 1


async def test_server_echoing_the_key_is_redacted(make_client: Any) -> None:
    body = {"error": f"key {API_KEY} is revoked", "code": "LEGACY_KEY_RETIRED"}
    client = make_client(lambda r: httpx.Response(401, json=body))
    with pytest.raises(knouds.LegacyKeyRetiredError) as info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert "***" in str(info.value)


async def test_a_pickled_error_does_not_carry_the_key(make_client: Any) -> None:
    # Errors cross process pools and land in task-queue result backends (often Redis): the key
    # must not travel with the request kept on them.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/executions/"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404, json={"error": "no model", "code": "MODEL_NOT_FOUND"})

    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.ModelNotFoundError) as status_info:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    with pytest.raises(knouds.APIConnectionError) as connection_info:
        await resolve(client.executions.get("exe_1"))
    for error in (status_info.value, connection_info.value):
        data = pickle.dumps(error)
        assert API_KEY.encode() not in data
        copy = pickle.loads(data)
        assert str(copy) == str(error)
    status_copy = pickle.loads(pickle.dumps(status_info.value))
    assert status_copy.response.status_code == 404
    assert status_copy.response.json()["code"] == "MODEL_NOT_FOUND"
    assert status_copy.response.request.url.path == "/api/models/gpt-image-2/run"
    assert "x-api-key" not in status_copy.response.request.headers
    connection_copy = pickle.loads(pickle.dumps(connection_info.value))
    assert connection_copy.request.url.path == "/api/executions/exe_1"
    assert connection_copy.sent is False
    # The error in hand keeps its request as sent.
    assert status_info.value.response is not None
    assert status_info.value.response.request.headers["x-api-key"] == API_KEY


def test_every_error_class_is_exported_and_documented() -> None:
    classes = [
        getattr(knouds, name)
        for name in knouds.__all__
        if isinstance(getattr(knouds, name), type)
        and issubclass(getattr(knouds, name), BaseException)
    ]
    assert len(classes) >= 30
    for cls in classes:
        assert issubclass(cls, knouds.KnoudsError)
        assert cls.__doc__, cls.__name__


def test_messages_read_like_sentences_with_advice() -> None:
    error = knouds.GrantExhaustedError(
        "Trial grant used up", status_code=402, code="grant_exhausted"
    )
    assert str(error) == (
        "Trial grant used up (HTTP 402 grant_exhausted). Topping up does not help here: "
        "upgrade your Knouds plan to keep using this model."
    )


async def test_an_unknown_execution_id_says_what_to_check(make_client: Any) -> None:
    body = {"error": "Execution not found", "code": "EXECUTION_NOT_FOUND"}
    client = make_client(lambda r: httpx.Response(404, json=body))
    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(client.executions.get("exe-123"))
    assert str(info.value) == (
        "Execution not found (HTTP 404 EXECUTION_NOT_FOUND). Check the execution id."
    )


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (
            knouds.RateLimitError("Too many requests.", status_code=429, retry_after=1.5),
            "Too many requests (HTTP 429). Retry after 1.5 s.",
        ),
        (
            knouds.ModelNotFoundError("Model not found", status_code=404, code="MODEL_NOT_FOUND"),
            "Model not found (HTTP 404 MODEL_NOT_FOUND). Check the model name: its internalName, "
            "such as gpt-image-2.",
        ),
        (
            knouds.InternalServerError("Upstream failed", status_code=502),
            "Upstream failed (HTTP 502).",
        ),
        (knouds.APIStatusError("Is the key right?"), "Is the key right?"),
        (knouds.InvalidBodyError("  Bad body.  ", code="INVALID_BODY"), "Bad body (INVALID_BODY)."),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_each_part_of_a_message_is_a_sentence(error: knouds.APIStatusError, text: str) -> None:
    assert str(error) == text


@pytest.mark.parametrize("failure", [httpx.ConnectError(""), httpx.UnsupportedProtocol("")])
async def test_a_connection_error_without_a_message_is_named_by_its_type(
    make_client: Any, failure: Exception
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    client = make_client(handler, max_retries=0)
    with pytest.raises(knouds.APIConnectionError) as info:
        await resolve(client.executions.get("exe_1"))
    assert str(info.value).endswith(f": {type(failure).__name__}")


@pytest.mark.parametrize(
    "error",
    [
        knouds.WorkflowNotFoundError("Workflow not found", status_code=404),
        knouds.ModelNotFoundError("Model not found.", status_code=404, code="MODEL_NOT_FOUND"),
        knouds.RateLimitError("Too many requests", status_code=429, retry_after=2),
        knouds.InvalidBodyError("Bad body", code="INVALID_BODY"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_an_error_made_from_another_errors_text_says_nothing_twice(
    error: knouds.APIStatusError,
) -> None:
    # Text that went through str() once (a journal, a results file, a wrapping layer) and comes
    # back as a message must not get its status, code or hint again.
    again = type(error)(str(error), status_code=error.status_code, code=error.code)
    if isinstance(error, knouds.RateLimitError):
        again = knouds.RateLimitError(str(error), status_code=429, retry_after=error.retry_after)
    assert str(again) == str(error)
    assert str(error).count("(HTTP") <= 1


def test_a_refused_slug_gives_its_advice_once() -> None:
    from knouds._core.requests import check_slug

    with pytest.raises(knouds.InvalidSlugError) as info:
        check_slug("Bad_Model", "model name")
    text = str(info.value)
    assert text == (
        "'Bad_Model' is not a valid model name (INVALID_SLUG). Names are lowercase letters, "
        "digits and single hyphens, like 'gpt-image-2'."
    )
    assert text.count("lowercase") == 1


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (("Connection refused", "Check the network."), "Connection refused. Check the network."),
        (("Done!", "", "  ", "Next?"), "Done! Next?"),
        (("Not found.", "not found"), "Not found."),
        (("Two\n  lines", "Advice"), "Two lines. Advice."),
        ((), ""),
    ],
)
def test_sentences_end_with_a_stop_and_say_nothing_twice(parts: tuple[str, ...], text: str) -> None:
    from knouds._exceptions import sentences

    assert sentences(*parts) == text
