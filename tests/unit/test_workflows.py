"""``client.workflows``: run, submit, schema, public schema and the opt-in input check."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from knouds._base.workflows import check_workflow_inputs
from knouds.resources.workflows import AsyncWorkflows, Workflows
from tests.conftest import API_KEY, json_response, resolve

SLUG = "my-thumbnail-pipeline"
SCHEMA = {
    "name": "My thumbnail pipeline",
    "description": "Generates a thumbnail.",
    "fields": [
        {"name": "prompt", "type": "text", "required": True},
        {"name": "style", "type": "select", "options": ["photo", "3d"], "default": "photo"},
    ],
    "values": {"prompt": None, "style": "photo"},
    "estimatedCreditCost": 5,
    "somethingNew": True,
}
RUN = {"success": True, "result": {"images": ["https://m.example/a.png"]}, "cost": 5, "ms": 900}
SUBMITTED = {"_async": True, "executionId": "e-1", "status": "processing", "pollUrl": "/x"}

MakeClient = Callable[..., Any]


class Server:
    """Answers the workflow routes and records every request."""

    def __init__(self, submit_status: int = 202) -> None:
        self.requests: list[httpx.Request] = []
        self.submit_status = submit_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path.endswith("/schema") or path.endswith("/public-schema"):
            return json_response(200, SCHEMA)
        if request.url.params.get("async") == "true":
            return json_response(self.submit_status, SUBMITTED)
        return json_response(200, RUN)

    @property
    def runs(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


async def test_run_returns_a_typed_result(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server)

    result = await resolve(client.workflows.run(SLUG, {"prompt": "a fox"}))

    assert result.images[0].url == "https://m.example/a.png"
    assert result.cost == 5
    (request,) = server.requests
    assert request.url.path == f"/api/workflows/{SLUG}/run"
    assert json.loads(request.content) == {"inputs": {"prompt": "a fox"}}


@pytest.mark.parametrize("status_code", [200, 202])
async def test_submit_returns_an_execution(make_client: MakeClient, status_code: int) -> None:
    server = Server(status_code)
    client = make_client(server)

    execution = await resolve(client.workflows.submit(SLUG, {"prompt": "a fox"}))

    assert execution.id == "e-1"
    assert execution.status == "processing"
    assert server.requests[0].url.params["async"] == "true"


async def test_schema_and_public_schema(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server)

    schema = await resolve(client.workflows.schema(SLUG))
    public = await resolve(client.workflows.public_schema(SLUG))

    assert schema.field_names == ["prompt", "style"]
    assert schema.estimated_credit_cost == 5
    assert schema.values["style"] == "photo"
    assert public.field_names == schema.field_names
    private_request, public_request = server.requests
    assert private_request.url.path == f"/api/workflows/{SLUG}/schema"
    assert private_request.headers["x-api-key"] == API_KEY
    assert public_request.url.path == f"/api/workflows/{SLUG}/public-schema"
    assert "x-api-key" not in public_request.headers


async def test_unknown_workflow_raises_workflow_not_found(make_client: MakeClient) -> None:
    client = make_client(lambda request: json_response(404, {"error": "Workflow not found"}))

    with pytest.raises(knouds.WorkflowNotFoundError) as info:
        await resolve(client.workflows.run("nope", {"prompt": "x"}))
    assert info.value.status_code == 404
    assert info.value.code is None


@pytest.mark.parametrize("method", ["run", "submit"])
async def test_validate_refuses_unknown_fields_before_running(
    make_client: MakeClient, method: str
) -> None:
    server = Server()
    client = make_client(server)

    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(
            getattr(client.workflows, method)(
                SLUG, {"prompt": "a fox", "colour": "red"}, validate=True
            )
        )

    error = info.value
    assert error.status_code is None
    assert error.code == "INVALID_INPUTS"
    assert "'colour'" in error.message
    assert "'prompt'" in error.message
    assert "'style'" in error.message
    assert [r.url.path for r in server.requests] == [f"/api/workflows/{SLUG}/schema"]
    assert server.runs == []


@pytest.mark.parametrize("method", ["run", "submit"])
async def test_validate_lets_known_fields_through(make_client: MakeClient, method: str) -> None:
    server = Server()
    client = make_client(server)

    await resolve(
        getattr(client.workflows, method)(SLUG, {"prompt": "a fox", "style": "3d"}, validate=True)
    )

    assert [r.method for r in server.requests] == ["GET", "POST"]


async def test_validate_is_off_by_default(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server)

    await resolve(client.workflows.run(SLUG, {"colour": "red"}))

    assert [r.method for r in server.requests] == ["POST"]


async def test_validate_with_bad_inputs_sends_nothing(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server)

    with pytest.raises(knouds.InvalidInputsError):
        await resolve(client.workflows.run(SLUG, ["not", "a", "mapping"], validate=True))
    assert server.requests == []


def test_check_workflow_inputs_names() -> None:
    schema = knouds.WorkflowSchema.model_validate(SCHEMA)
    check_workflow_inputs(SLUG, {}, schema)
    check_workflow_inputs(SLUG, {"prompt": "x", "style": "3d"}, schema)
    with pytest.raises(knouds.InvalidInputsError, match="'a', 'b'"):
        check_workflow_inputs(SLUG, {"a": 1, "prompt": "x", "b": 2}, schema)
    with pytest.raises(knouds.InvalidInputsError, match="fields are: none"):
        check_workflow_inputs(SLUG, {"a": 1}, knouds.WorkflowSchema())


def test_sync_and_async_workflows_have_the_same_surface() -> None:
    def public(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and not name.startswith("_")
        }

    sync, asynchronous = public(Workflows), public(AsyncWorkflows)
    assert sync.keys() == asynchronous.keys() >= {"run", "submit", "schema", "public_schema"}
    for name, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[name].parameters), name
        assert inspect.iscoroutinefunction(getattr(AsyncWorkflows, name)), name
