"""Workflows and whoami end to end: both clients against the emulator over real sockets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

SLUG = "my-thumbnail-pipeline"
MakeClient = Callable[..., Any]


def runs_sent(emulator: Emulator) -> list[str]:
    return [e.path for e in emulator.log if e.method == "POST" and e.path.endswith("/run")]


async def test_run_a_workflow(emu: Emulator, client: Any) -> None:
    result = await resolve(client.workflows.run(SLUG, {"prompt": "a red fox"}))

    assert result.cost == 5
    assert len(result.images) == 1
    assert result.images[0].url.startswith(emu.base_url)
    assert emu.run_count(SLUG) == 1


async def test_submit_and_wait_for_a_workflow(client: Any) -> None:
    execution = await resolve(client.workflows.submit(SLUG, {"prompt": "a red fox"}))
    result = await resolve(client.executions.wait(execution, poll_interval=0.01, timeout=10))

    assert len(result.images) == 1


async def test_schema_and_public_schema(client: Any) -> None:
    schema = await resolve(client.workflows.schema(SLUG))
    assert schema.field_names == [
        "prompt",
        "style",
        "aspect_ratio",
        "negative_prompt",
        "num_images",
        "creativity",
        "add_title",
        "reference_image",
    ]
    assert schema.name == "My thumbnail pipeline"
    assert schema.estimated_credit_cost == 5
    assert schema.values["style"] == "photo"

    public = await resolve(client.workflows.public_schema("playground-demo"))
    assert public.field_names == ["prompt"]
    same = await resolve(client.workflows.schema("playground-demo", public=True))
    assert same.field_names == public.field_names

    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(client.workflows.public_schema(SLUG))  # not a public playground


async def test_unknown_workflow(client: Any) -> None:
    with pytest.raises(knouds.WorkflowNotFoundError) as info:
        await resolve(client.workflows.run("no-such-workflow", {"prompt": "x"}))
    assert info.value.status_code == 404


@pytest.mark.parametrize("method", ["run", "submit"])
async def test_validate_refuses_an_unknown_field_without_running(
    emu: Emulator, client: Any, method: str
) -> None:
    with pytest.raises(knouds.InvalidInputsError) as info:
        await resolve(
            getattr(client.workflows, method)(
                SLUG, {"prompt": "a fox", "colour": "red"}, validate=True
            )
        )

    assert info.value.status_code is None
    assert info.value.code == "INVALID_INPUTS"
    assert "'colour'" in str(info.value)
    assert "'style'" in str(info.value)
    assert runs_sent(emu) == []
    assert emu.run_count(SLUG) == 0
    assert [e.path for e in emu.log] == [f"/api/workflows/{SLUG}/schema"]


async def test_validate_lets_a_good_run_through(emu: Emulator, client: Any) -> None:
    result = await resolve(
        client.workflows.run(SLUG, {"prompt": "a fox", "style": "3d"}, validate=True)
    )

    assert len(result.images) == 1
    assert emu.run_count(SLUG) == 1


async def test_whoami(client: Any) -> None:
    identity = await resolve(client.whoami())

    assert isinstance(identity, knouds.Identity)
    assert identity.email == "dev@emulator.local"
    assert identity.tier == "business"
    assert identity.role in ("user", "admin")
    assert identity.approved is True
    assert identity.id
