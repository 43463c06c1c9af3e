"""User code against the public API, type-checked in CI by mypy and pyright; never run.

Each line that a checker must reject carries an ignore comment naming the error it expects: a
``# type: ignore[code]`` for mypy (``warn_unused_ignores`` makes an ignore that is no longer needed
an error) and a ``# pyright: ignore[rule]`` for pyright (``reportUnnecessaryTypeIgnoreComment``).
So a misspelled name that starts to pass, or a return type that turns into ``Any``, fails CI.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, TypedDict

from typing_extensions import assert_type

import knouds
from knouds import AsyncClient, Client, RunResult


def run_a_model(client: knouds.Client) -> None:
    result = client.models.run("gpt-image-2", {"prompt": "a red fox"}, timeout=30)
    assert_type(result, RunResult)
    assert_type(result.images, list[knouds.Media])
    assert_type(result.text, str | None)
    assert_type(result.cost, int | float | None)
    assert_type(result.rate_limit, knouds.RateLimit | None)
    assert_type(result.images[0].save("fox.png"), Path)
    assert_type(result.images[0].read(), bytes)
    if result.rate_limit is not None:
        assert_type(result.rate_limit.remaining, int)

    batch = client.models.run_many("gpt-image-2", [{"prompt": "a"}, {"prompt": "b"}])
    assert_type(batch, knouds.BatchResults)
    assert_type(batch[0], RunResult | knouds.KnoudsError)
    assert_type(batch.usage.credits, float)
    assert_type(batch.estimate, float | None)


def spend_control() -> None:
    client = knouds.Client(budget=500)
    daily = knouds.Budget(500, period=timedelta(days=1), store="redis://localhost:6379/0")
    assert_type(knouds.Client(budget=daily).budget, knouds.Budget | None)
    assert_type(client.usage, knouds.Usage)
    assert_type(client.usage.by_model["gpt-image-2"], knouds.UsageLine)
    assert_type(client.workflows.estimate("my-pipeline", runs=10), float | None)
    client.models.run_many("gpt-image-2", [{"prompt": "a"}], max_credits=200)
    try:
        client.models.run("gpt-image-2", {"prompt": "a"})
    except knouds.BudgetExceededError as error:
        assert_type(error.limit, float)
        assert_type(error.scope, str)


def workflows_and_executions(client: Client) -> None:
    schema = client.workflows.schema("my-thumbnail-pipeline")
    assert_type(schema, knouds.WorkflowSchema)
    assert_type([field.name for field in schema.fields], list[str])
    assert_type(client.workflows.run("my-pipeline", {"prompt": "x"}), RunResult)

    execution = client.models.submit("seedance-2-i2v", {"prompt": "waves"})
    assert_type(execution, knouds.Execution)
    assert_type(execution.id, str)
    assert_type(client.executions.get(execution.id), knouds.Execution)
    assert_type(client.executions.cancel(execution.id), knouds.Execution)
    assert_type(client.executions.wait(execution.id, timeout=600), RunResult)
    assert_type(client.whoami(), knouds.Identity)


class ThumbnailInputs(TypedDict, total=False):
    """What ``knouds types my-thumbnail-pipeline`` writes (a part of it)."""

    prompt: str
    aspect_ratio: Literal["16:9", "9:16", "1:1"]
    num_images: float


def telemetry() -> None:
    from opentelemetry import metrics, trace

    client = Client(
        telemetry=True,
        tracer_provider=trace.get_tracer_provider(),
        meter_provider=metrics.get_meter_provider(),
    )
    assert_type(client.with_options(max_retries=1), Client)
    AsyncClient(telemetry=False, tracer_provider=trace.get_tracer_provider())
    Client(telemetry=None)
    Client(telemetry="off")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Client(tracer_provider="console")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def checked_and_typed_inputs() -> None:
    client = Client(check_inputs=True)
    assert_type(client.with_options(check_inputs=False), Client)
    inputs: ThumbnailInputs = {"prompt": "a lighthouse", "aspect_ratio": "9:16", "num_images": 2}
    assert_type(client.workflows.run("my-thumbnail-pipeline", inputs, check_inputs=True), RunResult)
    assert_type(client.workflows.submit("my-pipeline", inputs, check_inputs=None), knouds.Execution)
    batch = client.workflows.run_many("my-pipeline", [inputs, inputs], check_inputs=False)
    assert_type(batch, knouds.BatchResults)
    AsyncClient(check_inputs=True)
    Client(check_inputs="yes")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    _typo: ThumbnailInputs = {"prmpt": "a lighthouse"}  # type: ignore[typeddict-unknown-key]  # pyright: ignore[reportAssignmentType]
    _wrong: ThumbnailInputs = {"aspect_ratio": "4:3"}  # type: ignore[typeddict-item]  # pyright: ignore[reportAssignmentType]
    client.models.run("gpt-image-2", {}, check_inputs=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def workflow_definitions(client: Client) -> None:
    assert_type(client.workflows.list(), list[knouds.WorkflowSummary])
    flow = client.workflows.get("my-pipeline", retry=knouds.RetryPolicy(max_retries=0))
    assert_type(flow, knouds.Workflow)
    assert_type(client.workflows.create(**flow), knouds.Workflow)
    assert_type(client.workflows.create(name="My flow", nodes=[], edges=[]), knouds.Workflow)
    assert_type(client.workflows.update("my-flow", name="Renamed"), knouds.Workflow)
    assert_type(client.workflows.delete("my-flow"), None)
    client.workflows.update("my-flow", nme="typo")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def log_retry(event: knouds.RetryEvent) -> None:
    assert_type(event.attempt, int)
    assert_type(event.wait, float)
    assert_type(event.error, knouds.KnoudsError)


def configure() -> None:
    policy = knouds.RetryPolicy(max_retries=4, max_retry_wait=120, deadline=300, on_retry=log_retry)
    with Client(retry=policy, timeout=120, pace=False) as client:
        assert_type(client.with_options(max_retries=0), Client)
        assert_type(client.retry_policy, knouds.RetryPolicy)
        assert_type(client.rate_limits, dict[str, knouds.RateLimit])
        for chunk in client.models.run("gpt-image-2", {}).images[0].iter_bytes():
            assert_type(chunk, bytes)
    assert_type(knouds.NOT_GIVEN, knouds.NotGiven)
    assert_type(knouds.__version__, str)
    shared = Client(rate_limit_store="redis://localhost:6379/0", rate_limit_namespace="acme")
    assert_type(shared.with_options(timeout=5), Client)
    AsyncClient(rate_limit_store="local", rate_limit_store_fallback="raise")
    Client(rate_limit_store_fallback="ignore")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def handle_errors(client: Client) -> None:
    try:
        client.models.run("nano-banana-2", {"prompt": "a red fox"})
    except knouds.RateLimitError as error:
        assert_type(error.retry_after, float | None)
        assert_type(error.status_code, int | None)
        assert_type(error.tier, str | None)
    except knouds.ExecutionFailedError as error:
        assert_type(error.execution, knouds.Execution | None)
    except knouds.APIKeyAccessDeniedError as error:
        assert_type(error.status_code, int | None)
    except knouds.APIStatusError as error:
        assert_type(error.code, str | None)
    except knouds.RateLimitStoreError as error:
        assert_type(error.message, str)
    except knouds.BudgetStoreError as error:
        assert_type(error.message, str)
    except knouds.StoreError as error:
        assert_type(error, knouds.StoreError)
    except knouds.ConfigurationError as error:
        assert_type(error.message, str)
    except knouds.KnoudsError as error:
        assert_type(str(error), str)


def handle_the_former_name(client: Client) -> None:
    try:
        client.whoami()
    except knouds.ApiKeyAccessDeniedError as error:
        assert_type(error, knouds.APIKeyAccessDeniedError)


def verify_a_webhook(body: bytes, header: str | None) -> None:
    event = knouds.webhooks.verify(body, header, "whsec_test")
    assert_type(event, knouds.WebhookEvent)
    assert_type(event.execution_id, str | None)


async def run_async() -> None:
    async with AsyncClient() as client:
        result = await client.models.run("gpt-image-2", {"prompt": "a red fox"})
        assert_type(result, RunResult)
        assert_type(await result.images[0].asave("."), Path)
        execution = await client.workflows.submit("my-pipeline", {"prompt": "x"})
        assert_type(await client.executions.wait(execution.id), RunResult)
        assert_type(client.with_options(timeout=5), AsyncClient)
        async for chunk in result.images[0].aiter_bytes():
            assert_type(chunk, bytes)
        batch = await client.models.run_many("gpt-image-2", [{"prompt": "a"}], concurrency=4)
        assert_type(batch, knouds.BatchResults)
        assert_type(await client.workflows.estimate("my-pipeline"), float | None)


def rejected() -> None:
    # Misspelled public names are errors, not ``Any``.
    knouds.Clinet()  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
    _ = knouds.RateLimitErorr  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType, reportUnknownVariableType]
    from knouds import Exectuion  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownVariableType]

    client = Client()
    # Wrong argument types and unknown options.
    client.models.run("gpt-image-2", "a red fox")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    client.models.run("gpt-image-2", {}, retries=3)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    knouds.RetryPolicy(max_retries="3")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # An async result must be awaited.
    result: RunResult = AsyncClient().models.run("gpt-image-2", {})  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del Exectuion, result


async def rejected_async() -> None:
    # A sync client's result is not awaitable.
    await Client().whoami()  # type: ignore[misc]  # pyright: ignore[reportGeneralTypeIssues]
