"""``check_inputs`` end to end: both clients against the emulator, whose schema has a field of
every kind and which refuses the same value mistakes the client-side check catches."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

SLUG = "my-thumbnail-pipeline"
SCHEMA_PATH = f"/api/workflows/{SLUG}/schema"
MakeClient = Callable[..., Any]

# (inputs, what the client's message says): one of each kind of mistake.
MISTAKES = {
    "unknown field": (
        {"prompt": "a fox", "aspect_ration": "1:1"},
        "no input field 'aspect_ration' (did you mean 'aspect_ratio'?)",
    ),
    "not an option": (
        {"prompt": "a fox", "aspect_ratio": "4:3"},
        "input 'aspect_ratio' must be one of '16:9', '9:16', '1:1'; got '4:3'",
    ),
    "select option": (
        {"prompt": "a fox", "style": "3D"},
        "input 'style' must be one of 'photo', 'illustration', '3d'; got '3D' (did you mean '3d'?)",
    ),
    "above max": ({"prompt": "a fox", "num_images": 5}, "input 'num_images' must be from 1 to 4"),
    "below min": (
        {"prompt": "a fox", "creativity": -0.5},
        "input 'creativity' must be from 0 to 1",
    ),
    "number type": (
        {"prompt": "a fox", "num_images": "two"},
        "input 'num_images' must be a number; got 'two' (str)",
    ),
    "toggle type": (
        {"prompt": "a fox", "add_title": "yes"},
        "input 'add_title' must be true or false; got 'yes' (str)",
    ),
    "text type": ({"prompt": 42}, "input 'prompt' must be a string; got 42 (int)"),
    "textarea type": (
        {"prompt": "a fox", "negative_prompt": ["blur"]},
        "input 'negative_prompt' must be a string",
    ),
    "upload type": (
        {"prompt": "a fox", "reference_image": {"url": "https://x.test/a.png"}},
        "input 'reference_image' must be an HTTPS URL (a string)",
    ),
}
VALID = {
    "prompt": "a lighthouse",
    "style": "3d",
    "aspect_ratio": "9:16",
    "negative_prompt": "blur",
    "num_images": 4,
    "creativity": 0.25,
    "add_title": True,
    "reference_image": "https://cdn.example.test/ref.png",
}


def runs_sent(emulator: Emulator) -> list[str]:
    return [e.path for e in emulator.log if e.method == "POST"]


def schema_reads(emulator: Emulator) -> int:
    return sum(e.path == SCHEMA_PATH for e in emulator.log)


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
async def test_each_mistake_is_refused_before_sending(
    emu: Emulator, connect: MakeClient, mistake: str
) -> None:
    inputs, message = MISTAKES[mistake]
    client = connect(emu, check_inputs=True)
    before = emu.balance(emu.api_key)

    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.workflows.run(SLUG, inputs))

    assert info.value.status_code is None
    assert info.value.code == "INVALID_INPUTS"
    assert message in str(info.value)
    assert f"Workflow {SLUG!r}" in str(info.value)
    assert runs_sent(emu) == []
    assert [e.path for e in emu.log] == [SCHEMA_PATH]
    assert emu.balance(emu.api_key) == before


@pytest.mark.parametrize("mistake", sorted(set(MISTAKES) - {"unknown field"}))
async def test_the_emulator_refuses_the_same_value_mistakes(
    emu: Emulator, client: Any, mistake: str
) -> None:
    inputs, _ = MISTAKES[mistake]

    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.workflows.run(SLUG, inputs))  # no check: the server refuses

    assert info.value.status_code == 400
    assert emu.run_count(SLUG) == 0


async def test_the_emulator_ignores_an_unknown_field_as_knouds_does(
    emu: Emulator, client: Any
) -> None:
    inputs, _ = MISTAKES["unknown field"]

    await resolve(client.workflows.run(SLUG, inputs))  # runs, and is charged: why to check

    assert emu.run_count(SLUG) == 1


@pytest.mark.parametrize("method", ["run", "submit"])
async def test_valid_inputs_are_checked_then_run(
    emu: Emulator, connect: MakeClient, method: str
) -> None:
    client = connect(emu, check_inputs=True)

    await resolve(getattr(client.workflows, method)(SLUG, VALID))
    await resolve(getattr(client.workflows, method)(SLUG, {"prompt": "only the prompt"}))

    assert emu.run_count(SLUG) == 2
    assert schema_reads(emu) == 1


async def test_per_call_setting_wins_over_the_client(emu: Emulator, connect: MakeClient) -> None:
    checking = connect(emu, check_inputs=True)
    plain = connect(emu)
    bad, _ = MISTAKES["not an option"]

    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(plain.workflows.run(SLUG, bad, check_inputs=True))
    assert info.value.status_code is None
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(checking.workflows.run(SLUG, bad, check_inputs=False))
    assert info.value.status_code == 400  # sent: the server refused it


async def test_the_schema_is_read_once_per_slug_across_copies(
    emu: Emulator, connect: MakeClient
) -> None:
    client = connect(emu, check_inputs=True)
    copy = client.with_options(timeout=30)
    unchecked_copy = client.with_options(check_inputs=False)

    await resolve(client.workflows.run(SLUG, {"prompt": "one"}))
    await resolve(copy.workflows.run(SLUG, {"prompt": "two"}))
    await resolve(copy.workflows.submit(SLUG, {"prompt": "three"}))
    await resolve(copy.workflows.run_many(SLUG, [{"prompt": "four"}, {"prompt": "five"}]))
    await resolve(unchecked_copy.workflows.run(SLUG, {"prompt": "six"}))
    await resolve(client.workflows.run("my-pipeline", {"prompt": "seven"}))

    assert schema_reads(emu) == 1
    assert sum(e.path == "/api/workflows/my-pipeline/schema" for e in emu.log) == 1
    assert emu.run_count(SLUG) == 6

    other_key = client.with_options(api_key=emu.create_key())  # another key: its own cache
    await resolve(other_key.workflows.run(SLUG, {"prompt": "eight"}))
    assert schema_reads(emu) == 2


async def test_a_schema_the_key_may_not_read_turns_the_check_off_with_one_warning(
    emu: Emulator, connect: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    run_only = emu.create_key(capabilities={f"workflow:{SLUG}:run"})
    client = connect(emu, api_key=run_only, check_inputs=True)

    with caplog.at_level(logging.WARNING, logger="knouds"):
        await resolve(client.workflows.run(SLUG, {"prompt": "a fox"}))
        await resolve(client.workflows.run(SLUG, {"prompt": "a fox", "colour": "red"}))
        results = await resolve(client.workflows.run_many(SLUG, [{"prompt": "x"}] * 2))

    assert all(isinstance(r, knouds.RunResult) for r in results)
    assert emu.run_count(SLUG) == 4
    assert schema_reads(emu) == 1
    warnings = [r for r in caplog.records if r.name == "knouds" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert SLUG in warnings[0].getMessage()
    assert "unchecked" in warnings[0].getMessage()


async def test_a_batch_sends_none_of_the_bad_inputs_and_names_their_index(
    emu: Emulator, connect: MakeClient
) -> None:
    client = connect(emu, check_inputs=True)
    inputs = [
        {"prompt": "good one"},
        {"prompt": "bad one", "num_images": 9},
        {"prompt": "good two", "style": "illustration"},
        {"prompt": "bad two", "stlye": "3d"},
    ]
    seen: list[object] = []

    results = await resolve(
        client.workflows.run_many(
            SLUG, inputs, max_credits=10, progress=lambda done, total, outcome: seen.append(outcome)
        )
    )

    assert isinstance(results[0], knouds.RunResult)
    assert isinstance(results[2], knouds.RunResult)
    for index in (1, 3):
        error = results[index]
        assert isinstance(error, knouds.InvalidInputsError)
        assert error.status_code is None
        assert f"inputs_list[{index}]" in str(error)
    assert "input 'num_images' must be from 1 to 4" in str(results[1])
    assert "'stlye' (did you mean 'style'?)" in str(results[3])
    prompts = sorted(e.body["inputs"]["prompt"] for e in emu.log if e.method == "POST")  # type: ignore[index]
    assert prompts == ["good one", "good two"]
    assert results.usage.credits == 10  # two runs of 5: within max_credits, as only two run
    assert len(seen) == 4


async def test_a_batch_that_stops_at_the_first_error_sends_nothing(
    emu: Emulator, connect: MakeClient
) -> None:
    client = connect(emu, check_inputs=True)
    inputs = [{"prompt": "good"}, {"prompt": "bad", "aspect_ratio": "2:1"}]

    with pytest.raises(knouds.InvalidInputsError, match=r"inputs_list\[1\]"):
        await resolve(client.workflows.run_many(SLUG, inputs, return_exceptions=False))

    assert runs_sent(emu) == []


async def test_the_cache_is_refreshed_when_the_server_refuses_checked_inputs(
    emu: Emulator, connect: MakeClient
) -> None:
    emu.add_workflow("resizer", fields=[{"name": "size", "type": "number", "min": 1, "max": 8}])
    client = connect(emu, check_inputs=True)
    await resolve(client.workflows.run("resizer", {"size": 8}))  # reads and caches the schema
    emu.add_workflow("resizer", fields=[{"name": "size", "type": "number", "min": 1, "max": 4}])

    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.workflows.run("resizer", {"size": 8}))  # the stale schema lets it by
    assert info.value.status_code == 400
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(client.workflows.run("resizer", {"size": 8}))  # read again: refused here
    assert info.value.status_code is None
    assert "must be from 1 to 4" in str(info.value)
    reads = [e for e in emu.log if e.path == "/api/workflows/resizer/schema"]
    assert len(reads) == 2
    assert len([e for e in emu.log if e.path == "/api/workflows/resizer/run"]) == 2


async def test_validate_checks_values_too_against_a_fresh_schema(
    emu: Emulator, client: Any
) -> None:
    inputs, message = MISTAKES["above max"]

    for _ in range(2):
        with pytest.raises(knouds.InvalidInputsError, match=message):
            await resolve(client.workflows.run(SLUG, inputs, validate=True))

    assert schema_reads(emu) == 2  # validate reads the schema on every call
    assert runs_sent(emu) == []
