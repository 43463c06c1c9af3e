"""Workflow definitions, capability matching, tiers, roles and canvas models, as the newer docs
say (and the older-docs mode where the two generations disagree)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from knouds.testing import Emulator, ManualClock

NODES = [
    {
        "id": "in",
        "type": "requestInput",
        "position": {"x": 0, "y": 0},
        "data": {"fields": [{"name": "subject", "type": "text", "required": True}]},
    },
    {"id": "gen", "type": "videoGenerator", "position": {"x": 300, "y": 0}, "data": {"credits": 7}},
]
EDGES = [{"id": "e", "source": "in", "target": "gen", "sourceHandle": "a", "targetHandle": "b"}]


@pytest.fixture
def api(emu: Emulator) -> Iterator[httpx.Client]:
    """In-process: these tests are about answers, not sockets."""
    headers = {"x-api-key": emu.api_key}
    with httpx.Client(transport=emu.transport(), base_url="http://e.test", headers=headers) as c:
        yield c


def as_key(key: str) -> dict[str, str]:
    return {"x-api-key": key}


def test_list_shows_the_accounts_workflows_and_templates(api: httpx.Client, emu: Emulator) -> None:
    listing = api.get("/api/workflows")
    assert listing.status_code == 200
    by_slug = {w["slug"]: w for w in listing.json()}
    assert {"my-pipeline", "my-thumbnail-pipeline", "product-shot-template"} <= by_slug.keys()
    thumb = by_slug["my-thumbnail-pipeline"]
    assert thumb["estimatedCreditCost"] == 5
    assert thumb["folderId"] is None
    assert thumb["isTemplate"] is False
    assert thumb["createdBy"] == "usr_emulator"
    assert thumb["updatedAt"].endswith("Z")
    assert by_slug["product-shot-template"]["isTemplate"] is True
    stranger = emu.create_key(user="usr_other")
    theirs = [w["slug"] for w in api.get("/api/workflows", headers=as_key(stranger)).json()]
    assert theirs == ["product-shot-template"]


def test_slug_rules(api: httpx.Client) -> None:
    slugs = [api.post("/api/workflows", json={"name": "My Flow!"}).json()["slug"] for _ in "abc"]
    assert slugs == ["my-flow", "my-flow-2", "my-flow-3"]
    blank = api.post("/api/workflows", json={"name": "  "})
    assert blank.status_code == 201
    assert blank.json()["name"] == "Untitled workflow"
    assert blank.json()["slug"] == "untitled-workflow"
    assert api.post("/api/workflows", json={}).json()["slug"] == "untitled-workflow-2"


def test_create_get_round_trip_update_delete(api: httpx.Client) -> None:
    body = {
        "name": "Clip maker",
        "description": "d",
        "tags": ["x"],
        "nodes": NODES,
        "edges": EDGES,
        "viewport": {"x": 1, "y": 2, "zoom": 0.5},
        "publicPlayground": True,
        "somethingNew": {"kept": True},
    }
    created = api.post("/api/workflows", json=body)
    assert created.status_code == 201
    fetched = api.get("/api/workflows/clip-maker").json()
    assert fetched == created.json()
    assert fetched == {**body, "slug": "clip-maker"}
    # The read is the shape POST accepts: posting it back makes a copy.
    assert api.post("/api/workflows", json=fetched).json()["slug"] == "clip-maker-2"
    # Its schema, cost and kind come from its nodes; it is a public playground.
    public = api.get("/api/workflows/clip-maker/public-schema", headers={"x-api-key": ""})
    assert [f["name"] for f in public.json()["fields"]] == ["subject"]
    run = api.post("/api/workflows/clip-maker/run", json={"inputs": {"subject": "a cat"}}).json()
    assert run["cost"] == 7
    assert "videos" in run["result"]
    renamed = api.put("/api/workflows/clip-maker", json={"name": "Renamed", "slug": "other"})
    assert renamed.status_code == 200
    assert renamed.json()["slug"] == "clip-maker"
    assert renamed.json()["name"] == "Renamed"
    assert renamed.json()["nodes"] == NODES
    deleted = api.delete("/api/workflows/clip-maker")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "slug": "clip-maker"}
    assert api.get("/api/workflows/clip-maker").json() == {"error": "Workflow not found"}
    assert api.delete("/api/workflows/clip-maker").status_code == 404


def test_writes_need_ownership_with_no_admin_override(api: httpx.Client, emu: Emulator) -> None:
    template = api.put("/api/workflows/product-shot-template", json={"name": "mine now"})
    assert template.status_code == 403
    assert "code" not in template.json()
    assert api.get("/api/workflows/product-shot-template").status_code == 200
    run = api.post("/api/workflows/product-shot-template/run", json={"inputs": {"prompt": "p"}})
    assert run.status_code == 200
    admin = emu.create_key(user="usr_other", role="admin")
    assert api.delete("/api/workflows/my-pipeline", headers=as_key(admin)).status_code == 404
    assert api.get("/api/workflows/my-pipeline/schema", headers=as_key(admin)).status_code == 404
    ran = api.post(
        "/api/workflows/my-pipeline/run", json={"inputs": {"prompt": "p"}}, headers=as_key(admin)
    )
    assert ran.json() == {"error": "Workflow not found"}
    assert emu.workflow("my-pipeline")["createdBy"] == "usr_emulator"


def test_permissions_of_both_key_generations(api: httpx.Client, emu: Emulator) -> None:
    reader = as_key(emu.create_key(capabilities={"workflow:read"}))
    assert api.get("/api/workflows", headers=reader).status_code == 200
    denied = api.post("/api/workflows", json={"name": "x"}, headers=reader)
    assert denied.status_code == 403
    assert denied.json() == {
        "error": "This API key lacks the workflow:write capability.",
        "code": "CAPABILITY_DENIED",
        "required": "workflow:write",
    }
    deployment = as_key(emu.create_key(scope="deployment"))
    assert api.get("/api/workflows/my-pipeline", headers=deployment).status_code == 200
    scoped = api.delete("/api/workflows/my-pipeline", headers=deployment).json()
    assert (scoped["code"], scoped["required"], scoped["actual"]) == (
        "SCOPE_DENIED",
        "admin",
        "deployment",
    )
    admin_scope = as_key(emu.create_key(scope="admin"))
    assert api.post("/api/workflows", json={"name": "x"}, headers=admin_scope).status_code == 201


@pytest.mark.parametrize(
    ("request_args", "code"),
    [
        (("POST", "/api/workflows", b"[1]"), "INVALID_BODY"),
        (("POST", "/api/workflows", b'{"nodes": {"a": 1}}'), "INVALID_BODY"),
        (("POST", "/api/workflows", b'{"tags": [1]}'), "INVALID_BODY"),
        (("PUT", "/api/workflows/my-pipeline", b"nope"), "INVALID_BODY"),
        (("GET", "/api/workflows/Bad_Slug", b""), "INVALID_SLUG"),
    ],
)
def test_bad_requests(api: httpx.Client, request_args: tuple[str, str, bytes], code: str) -> None:
    method, path, content = request_args
    response = api.request(method, path, content=content)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_unsupported_method_on_definitions(api: httpx.Client) -> None:
    assert api.patch("/api/workflows/my-pipeline").status_code == 405
    assert api.delete("/api/workflows").status_code == 405


@pytest.mark.parametrize(
    ("capabilities", "allowed"),
    [
        ({"model:*"}, True),
        ({"model:run"}, True),
        ({"model:gpt-image-2:run"}, True),
        ({"model:gpt-image-2:*"}, True),
        ({"model:suno-v5:run"}, False),
        ({"workflow:*"}, False),
        ({"*"}, False),  # "*" works for the admin role only
    ],
)
def test_capability_matching(
    api: httpx.Client, emu: Emulator, capabilities: set[str], allowed: bool
) -> None:
    key = as_key(emu.create_key(capabilities=capabilities))
    response = api.post(
        "/api/models/gpt-image-2/run", json={"inputs": {"prompt": "x"}}, headers=key
    )
    assert response.status_code == (200 if allowed else 403)


def test_wildcards_for_workflows_and_the_admin_star(api: httpx.Client, emu: Emulator) -> None:
    one_flow = as_key(emu.create_key(capabilities={"workflow:my-pipeline:*"}))
    inputs = {"inputs": {"prompt": "x"}}
    assert api.post("/api/workflows/my-pipeline/run", json=inputs, headers=one_flow).is_success
    assert api.get("/api/workflows/my-pipeline/schema", headers=one_flow).is_success
    other = api.post("/api/workflows/my-thumbnail-pipeline/run", json=inputs, headers=one_flow)
    assert other.json()["required"] == "workflow:run"
    everything = as_key(emu.create_key(capabilities={"*"}, role="admin"))
    assert api.post("/api/models/gpt-image-2/run", json=inputs, headers=everything).is_success


def test_capabilities_above_the_tier_have_no_effect(api: httpx.Client, emu: Emulator) -> None:
    pro = as_key(emu.create_key(tier="pro", capabilities={"model:run", "workflow:run"}))
    inputs = {"inputs": {"prompt": "x"}}
    model = api.post("/api/models/gpt-image-2/run", json=inputs, headers=pro)
    assert model.json()["code"] == "CAPABILITY_DENIED"
    assert api.post("/api/workflows/my-pipeline/run", json=inputs, headers=pro).is_success
    default_pro = as_key(emu.create_key(tier="pro"))
    assert api.get("/api/workflows", headers=default_pro).is_success
    assert api.post(
        "/api/models/gpt-image-2/run", json=inputs, headers=default_pro
    ).status_code == (403)


def test_default_key_is_a_business_user(api: httpx.Client) -> None:
    user = api.get("/api/whoami").json()["user"]
    assert (user["role"], user["tier"]) == ("user", "business")


def test_admin_role_bypasses_rate_limits(clock: ManualClock) -> None:
    with Emulator(clock=clock, rate_limit=1) as emu:
        admin = emu.create_key(role="admin")
        with httpx.Client(base_url=emu.base_url, headers=as_key(admin)) as http:
            answers = [http.get("/api/whoami") for _ in range(3)]
            assert [a.status_code for a in answers] == [200, 200, 200]
            assert "x-ratelimit-limit" not in answers[0].headers
            user = http.get("/api/whoami", headers=as_key(emu.api_key))
            assert user.headers["x-ratelimit-limit"] == "1"


def test_legacy_key_message_is_the_documented_one(api: httpx.Client, emu: Emulator) -> None:
    response = api.get("/api/whoami", headers=as_key(emu.create_key(legacy=True)))
    assert response.status_code == 401
    assert response.json() == {
        "error": "API key retired by Phase 11 migration. Regenerate at https://knouds.ai/app/api/keys",
        "code": "LEGACY_KEY_RETIRED",
    }


@pytest.mark.parametrize("name", ["nano-banana-2", "kling-v3-i2v", "seedream-v5", "claude-sonnet"])
def test_canvas_models_run_sync_only(api: httpx.Client, name: str) -> None:
    inputs = {"inputs": {"prompt": "x"}}
    assert api.post(f"/api/models/{name}/run", json=inputs).status_code == 200
    submitted = api.post(f"/api/models/{name}/run", json=inputs, params={"async": "true"})
    assert submitted.status_code == 400
    assert submitted.json()["code"] == "ASYNC_NOT_SUPPORTED"


def test_older_docs_mode_keeps_canvas_models_off_the_model_endpoint(clock: ManualClock) -> None:
    emu = Emulator(clock=clock, older_docs=True)
    with httpx.Client(transport=emu.transport(), base_url="http://e.test") as http:
        response = http.post(
            "/api/models/nano-banana-2/run",
            json={"inputs": {"prompt": "x"}},
            headers=as_key(emu.api_key),
        )
    assert response.status_code == 404
    assert response.json()["code"] == "MODEL_NOT_FOUND"
