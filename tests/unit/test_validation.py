"""Arguments checked before anything is sent."""

from __future__ import annotations

import datetime
import json
import math
import types
from typing import Any

import httpx
import pytest

import knouds
from tests.conftest import resolve


def never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"nothing should be sent, got {request.method} {request.url}")


@pytest.mark.parametrize(
    "name",
    ["GPT-image", "gpt_image", "a/b", "../x", "", "-lead", "trail-", "dou--ble", "sp ace", 3, None],
)
async def test_bad_model_names_raise_invalid_slug_without_sending(
    make_client: Any, name: Any
) -> None:
    client = make_client(never)
    with pytest.raises(knouds.InvalidSlugError) as info:
        await resolve(client.models.run(name, {"prompt": "x"}))
    assert info.value.status_code is None
    assert info.value.code == "INVALID_SLUG"
    assert repr(name) in str(info.value)


async def test_bad_workflow_slug_raises_invalid_slug(make_client: Any) -> None:
    client = make_client(never)
    with pytest.raises(knouds.InvalidSlugError):
        await resolve(client.workflows.run("My Flow", {}))


@pytest.mark.parametrize("inputs", [None, ["prompt"], "prompt=x", 5, ("a", "b")])
async def test_inputs_that_are_not_mappings(make_client: Any, inputs: Any) -> None:
    client = make_client(never)
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.models.run("gpt-image-2", inputs))
    assert info.value.status_code is None
    assert type(inputs).__name__ in str(info.value)


@pytest.mark.parametrize(
    ("inputs", "where"),
    [
        ({"when": datetime.date(2026, 1, 1)}, "inputs['when']"),
        ({"nested": {"deep": [1, {1, 2}]}}, "inputs['nested']['deep'][1]"),
        ({"x": math.nan}, "inputs['x']"),
        ({"x": math.inf}, "inputs['x']"),
        ({"x": b"bytes"}, "inputs['x']"),
        ({1: "int key"}, "inputs key 1"),
    ],
)
async def test_unserialisable_values_are_named(make_client: Any, inputs: Any, where: str) -> None:
    client = make_client(never)
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.models.run("gpt-image-2", inputs))
    assert where in str(info.value)
    assert "JSON" in str(info.value)


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "", "x" * 200, "id with space", 7])
async def test_bad_execution_ids_are_refused_before_sending(make_client: Any, bad_id: Any) -> None:
    client = make_client(never)
    with pytest.raises(knouds.ExecutionNotFoundError) as info:
        await resolve(client.executions.get(bad_id))
    assert info.value.status_code is None


async def test_valid_inputs_of_every_json_type_are_sent(make_client: Any) -> None:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return httpx.Response(200, json={"success": True, "result": None})

    client = make_client(handler)
    inputs = {
        "s": "é",
        "i": 1,
        "f": 1.5,
        "b": True,
        "n": None,
        "l": [1, "a"],
        "t": (1, 2),
        "d": {"k": "v"},
    }
    await resolve(client.models.run("gpt-image-2", inputs))
    assert sent[0].decode() == (
        '{"inputs": {"s": "é", "i": 1, "f": 1.5, "b": true, "n": null, "l": [1, "a"], '
        '"t": [1, 2], "d": {"k": "v"}}}'
    )


async def test_nested_mappings_that_are_not_dicts_are_sent(make_client: Any) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"success": True, "result": {"text": "ok"}, "cost": 1})

    client = make_client(handler)
    inputs = {"prompt": "x", "style": types.MappingProxyType({"tone": "calm", "n": [1, 2]})}
    await resolve(client.models.run("gpt-5-mini", inputs))

    assert json.loads(seen[0].content) == {
        "inputs": {"prompt": "x", "style": {"tone": "calm", "n": [1, 2]}}
    }
