"""Workflow definitions end to end: list, get, create, update, delete on both clients, with keys
of both generations, against the emulator over real sockets; and keyless public schemas."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import knouds
from knouds.testing import Emulator
from tests.conftest import resolve

Connect = Callable[..., Any]
NODES = [
    {
        "id": "in",
        "type": "requestInput",
        "position": {"x": 0, "y": 0},
        "data": {"fields": [{"name": "prompt", "type": "text", "required": True}]},
    },
    {"id": "gen", "type": "imageGenerator", "position": {"x": 300, "y": 0}, "data": {}},
]
EDGES = [{"id": "e", "source": "in", "target": "gen", "sourceHandle": "p", "targetHandle": "p"}]


def keys_of_both_generations(emu: Emulator) -> dict[str, str]:
    return {
        "capabilities": emu.create_key(capabilities={"workflow:read", "workflow:write"}),
        "admin scope": emu.create_key(scope="admin"),
    }


@pytest.mark.parametrize("generation", ["capabilities", "admin scope"])
async def test_create_get_update_delete(emu: Emulator, connect: Connect, generation: str) -> None:
    client = connect(emu, keys_of_both_generations(emu)[generation])

    created = await resolve(
        client.workflows.create(name="My flow", tags=["a"], nodes=NODES, edges=EDGES)
    )
    assert isinstance(created, knouds.Workflow)
    assert created.slug == "my-flow"
    assert created.nodes == NODES

    fetched = await resolve(client.workflows.get("my-flow"))
    assert fetched.to_body() == created.to_body()
    copy = await resolve(client.workflows.create(**fetched))  # a workflow unpacks into create
    assert copy.slug == "my-flow-2"
    assert copy.edges == EDGES

    updated = await resolve(client.workflows.update("my-flow", name="Renamed"))
    assert (updated.slug, updated.name, updated.nodes) == ("my-flow", "Renamed", NODES)

    listed = await resolve(client.workflows.list())
    assert all(isinstance(w, knouds.WorkflowSummary) for w in listed)
    summary = {w.slug: w for w in listed}["my-flow"]
    assert summary.name == "Renamed"
    assert summary.estimated_credit_cost == 1
    assert summary.created_by == "usr_emulator"

    assert await resolve(client.workflows.delete("my-flow")) is None
    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(client.workflows.get("my-flow"))
    creates = [e for e in emu.log if e.method == "POST" and e.path == "/api/workflows"]
    assert [e.status for e in creates] == [201, 201]


async def test_seeded_docs_workflows_and_templates(emu: Emulator, client: Any) -> None:
    listed = {w.slug: w for w in await resolve(client.workflows.list())}
    assert {"my-pipeline", "my-thumbnail-pipeline"} <= listed.keys()
    assert listed["product-shot-template"].is_template is True
    assert listed["my-pipeline"].updated_at is not None
    workflow = await resolve(client.workflows.get("my-thumbnail-pipeline"))
    assert workflow.nodes[0]["type"] == "requestInput"
    assert workflow.viewport == {"x": 0, "y": 0, "zoom": 1}


async def test_refusals_map_to_the_error_classes(emu: Emulator, connect: Connect) -> None:
    owner = connect(emu)
    with pytest.raises(knouds.PermissionDeniedError) as not_owner:
        await resolve(owner.workflows.update("product-shot-template", name="mine"))
    assert not_owner.value.status_code == 403

    reader = connect(emu, emu.create_key(capabilities={"workflow:read"}))
    with pytest.raises(knouds.CapabilityDeniedError) as capability:
        await resolve(reader.workflows.create(name="x"))
    assert capability.value.required == "workflow:write"

    deployment = connect(emu, emu.create_key(scope="deployment"))
    assert await resolve(deployment.workflows.get("my-pipeline"))
    with pytest.raises(knouds.ScopeDeniedError):
        await resolve(deployment.workflows.delete("my-pipeline"))

    stranger = connect(emu, emu.create_key(user="usr_other"))
    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(stranger.workflows.delete("my-pipeline"))
    assert emu.workflow("my-pipeline")["slug"] == "my-pipeline"


async def test_a_client_without_a_key(
    emu: Emulator, make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNOUDS_API_KEY", raising=False)
    client = make_client(None, api_key=None, base_url=emu.base_url)

    schema = await resolve(client.workflows.public_schema("playground-demo"))
    assert schema.field_names == ["prompt"]
    with pytest.raises(knouds.ConfigurationError, match="KNOUDS_API_KEY"):
        await resolve(client.workflows.list())
    assert [e.path for e in emu.log] == ["/api/workflows/playground-demo/public-schema"]
    assert emu.log[0].key_id is None


async def test_keys_of_one_account_share_its_budget_and_its_workflows(
    emu: Emulator, connect: Connect
) -> None:
    first = connect(emu, emu.create_key(account="acme", rate_limit=10))
    second = connect(emu, emu.create_key(account="acme", rate_limit=10))
    outsider = connect(emu, emu.create_key(rate_limit=10))

    created = await resolve(first.workflows.create(name="Shared flow", nodes=NODES, edges=EDGES))
    await resolve(first.workflows.run(created.slug, {"prompt": "x"}))
    seen = await resolve(second.workflows.run(created.slug, {"prompt": "y"}))
    assert seen.rate_limit is not None
    assert seen.rate_limit.remaining == 8  # the first key's run counted against the same budget
    assert (await resolve(second.workflows.get(created.slug))).slug == created.slug
    assert (await resolve(second.whoami())).id == "acme"

    with pytest.raises(knouds.WorkflowNotFoundError):
        await resolve(outsider.workflows.run(created.slug, {"prompt": "z"}))
