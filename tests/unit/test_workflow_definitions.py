"""``client.workflows`` list/get/create/update/delete: requests sent, tolerant reading of the
undocumented answers, and which failures are retried."""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import FakeTime, json_response, rate_headers, resolve

MakeClient = Callable[..., Any]
WORKFLOW = {
    "slug": "my-flow",
    "name": "My flow",
    "description": "",
    "tags": ["a"],
    "nodes": [{"id": "n", "type": "imageGenerator", "position": {"x": 0, "y": 0}, "data": {}}],
    "edges": [],
    "viewport": {"x": 0, "y": 0, "zoom": 1},
    "folderId": "f-1",
}
SUMMARY: dict[str, Any] = {
    "slug": "my-flow",
    "name": "My flow",
    "tags": [],
    "updatedAt": "2026-05-01T10:00:00.000Z",
    "estimatedCreditCost": None,
    "folderId": None,
    "isTemplate": False,
    "cover": {"image": "https://cdn.example/c.png"},
    "createdBy": "u_1",
    "brandNew": 42,
}


class Server:
    """Answers with queued responses (the last one repeats) and records requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sent(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


async def test_list_reads_summaries_and_keeps_unknown_fields(make_client: MakeClient) -> None:
    server = Server(json_response(200, [SUMMARY]))
    client = make_client(server)

    (summary,) = await resolve(client.workflows.list())

    assert summary.slug == "my-flow"
    assert summary.updated_at.year == 2026
    assert summary.estimated_credit_cost is None
    assert summary.cover == {"image": "https://cdn.example/c.png"}
    assert summary.created_by == "u_1"
    assert summary.model_extra == {"brandNew": 42}
    assert server.requests[0].method == "GET"
    assert server.requests[0].url.path == "/api/workflows"


async def test_list_accepts_a_wrapped_array(make_client: MakeClient) -> None:
    client = make_client(Server(json_response(200, {"workflows": [SUMMARY]})))
    assert [w.slug for w in await resolve(client.workflows.list())] == ["my-flow"]


async def test_list_reads_odd_rows_without_failing(make_client: MakeClient) -> None:
    odd = [
        {**SUMMARY, "slug": "nulls", "tags": None, "cover": None, "name": None},
        {**SUMMARY, "slug": "string-cover", "cover": "legacy.png", "tags": "solo"},
        {**SUMMARY, "slug": "odd-types", "tags": [1, None, "x"], "hidden": "maybe", "name": 7},
        {**SUMMARY, "slug": "odd-cost", "estimatedCreditCost": "unknown", "folderId": []},
    ]
    client = make_client(Server(json_response(200, [SUMMARY, *odd])))

    summaries = await resolve(client.workflows.list())

    assert [s.slug for s in summaries] == [
        "my-flow",
        "nulls",
        "string-cover",
        "odd-types",
        "odd-cost",
    ]
    assert summaries[1].tags == []
    assert summaries[1].cover is None
    assert summaries[2].cover == "legacy.png"
    assert summaries[2].tags == ["solo"]
    assert summaries[3].tags == ["1", "x"]
    assert summaries[3].hidden is None
    assert summaries[3].name is None
    assert summaries[3].created_by == "u_1"  # the well-formed fields of an odd row are kept
    assert summaries[4].estimated_credit_cost is None
    assert summaries[4].folder_id is None


async def test_get_reads_null_lists_as_empty(make_client: MakeClient) -> None:
    body = {**WORKFLOW, "tags": None, "nodes": None, "edges": [None, "x", {"id": "e"}]}
    client = make_client(Server(json_response(200, body)))

    workflow = await resolve(client.workflows.get("my-flow"))

    assert workflow.tags == []
    assert workflow.nodes == []
    assert workflow.edges == [{"id": "e"}]
    assert workflow.viewport == WORKFLOW["viewport"]


async def test_get_returns_the_workflow_that_unpacks_into_create(make_client: MakeClient) -> None:
    server = Server(json_response(200, WORKFLOW), json_response(201, {"slug": "my-flow-2"}))
    client = make_client(server)

    workflow = await resolve(client.workflows.get("my-flow"))
    assert workflow.to_body() == WORKFLOW
    assert sorted(workflow.keys()) == [
        "description",
        "edges",
        "extra_body",
        "name",
        "nodes",
        "tags",
        "viewport",
    ]
    copy = await resolve(client.workflows.create(**workflow))

    expected = {k: v for k, v in WORKFLOW.items() if k != "slug"}
    assert server.sent() == expected
    assert copy.slug == "my-flow-2"
    assert copy.nodes == WORKFLOW["nodes"]  # filled from what was sent
    assert copy.model_extra == {"folderId": "f-1"}


async def test_create_sends_only_given_fields(make_client: MakeClient) -> None:
    server = Server(json_response(201, {"workflow": WORKFLOW}))
    client = make_client(server)

    created = await resolve(client.workflows.create("My flow", public_playground=True))

    assert server.sent() == {"name": "My flow", "publicPlayground": True}
    assert server.requests[0].headers["content-type"] == "application/json"
    assert created.slug == "my-flow"
    assert created.public_playground is True


async def test_create_answer_without_a_slug_is_a_validation_error(make_client: MakeClient) -> None:
    client = make_client(Server(json_response(200, {"success": True})))
    with pytest.raises(knouds.APIResponseValidationError):
        await resolve(client.workflows.create(name="x"))


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(204),
        lambda: json_response(200, {"success": True}),
        lambda: json_response(200, {"slug": "my-flow", "name": "New"}),
    ],
)
async def test_update_reads_any_answer(
    make_client: MakeClient, answer: Callable[[], httpx.Response]
) -> None:
    server = Server(answer())
    client = make_client(server)

    updated = await resolve(client.workflows.update("my-flow", name="New", tags=[]))

    assert server.requests[0].method == "PUT"
    assert server.requests[0].url.path == "/api/workflows/my-flow"
    assert server.sent() == {"name": "New", "tags": []}
    assert (updated.slug, updated.name) == ("my-flow", "New")


@pytest.mark.parametrize(
    "answer", [lambda: httpx.Response(204), lambda: json_response(200, {"success": True})]
)
async def test_delete(make_client: MakeClient, answer: Callable[[], httpx.Response]) -> None:
    server = Server(answer())
    client = make_client(server)
    assert await resolve(client.workflows.delete("my-flow")) is None
    assert server.requests[0].method == "DELETE"


async def test_bad_arguments_send_nothing(make_client: MakeClient) -> None:
    server = Server(json_response(200, WORKFLOW))
    client = make_client(server)
    with pytest.raises(knouds.InvalidSlugError):
        await resolve(client.workflows.get("My Flow"))
    with pytest.raises(knouds.InvalidSlugError):
        await resolve(client.workflows.delete("a/b"))
    with pytest.raises(knouds.InvalidBodyError) as bad:
        await resolve(client.workflows.create(name="x", nodes=[{"data": object()}]))
    assert bad.value.status_code is None
    assert server.requests == []


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        # A string is not split into one tag per character.
        ({"tags": "demo"}, "tags must be a list, got str 'demo'"),
        ({"nodes": {"id": "n"}}, "nodes must be a list, got dict {'id': 'n'}"),
        ({"nodes": [1]}, "nodes must be a list of mappings (JSON objects), got int 1"),
        ({"edges": ["e1"]}, "edges must be a list of mappings (JSON objects), got str 'e1'"),
        ({"edges": 7}, "edges must be a list, got int 7"),
        ({"viewport": 5}, "viewport must be a mapping (a JSON object), got int 5"),
        ({"viewport": [("x", 1)]}, "viewport must be a mapping (a JSON object), got list"),
        ({"extra_body": [("f", "g")]}, "extra_body must be a mapping (a JSON object), got list"),
    ],
)
async def test_misshapen_definition_arguments_are_a_knouds_error_and_send_nothing(
    make_client: MakeClient, arguments: dict[str, Any], message: str
) -> None:
    # The message names the argument, the shape it must have and what it got instead.
    server = Server(json_response(200, WORKFLOW))
    client = make_client(server)
    with pytest.raises(knouds.InvalidBodyError) as bad:
        await resolve(client.workflows.create(name="x", **arguments))
    assert str(bad.value).startswith(message)
    assert (bad.value.status_code, bad.value.code) == (None, "INVALID_BODY")
    with pytest.raises(knouds.InvalidBodyError) as bad:
        await resolve(client.workflows.update("my-flow", **arguments))
    assert str(bad.value).startswith(message)
    assert server.requests == []


async def test_create_is_never_resent_after_an_unknown_outcome(make_client: MakeClient) -> None:
    server = Server(json_response(503, {"error": "busy"}), json_response(201, WORKFLOW))
    client = make_client(server)
    with pytest.raises(knouds.InternalServerError):
        await resolve(client.workflows.create(name="My flow"))
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda c: c.workflows.get("my-flow"), "GET"),
        (lambda c: c.workflows.list(), "GET"),
        (lambda c: c.workflows.update("my-flow", name="x"), "PUT"),
        (lambda c: c.workflows.delete("my-flow"), "DELETE"),
    ],
)
async def test_reads_updates_and_deletes_are_retried(
    make_client: MakeClient, call: Callable[[Any], Any], method: str
) -> None:
    ok = json_response(200, [SUMMARY] if call.__code__.co_names[-1] == "list" else WORKFLOW)
    server = Server(httpx.ReadTimeout("slow"), json_response(502, {"error": "gw"}), ok)
    client = make_client(server)

    await resolve(call(client))

    assert [r.method for r in server.requests] == [method] * 3


Answer = Callable[[], "httpx.Response | Exception"]


@pytest.mark.parametrize(
    "lost", [lambda: httpx.ReadTimeout("slow"), lambda: json_response(504, {"error": "gw"})]
)
async def test_a_delete_whose_lost_attempt_went_through_succeeds(
    make_client: MakeClient, lost: Answer
) -> None:
    # The first DELETE may have deleted the workflow: the retry's 404 means "already gone".
    events: list[knouds.RetryEvent] = []
    server = Server(lost(), json_response(404, {"error": "Workflow not found"}))
    client = make_client(server, retry=knouds.RetryPolicy(on_retry=events.append))

    assert await resolve(client.workflows.delete("my-flow")) is None

    assert [r.method for r in server.requests] == ["DELETE", "DELETE"]
    # The caller's hook still hears of the retry, and of what it retried.
    assert [(e.attempt, e.method) for e in events] == [(1, "DELETE")]


@pytest.mark.parametrize(
    "first",
    [
        None,
        lambda: httpx.ConnectError("refused"),
        lambda: json_response(429, {"error": "slow down", "code": "RATE_LIMIT_EXCEEDED"}),
    ],
)
async def test_a_delete_of_a_missing_workflow_is_not_found(
    make_client: MakeClient, first: Answer | None
) -> None:
    # Without an attempt that may have landed, a 404 is the truth: no such workflow.
    missing = json_response(404, {"error": "Workflow not found"})
    server = Server(*([first()] if first is not None else []), missing)
    client = make_client(server)

    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(client.workflows.delete("my-flow"))
    assert len(server.requests) == (1 if first is None else 2)


async def test_retry_per_call(make_client: MakeClient) -> None:
    server = Server(json_response(503, {"error": "busy"}), json_response(200, [SUMMARY]))
    client = make_client(server)
    with pytest.raises(knouds.InternalServerError):
        await resolve(client.workflows.list(retry=knouds.RetryPolicy(max_retries=0)))
    assert len(server.requests) == 1
    calls: list[Callable[[], Any]] = [
        lambda: client.whoami(retry=knouds.RetryPolicy(max_retries=0)),
        lambda: client.executions.get("e-1", retry=knouds.RetryPolicy(max_retries=0)),
        lambda: client.workflows.schema("my-flow", retry=knouds.RetryPolicy(max_retries=0)),
    ]
    for call in calls:
        server.answers = [json_response(503, {"error": "busy"})]
        with pytest.raises(knouds.InternalServerError):
            await resolve(call())
    assert len(server.requests) == 4


async def test_not_found_is_a_workflow_not_found_error(make_client: MakeClient) -> None:
    client = make_client(Server(json_response(404, {"error": "Workflow not found"})))
    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(client.workflows.update("gone", name="x"))


async def test_list_accepts_an_array_under_data(make_client: MakeClient) -> None:
    client = make_client(Server(json_response(200, {"data": [SUMMARY]})))
    assert [w.slug for w in await resolve(client.workflows.list())] == ["my-flow"]


@pytest.mark.parametrize(
    ("call", "method", "path", "answer"),
    [
        (lambda c: c.workflows.list(), "GET", "/api/workflows", [SUMMARY]),
        (lambda c: c.workflows.create(name="x"), "POST", "/api/workflows", WORKFLOW),
        (lambda c: c.workflows.get("my-flow"), "GET", "/api/workflows/my-flow", WORKFLOW),
        (
            lambda c: c.workflows.update("my-flow", name="x"),
            "PUT",
            "/api/workflows/my-flow",
            WORKFLOW,
        ),
        (lambda c: c.workflows.delete("my-flow"), "DELETE", "/api/workflows/my-flow", {}),
    ],
    ids=["list", "create", "get", "update", "delete"],
)
async def test_definition_routes_pace_in_their_own_bucket(
    make_client: MakeClient,
    fake_time: FakeTime,
    call: Callable[[Any], Any],
    method: str,
    path: str,
    answer: object,
) -> None:
    server = Server(json_response(200, answer, rate_headers(10, 9, fake_time.now + 60)))
    client = make_client(server)

    await resolve(call(client))

    assert (server.requests[0].method, server.requests[0].url.path) == (method, path)
    assert set(client.rate_limits) == {"workflows.definitions"}
    assert client.rate_limits["workflows.definitions"].remaining == 9


@pytest.mark.parametrize(
    "fields",
    [{"nodes": [{"data": object()}]}, {"viewport": {"zoom": float("nan")}}],
    ids=["object", "nan"],
)
async def test_a_definition_json_cannot_carry_is_refused_with_its_code(
    make_client: MakeClient, fields: dict[str, Any]
) -> None:
    server = Server(json_response(200, WORKFLOW))
    client = make_client(server)
    with pytest.raises(knouds.InvalidBodyError) as bad:
        await resolve(client.workflows.create(name="x", **fields))
    assert (bad.value.status_code, bad.value.code) == (None, "INVALID_BODY")
    assert str(bad.value).startswith(f"workflow[{next(iter(fields))!r}]")
    assert "which JSON cannot carry" in str(bad.value)
    with pytest.raises(knouds.InvalidBodyError) as bad:
        await resolve(client.workflows.update("my-flow", **fields))
    assert bad.value.code == "INVALID_BODY"
    assert server.requests == []


async def test_get_unwraps_a_workflow_object_and_nothing_else(make_client: MakeClient) -> None:
    server = Server(
        json_response(200, {"workflow": {**WORKFLOW, "name": "Wrapped"}}),
        json_response(200, {**WORKFLOW, "workflow": "legacy-id"}),
    )
    client = make_client(server)

    wrapped = await resolve(client.workflows.get("my-flow"))
    bare = await resolve(client.workflows.get("my-flow"))

    assert (wrapped.slug, wrapped.name) == ("my-flow", "Wrapped")
    assert (bare.slug, bare.name) == ("my-flow", "My flow")
    assert bare.model_extra == {"folderId": "f-1", "workflow": "legacy-id"}


async def test_an_update_answer_adds_what_was_not_sent_and_drops_success(
    make_client: MakeClient,
) -> None:
    server = Server(
        json_response(200, {"success": True, "slug": "my-flow", "description": "from server"})
    )
    client = make_client(server)

    updated = await resolve(client.workflows.update("my-flow", name="New"))

    assert (updated.slug, updated.name, updated.description) == ("my-flow", "New", "from server")
    assert updated.model_extra == {}


async def test_a_definition_is_sent_as_utf8_not_escaped(make_client: MakeClient) -> None:
    server = Server(json_response(201, {"slug": "cafe"}))
    client = make_client(server)

    await resolve(client.workflows.create(name="Café ☕"))

    assert server.requests[0].content == '{"name": "Café ☕"}'.encode()


async def test_a_definition_with_a_read_only_mapping_inside_is_sent(
    make_client: MakeClient,
) -> None:
    server = Server(json_response(201, {"slug": "flow"}))
    client = make_client(server)
    node = {"id": "n1", "data": types.MappingProxyType({"model": "gpt-image-2"})}

    await resolve(client.workflows.create(name="Flow", nodes=[node]))

    assert json.loads(server.requests[0].content) == {
        "name": "Flow",
        "nodes": [{"id": "n1", "data": {"model": "gpt-image-2"}}],
    }


async def test_a_get_answered_with_json_that_is_not_an_object_says_so(
    make_client: MakeClient,
) -> None:
    server = Server(json_response(200, ["my-flow"]))
    client = make_client(server)
    with pytest.raises(knouds.APIResponseValidationError) as bad:
        await resolve(client.workflows.get("my-flow"))
    assert "answered 200 with JSON that is not an object: ['my-flow']" in str(bad.value)
    assert server.requests[0].method == "GET"
