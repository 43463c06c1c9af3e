"""Arguments checked before anything is sent."""

from __future__ import annotations

import datetime
import json
import math
import types
from collections.abc import Iterator, Mapping
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


class _Shifting(Mapping[str, object]):
    """A mapping that reads ``first`` when checked and ``later`` from then on, as one another
    thread changes between the checks and the sending would."""

    def __init__(self, first: object, later: object) -> None:
        self.reads = 0
        self.first, self.later = first, later

    def __getitem__(self, key: str) -> object:
        if key != "v":
            raise KeyError(key)
        self.reads += 1
        return self.first if self.reads == 1 else self.later

    def __iter__(self) -> Iterator[str]:
        return iter(["v"])

    def __len__(self) -> int:
        return 1


CHANGES = pytest.mark.parametrize(
    ("later", "said"),
    [
        (object(), "object is not JSON-serialisable"),
        (math.nan, "Out of range float values are not JSON compliant"),
    ],
    ids=["to an object", "to nan"],
)


@CHANGES
async def test_inputs_that_change_after_the_checks_are_refused_never_sent_as_bad_json(
    make_client: Any, later: object, said: str
) -> None:
    client = make_client(never)
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.models.run("gpt-5-mini", {"style": _Shifting(1.5, later)}))
    assert info.value.message.startswith("inputs is dict {'style': ")
    assert f"which JSON cannot carry: {said}" in info.value.message
    assert "(a value changed after it was checked)" in info.value.message


@CHANGES
async def test_a_definition_that_changes_after_the_checks_is_refused_never_sent_as_bad_json(
    make_client: Any, later: object, said: str
) -> None:
    client = make_client(never)
    node = {"id": "n1", "data": _Shifting(1.5, later)}
    with pytest.raises(knouds.InvalidBodyError) as info:
        await resolve(client.workflows.create(name="Flow", nodes=[node]))
    assert info.value.message.startswith("workflow is dict {'name': 'Flow', ")
    assert f"which JSON cannot carry: {said}" in info.value.message
    assert "(a value changed after it was checked)" in info.value.message
