"""The input check: the rules read tolerantly from a schema (``knouds._core.inputs``), and
``check_inputs`` on both clients over a scripted server."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import knouds
from knouds._core.inputs import input_error, kind_of, missing_input_hint, read_field, read_rules
from tests.conftest import json_response, resolve

MakeClient = Callable[..., Any]
SLUG = "thumbs"
FIELDS: list[dict[str, object]] = [
    {"name": "prompt", "type": "TEXT", "required": True},
    {"name": "aspect_ratio", "Type": "Pills", "Options": [{"value": "16:9"}, {"value": "1:1"}]},
    {"name": "steps", "type": "integer", "min": "1", "max": 50},
    {"name": "strength", "type": "range-slider", "max": 1},
    {"name": "hdr", "type": "Switch"},
    {"name": "seed", "type": "Dice"},  # a type not known: no type check
    {"name": "notes"},  # only a name: checked by name only
    {"name": "count", "options": [1, 2, 4]},
]
RUN = {"success": True, "result": {"images": ["https://m.example/a.png"]}, "cost": 2, "ms": 9}


def rules() -> Any:
    return read_rules(FIELDS, {"prompt": None})


@pytest.mark.parametrize(
    ("type_name", "kind"),
    [
        ("text", "text"),
        ("Textarea", "text"),
        ("TEXT_AREA", "text"),
        ("Number", "number"),
        ("Slider", "number"),
        ("numberInput", "number"),
        ("Integer", "integer"),
        ("Pills", "choice"),
        ("select", "choice"),
        ("Toggle", "toggle"),
        ("boolean", "toggle"),
        ("Upload", "upload"),
        ("Image Upload", "upload"),
        ("imageUrl", "upload"),
        ("image", "upload"),
        ("colour-wheel", None),
        ("", None),
        (None, None),
        (3, None),
    ],
)
def test_type_names_are_read_in_any_spelling(type_name: object, kind: str | None) -> None:
    assert kind_of(type_name) == kind


def test_a_field_is_read_tolerantly() -> None:
    rule = read_field(
        {"NAME": "x", "Min": "0.5", "max": "high", "required": "yes", "default": 2, "step": 0.5}
    )
    assert rule is not None
    assert (rule.name, rule.minimum, rule.maximum, rule.required, rule.default, rule.step) == (
        "x",
        0.5,
        None,
        True,
        2,
        0.5,
    )
    assert read_field({"type": "text"}) is None
    assert read_field("prompt") is None
    # Options in a shape not understood are not checked at all.
    odd = read_field({"name": "x", "options": [["a"], "b"]})
    assert odd is not None
    assert odd.options is None
    assert read_rules([*FIELDS, {"name": "prompt", "type": "number"}]).names == [
        f["name"] for f in FIELDS
    ]


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"prompt": "a fox", "aspect_ratio": "1:1", "steps": 50, "strength": 0.5, "hdr": False},
        {"seed": "anything", "notes": [1, 2], "count": 4, "steps": 3.0, "strength": None},
        {"aspect_ratio": ["16:9", "1:1"]},  # a multi-choice field takes a list of options
    ],
)
def test_inputs_the_rules_accept(inputs: dict[str, object]) -> None:
    assert input_error(SLUG, inputs, rules()) is None


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (
            {"promt": "x"},
            "no input field 'promt' (did you mean 'prompt'?); its fields are: 'prompt'",
        ),
        ({"Prompt": "x", "zz": 1}, "no input fields 'Prompt' (did you mean 'prompt'?), 'zz';"),
        ({"aspect_ratio": "4:3"}, "input 'aspect_ratio' must be one of '16:9', '1:1'; got '4:3'"),
        ({"count": True}, "input 'count' must be one of 1, 2, 4; got True"),
        ({"count": "2"}, "input 'count' must be one of 1, 2, 4; got '2'"),
        ({"steps": 0}, "input 'steps' must be from 1 to 50; got 0"),
        ({"steps": 2.5}, "input 'steps' must be a whole number; got 2.5"),
        ({"steps": True}, "input 'steps' must be a number; got True (bool)"),
        ({"strength": 1.5}, "input 'strength' must be at most 1; got 1.5"),
        ({"hdr": 1}, "input 'hdr' must be true or false; got 1 (int)"),
        ({"prompt": ["a"]}, "input 'prompt' must be a string; got ['a'] (list)"),
    ],
)
def test_each_mistake_is_named(inputs: dict[str, object], message: str) -> None:
    error = input_error(SLUG, inputs, rules())

    assert error is not None
    assert error.status_code is None
    assert error.code == "INVALID_INPUTS"
    assert message in error.message
    assert error.message.startswith(f"Workflow {SLUG!r}: ")


def test_every_mistake_is_named_at_once_and_a_batch_index_is_given() -> None:
    error = input_error(SLUG, {"hdr": "on", "steps": 99}, rules(), index=7)

    assert error is not None
    assert error.message.startswith(f"Workflow {SLUG!r}, inputs_list[7]: ")
    assert "'steps'" in error.message
    assert "'hdr'" in error.message


def test_missing_input_hint_names_lookalikes() -> None:
    message = "Missing required input: prompt"
    assert missing_input_hint(message, {"prmpt": "x"}) == (
        "did you mean 'prompt' instead of 'prmpt'?"
    )
    assert missing_input_hint(message, {"prmpt": 1, "Prompt": 2, "size": 3}) == (
        "did you mean 'prompt' instead of 'prmpt' or 'Prompt'?"
    )
    assert missing_input_hint(message, {"size": "x"}) is None
    assert missing_input_hint("Invalid input num_images", {"num_image": 1}) is None


class Server:
    """Answers the schema and run routes of ``thumbs`` and records every request."""

    def __init__(self, schema_status: int = 200, run_status: int = 200) -> None:
        self.requests: list[httpx.Request] = []
        self.schema_status = schema_status
        self.run_status = run_status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/schema"):
            if self.schema_status == 403:
                body = {"error": "Missing workflow:read", "code": "CAPABILITY_DENIED"}
                return json_response(403, {**body, "required": "workflow:read"})
            return json_response(200, {"name": "Thumbs", "fields": FIELDS, "values": {}})
        if self.run_status == 400:
            return json_response(400, {"error": "Invalid input", "code": "INVALID_INPUTS"})
        return json_response(200, RUN)

    def paths(self) -> list[str]:
        return [r.url.path.rsplit("/", 1)[1] for r in self.requests]


async def test_a_client_checks_with_the_cached_schema(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server, check_inputs=True)

    await resolve(client.workflows.run(SLUG, {"prompt": "a"}))
    with pytest.raises(knouds.InvalidInputsError, match="did you mean 'aspect_ratio'"):
        await resolve(client.workflows.submit(SLUG, {"aspect": "1:1"}))
    await resolve(client.with_options(max_retries=0).workflows.run(SLUG, {"hdr": True}))

    assert server.paths() == ["schema", "run", "run"]
    assert json.loads(server.requests[1].content) == {"inputs": {"prompt": "a"}}


async def test_the_check_is_off_by_default(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server)

    await resolve(client.workflows.run(SLUG, {"aspect": "1:1"}))
    await resolve(client.with_options(check_inputs=True).models.run("gpt-image-2", {"x": 1}))

    assert server.paths() == ["run", "run"]  # models publish no schema: never checked


async def test_a_refused_schema_warns_once_and_runs_unchecked(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server(schema_status=403)
    client = make_client(server, check_inputs=True)

    with caplog.at_level(logging.WARNING, logger="knouds"):
        await resolve(client.workflows.run(SLUG, {"aspect": "1:1"}))
        await resolve(client.with_options(timeout=5).workflows.run(SLUG, {"hdr": "x"}))

    assert server.paths() == ["schema", "run", "run"]
    (warning,) = [r for r in caplog.records if r.name == "knouds"]
    assert "CAPABILITY_DENIED" in warning.getMessage()
    assert "workflow:read" in warning.getMessage()


async def test_validate_still_fails_on_a_refused_schema(make_client: MakeClient) -> None:
    server = Server(schema_status=403)
    client = make_client(server)

    with pytest.raises(knouds.CapabilityDeniedError):
        await resolve(client.workflows.run(SLUG, {"prompt": "a"}, validate=True))
    assert server.paths() == ["schema"]


async def test_a_server_refusal_of_checked_inputs_drops_the_cached_schema(
    make_client: MakeClient,
) -> None:
    server = Server(run_status=400)
    client = make_client(server, check_inputs=True)

    for _ in range(2):
        with pytest.raises(knouds.InvalidInputsError) as info:
            await resolve(client.workflows.run(SLUG, {"prompt": "a"}))
        assert info.value.status_code == 400

    assert server.paths() == ["schema", "run", "schema", "run"]


async def test_an_unchecked_refusal_keeps_the_cached_schema(make_client: MakeClient) -> None:
    server = Server()
    client = make_client(server, check_inputs=True)
    await resolve(client.workflows.run(SLUG, {"prompt": "a"}))
    server.run_status = 400

    with pytest.raises(knouds.InvalidInputsError):
        await resolve(client.workflows.run(SLUG, {"prompt": "a"}, check_inputs=False))
    server.run_status = 200
    await resolve(client.workflows.run(SLUG, {"prompt": "a"}))

    assert server.paths() == ["schema", "run", "run", "run"]
