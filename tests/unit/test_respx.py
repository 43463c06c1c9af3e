"""respx with knouds: app tests mocked the way httpx users already write them, for both clients.

The clients here are built without a transport of their own, exactly as an application builds
them; respx intercepts their requests (and the media downloads) at the httpx layer. Responses come
from `knouds.testing.responses`, so every documented error is raised from a realistic answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

import knouds
from knouds.testing import Emulator, responses
from tests.conftest import API_KEY, BASE_URL, FakeTime, resolve

RUN_URL = "/api/models/gpt-image-2/run"
IMAGE_URL = "https://cdn.test/fox.png"
JOB = responses.DEFAULT_EXECUTION_ID


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL) as router:
        yield router


async def thumbnail(client: Any, prompt: str) -> tuple[bytes, float]:
    """The application code under test: one image run, then its bytes (sync or async client)."""
    result = await resolve(client.models.run("gpt-image-2", {"prompt": prompt, "num_images": 1}))
    image = result.images[0]
    data = await image.aread() if isinstance(client, knouds.AsyncClient) else image.read()
    return data, result.cost


async def test_an_app_test_mocked_with_respx(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    route = mock.post(RUN_URL).mock(return_value=responses.run(images=[IMAGE_URL], cost=4))
    media = mock.get(IMAGE_URL).mock(return_value=httpx.Response(200, content=b"\x89PNG..."))
    client = make_client()  # no transport: the client's own httpx client, as in an app

    data, cost = await thumbnail(client, "a red fox")

    assert (data, cost) == (b"\x89PNG...", 4)
    sent = route.calls.last.request
    assert sent.headers["x-api-key"] == API_KEY
    assert json.loads(sent.content) == {"inputs": {"prompt": "a red fox", "num_images": 1}}
    assert "x-api-key" not in media.calls.last.request.headers  # the key stays off media URLs


async def test_a_429_from_a_builder_is_waited_out_and_retried(
    make_client: Callable[..., Any], mock: respx.MockRouter, fake_time: FakeTime
) -> None:
    mock.post(RUN_URL).mock(
        side_effect=[
            responses.rate_limited(3, limit=100, now=fake_time.now),
            responses.run(images=[IMAGE_URL], cost=4),
        ]
    )
    result = await resolve(make_client().models.run("gpt-image-2", {"prompt": "x"}))
    assert result.cost == 4
    # Retry-After, plus a little jitter (pacing may top it up to just past the window's reset).
    assert 3 <= fake_time.sleeps[0] <= sum(fake_time.sleeps) <= 4
    assert mock.calls.call_count == 2


async def test_rate_limit_headers_reach_the_result(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    mock.post(RUN_URL).mock(return_value=responses.run(rate_limit=(100, 87, 1_700_000_060)))
    result = await resolve(make_client().models.run("gpt-image-2", {"prompt": "x"}))
    assert result.rate_limit == knouds.RateLimit(limit=100, remaining=87, reset=1_700_000_060)


async def test_submit_poll_whoami_and_schema(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    mock.post(RUN_URL, params={"async": "true"}).mock(return_value=responses.submit())
    mock.get(f"/api/executions/{JOB}").mock(
        side_effect=[
            responses.execution(JOB, "processing"),
            responses.execution(JOB, "completed", videos=["https://cdn.test/v.mp4"], cost=20),
        ]
    )
    mock.get("/api/whoami").mock(return_value=responses.whoami(tier="business"))
    mock.get("/api/workflows/my-flow/schema").mock(
        return_value=responses.schema("my-flow", estimated_credit_cost=5)
    )
    client = make_client()

    job = await resolve(client.models.submit("gpt-image-2", {"prompt": "x"}))
    assert (job.id, job.status, job.poll_url) == (JOB, "processing", f"/api/executions/{JOB}")
    result = await resolve(client.executions.wait(job))
    assert ([m.url for m in result.videos], result.cost) == (["https://cdn.test/v.mp4"], 20)
    assert (await resolve(client.whoami())).tier == "business"
    schema = await resolve(client.workflows.schema("my-flow"))
    assert ([f.name for f in schema.fields], schema.estimated_credit_cost) == (["prompt"], 5)


async def test_workflow_definitions(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    listing = responses.workflow_list(
        ["my-pipeline", {"slug": "shared-template", "isTemplate": True}]
    )
    mock.get("/api/workflows").mock(return_value=listing)
    mock.get("/api/workflows/my-pipeline").mock(return_value=responses.workflow("my-pipeline"))
    created = mock.post("/api/workflows").mock(
        return_value=responses.workflow("my-flow", name="My flow", status_code=201)
    )
    mock.put("/api/workflows/shared-template").mock(
        return_value=responses.workflow_not_owned("shared-template")
    )
    mock.delete("/api/workflows/my-flow").mock(return_value=responses.workflow_deleted("my-flow"))
    client = make_client()

    listed = await resolve(client.workflows.list())
    assert [(w.slug, w.is_template) for w in listed] == [
        ("my-pipeline", False),
        ("shared-template", True),
    ]
    workflow = await resolve(client.workflows.get("my-pipeline"))
    assert [node["id"] for node in workflow.nodes] == ["input-1", "model-1"]
    copy = await resolve(client.workflows.create(name="My flow", nodes=workflow.nodes))
    assert copy.slug == "my-flow"
    assert json.loads(created.calls.last.request.content)["nodes"] == workflow.nodes
    with pytest.raises(knouds.PermissionDeniedError):
        await resolve(client.workflows.update("shared-template", name="Mine"))
    assert await resolve(client.workflows.delete("my-flow")) is None


# Each documented error, as a builder answers it, and the class the SDK raises for it.
ERRORS: list[tuple[str, httpx.Response, type[knouds.KnoudsError], dict[str, object]]] = [
    ("invalid_inputs", responses.invalid_inputs(), knouds.InvalidInputsError, {}),
    ("invalid_slug", responses.invalid_slug(), knouds.InvalidSlugError, {}),
    ("invalid_body", responses.invalid_body(), knouds.InvalidBodyError, {}),
    (
        "async_not_supported",
        responses.async_not_supported("gpt-image-2"),
        knouds.AsyncNotSupportedError,
        {},
    ),
    ("invalid_scope", responses.invalid_scope("root"), knouds.InvalidScopeError, {}),
    (
        "invalid_capability",
        responses.invalid_capability("model::"),
        knouds.InvalidCapabilityError,
        {},
    ),
    ("unauthorized", responses.unauthorized(), knouds.AuthenticationError, {"code": None}),
    ("legacy_key_retired", responses.legacy_key_retired(), knouds.LegacyKeyRetiredError, {}),
    (
        "insufficient_credits",
        responses.insufficient_credits(required=4, balance=1),
        knouds.InsufficientCreditsError,
        {},
    ),
    (
        "grant_exhausted",
        responses.grant_exhausted("gpt-image-2"),
        knouds.GrantExhaustedError,
        {"code": "grant_exhausted"},
    ),
    (
        "scope_denied",
        responses.scope_denied("admin", "deployment"),
        knouds.ScopeDeniedError,
        {"required": "admin", "actual": "deployment"},
    ),
    (
        "capability_denied",
        responses.capability_denied("model:run"),
        knouds.CapabilityDeniedError,
        {"required": "model:run"},
    ),
    (
        "model_tier_required",
        responses.model_tier_required("gpt-image-2", "business"),
        knouds.ModelTierRequiredError,
        {},
    ),
    (
        "capability_above_ceiling",
        responses.capability_above_ceiling("model:run"),
        knouds.CapabilityAboveCeilingError,
        {"attempted": "model:run"},
    ),
    (
        "api_key_access_denied",
        responses.api_key_access_denied(),
        knouds.ApiKeyAccessDeniedError,
        {},
    ),
    ("model_not_found", responses.model_not_found("gpt-image-2"), knouds.ModelNotFoundError, {}),
    (
        "rate_limited",
        responses.rate_limited(7, limit=100, tier="pro", now=1_700_000_000),
        knouds.RateLimitError,
        {"retry_after": 7, "limit": 100, "tier": "pro"},
    ),
    (
        "execution_failed",
        responses.execution_failed("Provider timed out", provider_code="TIMEOUT"),
        knouds.ExecutionFailedError,
        {"code": "EXECUTION_FAILED", "message": "Provider timed out"},
    ),
    ("proxy_error", responses.proxy_error(502), knouds.InternalServerError, {"status_code": 502}),
    ("empty", responses.empty(503), knouds.InternalServerError, {"status_code": 503}),
    (
        "error",
        responses.error(409, "Conflict", "SOMETHING_NEW"),
        knouds.APIStatusError,
        {"code": "SOMETHING_NEW", "status_code": 409},
    ),
    # A code the SDK does not know yet: the status picks the class, the code is kept.
    ("error_400", responses.error(400, "New", "NEW_400"), knouds.BadRequestError, {}),
    ("error_402", responses.error(402, "New", "NEW_402"), knouds.PaymentRequiredError, {}),
    ("error_403", responses.error(403, "New", "NEW_403"), knouds.PermissionDeniedError, {}),
    ("error_503", responses.error(503, "New", "NEW_503"), knouds.InternalServerError, {}),
]


@pytest.mark.parametrize(
    ("builder", "response", "cls", "fields"), ERRORS, ids=[e[0] for e in ERRORS]
)
async def test_each_error_builder_raises_its_class(
    make_client: Callable[..., Any],
    mock: respx.MockRouter,
    builder: str,
    response: httpx.Response,
    cls: type[knouds.KnoudsError],
    fields: dict[str, object],
) -> None:
    mock.post(RUN_URL).mock(return_value=response)
    client = make_client(max_retries=0)
    with pytest.raises(cls) as caught:
        await resolve(client.models.run("gpt-image-2", {"prompt": "x"}))
    assert type(caught.value) is cls
    error: Any = caught.value
    assert error.status_code == response.status_code
    expected = {"code": response.json().get("code")} if response.content.startswith(b"{") else {}
    expected.update(fields)
    assert {name: getattr(error, name) for name in expected} == expected


async def test_a_2xx_off_the_contract_is_a_validation_error(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    mock.post(RUN_URL).mock(return_value=responses.json_response(200, ["not", "an", "object"]))
    with pytest.raises(knouds.APIResponseValidationError):
        await resolve(make_client().models.run("gpt-image-2", {"prompt": "x"}))


async def test_route_specific_404s(make_client: Callable[..., Any], mock: respx.MockRouter) -> None:
    mock.post("/api/workflows/my-flow/run").mock(return_value=responses.workflow_not_found())
    mock.get(f"/api/executions/{JOB}").mock(return_value=responses.execution_not_found())
    client = make_client()
    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(client.workflows.run("my-flow", {"prompt": "x"}))
    with pytest.raises(knouds.ExecutionNotFoundError):
        await resolve(client.executions.get(JOB))


async def test_failed_and_cancelled_executions_raise(
    make_client: Callable[..., Any], mock: respx.MockRouter
) -> None:
    failed = responses.execution(
        JOB, "failed", error_code="PROVIDER_TIMEOUT", error_message="The provider timed out"
    )
    mock.get(f"/api/executions/{JOB}").mock(
        side_effect=[failed, responses.execution(JOB, "cancelled")]
    )
    client = make_client()
    with pytest.raises(knouds.ExecutionFailedError) as caught:
        await resolve(client.executions.wait(JOB))
    assert (caught.value.code, caught.value.message) == (
        "PROVIDER_TIMEOUT",
        "The provider timed out",
    )
    with pytest.raises(knouds.ExecutionCancelledError):
        await resolve(client.executions.wait(JOB))


async def test_an_unmocked_request_fails_the_test(
    make_client: Callable[..., Any], mock: respx.MockRouter, client_kind: str
) -> None:
    # respx raises its own AssertionError; the SDK does not mistake it for a connection error.
    with pytest.raises(AssertionError, match="not mocked"):
        await resolve(make_client().whoami())
    media = knouds.Media(url=IMAGE_URL, kind="image")
    with pytest.raises(AssertionError, match="not mocked"):
        await resolve(media.read() if client_kind == "sync" else media.aread())
    assert mock.calls.call_count == 0


# -- the aiohttp transport ------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


async def test_aiohttp_needs_respx_using_httpx(emu: Emulator) -> None:
    """respx's default mocker patches httpcore, which aiohttp does not use: the request goes out
    (here to a local emulator). ``respx.mock(using="httpx")`` patches the httpx client itself
    and catches it, media downloads included."""
    url = f"{emu.base_url}{RUN_URL}"
    async with knouds.DefaultAioHttpClient() as http:
        client = knouds.AsyncClient(api_key=emu.api_key, base_url=emu.base_url, http_client=http)

        with respx.mock(assert_all_called=False) as default_mock:
            route = default_mock.post(url).mock(return_value=responses.run(cost=99))
            result = await client.models.run("gpt-image-2", {"prompt": "x"})
        assert not route.called
        assert result.cost == 4  # the emulator answered
        assert emu.run_count("gpt-image-2") == 1

        with respx.mock(using="httpx") as httpx_mock:
            route = httpx_mock.post(url).mock(
                return_value=responses.run(images=[IMAGE_URL], cost=99)
            )
            httpx_mock.get(IMAGE_URL).mock(return_value=httpx.Response(200, content=b"png"))
            result = await client.models.run("gpt-image-2", {"prompt": "x"})
            assert await result.images[0].aread() == b"png"
        assert route.called
        assert result.cost == 99
        assert emu.run_count("gpt-image-2") == 1  # nothing more reached the emulator
        await client.aclose()


async def test_respx_using_httpx_also_serves_the_default_clients(
    make_client: Callable[..., Any],
) -> None:
    with respx.mock(base_url=BASE_URL, using="httpx") as mock:
        mock.post(RUN_URL).mock(return_value=responses.run(images=[IMAGE_URL], cost=4))
        mock.get(IMAGE_URL).mock(return_value=httpx.Response(200, content=b"png"))
        assert await thumbnail(make_client(), "x") == (b"png", 4)
